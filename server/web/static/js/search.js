// Records inside one approved authorisation (the server narrows them to its scope and audits every query).
"use strict";
SC.ready(async function () {
  const form = document.getElementById("search-form");
  const select = document.getElementById("search-authorisation");
  const approved = (await SC.api("/police/authorisations" + SC.query({ state: "approved" }))).filter((a) => a.status === "approved");
  if (!approved.length) {
    SC.flash(SC.t("search.no_approved"), "info");
    form.hidden = true;
    return;
  }
  approved.forEach((a) => select.append(SC.el("option", { value: a.id, text: a.case_number })));
  const wanted = new URLSearchParams(location.search).get("authorisation");
  if (wanted && approved.some((a) => String(a.id) === wanted)) select.value = wanted;

  function describe() {
    const a = approved.find((x) => String(x.id) === select.value);
    document.getElementById("search-scope").textContent = SC.t("search.scope", {
      case: a.case_number,
      from: SC.fmtTime(a.window_start),
      to: SC.fmtTime(a.window_end),
      kinds: a.scope.kinds.map((k) => SC.label("record", k)).join("、"),
    });
  }
  select.addEventListener("change", describe);
  describe();

  const COLUMNS = {
    passages: [["col.method", (r) => SC.label("method", r.method)], ["col.result", (r) => SC.label("result", r.result)], ["col.person", (r) => r.person_id], ["col.plate", (r) => r.plate]],
    plates: [["col.plate", (r) => r.plate], ["col.colour", (r) => SC.label("colour", r.colour)], ["search.direction", (r) => SC.label("direction", r.direction)]],
    alarms: [["search.alarm_type", (r) => SC.label("alarm", r.alarm_type)], ["search.severity", (r) => SC.label("level", r.severity)], ["col.count", (r) => String(r.count)]],
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = SC.formValues(form);
    const kind = v.kind;
    try {
      const page = await SC.api(`/police/authorisations/${encodeURIComponent(select.value)}/${kind}` + SC.query({ since: SC.instant(v.since), until: SC.instant(v.until), limit: 500 }));
      const columns = [
        { label: SC.t("col.time"), value: (r) => SC.fmtTime(r.ts) },
        { label: SC.t("col.site"), value: (r) => r.site },
        { label: SC.t("col.gate"), value: (r) => r.gate },
        ...COLUMNS[kind].map(([label, value]) => ({ label: SC.t(label), value: value })),
      ];
      SC.fill("search-results", SC.table(columns, page.items, { empty: SC.t("search.none"), rowProps: () => ({ class: "search-row" }) }));
      SC.flash(SC.t("search.audited", { count: page.items.length }), "info");
    } catch (err) {
      SC.fill("search-results", SC.el("p"));
      SC.fail(err);
    }
  });
});
