// A resident's own passages (the API returns only their person's and vehicles' events).
"use strict";
SC.ready(async function () {
  const more = document.getElementById("history-more");
  let cursor = null;
  let shown = [];
  async function load(next) {
    const page = await SC.api("/events" + SC.query({ limit: 50, before_id: next ? cursor : undefined }));
    shown = next ? shown.concat(page.items) : page.items;
    cursor = page.next_before_id;
    const columns = [
      { label: SC.t("col.time"), value: (e) => SC.fmtTime(e.ts) },
      { label: SC.t("col.site"), value: (e) => e.site },
      { label: SC.t("col.gate"), value: (e) => e.gate },
      { label: SC.t("col.kind"), value: (e) => SC.label("kind", e.kind) },
      { label: SC.t("col.method"), value: (e) => SC.label("method", e.method) },
      { label: SC.t("col.result"), value: (e) => SC.label("result", e.result) },
      { label: SC.t("col.plate"), value: (e) => e.plate },
    ];
    SC.fill("history-results", SC.table(columns, shown, { empty: SC.t("history.none") }));
    more.hidden = cursor === null;
  }
  more.addEventListener("click", () => load(true).catch(SC.fail));
  await load(false);
});
