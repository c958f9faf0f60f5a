// The retention compliance report: each data class against its limit, last run, edges, cameras, audit chain.
"use strict";
SC.ready(async function () {
  const report = await SC.api("/privacy/report");
  const verdict = document.getElementById("compliance-verdict");
  verdict.textContent = SC.t(report.compliant ? "compliance.ok" : "compliance.attention", { when: SC.fmtTime(report.generated_at) });
  verdict.dataset.state = report.compliant ? "connected" : "disconnected";
  const yes = (ok) => SC.el("span", { class: ok ? "sc-ok" : "sc-bad", text: SC.t(ok ? "compliance.within" : "compliance.over") });
  SC.fill(
    "compliance-classes",
    SC.table(
      [
        { label: SC.t("compliance.class"), value: (c) => SC.label("data_class", c.class) },
        { label: SC.t("compliance.limit"), value: (c) => String(c.limit_days), class: "sc-num" },
        { label: SC.t("compliance.bounds"), value: (c) => `${c.floor_days ?? "—"} – ${c.ceiling_days ?? "—"}` },
        { label: SC.t("compliance.oldest"), value: (c) => ("overdue" in c ? SC.t("compliance.templates", { held: c.held, overdue: c.overdue }) : c.oldest_age_days === null ? null : String(c.oldest_age_days)) },
        { label: SC.t("col.state"), value: (c) => yes(c.within_limit) },
      ],
      report.classes
    )
  );
  const run = report.last_run;
  SC.fill(
    "compliance-run",
    run
      ? SC.el("p", { text: SC.t("compliance.run", { when: SC.fmtTime(run.started_at), deleted: Object.entries(run.deleted).map(([k, v]) => `${SC.label("data_class", k)} ${v}`).join(", ") || "0", error: run.error || "—" }) })
      : SC.el("p", { text: SC.t("compliance.never") })
  );
  SC.fill(
    "compliance-edges",
    SC.table(
      [
        { label: SC.t("col.device"), value: (e) => e[0] },
        { label: SC.t("compliance.outstanding"), value: (e) => Object.entries(e[1]).map(([k, v]) => `${k}: ${v}`).join(", ") },
      ],
      Object.entries(report.edges || {}),
      { empty: SC.t("compliance.no_edges") }
    )
  );
  SC.fill(
    "compliance-cameras",
    SC.table(
      [
        { label: SC.t("col.site"), value: (c) => c.site_id },
        { label: SC.t("col.device"), value: (c) => c.device },
        { label: SC.t("compliance.purpose"), value: (c) => SC.label("purpose", c.purpose) },
        { label: SC.t("col.state"), value: (c) => yes(c.compliant) },
      ],
      report.cameras || [],
      { empty: SC.t("compliance.no_cameras") }
    )
  );
  const chain = report.audit_chain;
  const filing = report.filing || {};
  SC.fill(
    "compliance-other",
    SC.el(
      "ul",
      {},
      SC.el("li", { text: SC.t("compliance.filing", { subjects: filing.face_subjects, level: SC.label("filing", filing.level) }) }),
      SC.el("li", { text: chain ? SC.t(chain.ok ? "compliance.chain_ok" : "compliance.chain_bad", { entries: chain.entries, bad: chain.bad_id }) : SC.t("compliance.chain_skipped") })
    )
  );
});
