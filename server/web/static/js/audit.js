// The signed-in officer's own audit trail: every query (with what it returned) and every refusal.
"use strict";
SC.ready(async function () {
  const entries = await SC.api("/audit/mine" + SC.query({ limit: 500 }));
  const columns = [
    { label: SC.t("col.time"), value: (e) => SC.fmtTime(e.ts) },
    { label: SC.t("audit.action"), value: (e) => SC.label("audit_action", e.action) },
    { label: SC.t("audit.case"), value: (e) => e.detail.case_number },
    { label: SC.t("search.kind"), value: (e) => (e.detail.kind ? SC.label("record", e.detail.kind) : null) },
    { label: SC.t("audit.returned"), value: (e) => (e.detail.returned === undefined ? null : String(e.detail.returned)) },
    { label: SC.t("audit.refused"), value: (e) => e.detail.refused },
    { label: SC.t("audit.subject"), value: (e) => e.subject },
  ];
  SC.fill("audit-list", SC.table(columns, entries, { empty: SC.t("audit.none"), rowProps: (e) => ({ dataset: { action: e.action } }) }));
});
