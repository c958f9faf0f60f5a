// Event search with filters (keyset pages) and the CSV export of the same filters.
"use strict";
SC.ready(async function () {
  const form = document.getElementById("events-form");
  const more = document.getElementById("events-more");
  let cursor = null;
  let shown = [];

  function filters() {
    const v = SC.formValues(form);
    return {
      since: SC.instant(v.since),
      until: SC.instant(v.until),
      site: v.site,
      gate: v.gate,
      kind: v.kind,
      method: v.method,
      result: v.result,
      person_id: v.person_id,
      plate: v.plate,
    };
  }

  function render() {
    const columns = [
      { label: SC.t("col.time"), value: (e) => SC.fmtTime(e.ts) },
      { label: SC.t("col.site"), value: (e) => e.site },
      { label: SC.t("col.gate"), value: (e) => e.gate },
      { label: SC.t("col.device"), value: (e) => e.device },
      { label: SC.t("col.kind"), value: (e) => SC.label("kind", e.kind) },
      { label: SC.t("col.method"), value: (e) => SC.label("method", e.method) },
      { label: SC.t("col.result"), value: (e) => SC.label("result", e.result) },
      { label: SC.t("col.person"), value: (e) => (e.person_id ? SC.el("a", { href: "/ui/people/" + encodeURIComponent(e.person_id), text: e.person_id }) : null) },
      { label: SC.t("col.plate"), value: (e) => e.plate },
    ];
    SC.fill("events-results", SC.table(columns, shown, { empty: SC.t("events.none") }));
    more.hidden = cursor === null;
  }

  async function search(next) {
    const page = await SC.api("/events" + SC.query({ ...filters(), limit: 100, before_id: next ? cursor : undefined }));
    shown = next ? shown.concat(page.items) : page.items;
    cursor = page.next_before_id;
    render();
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search(false).catch(SC.fail);
  });
  more.addEventListener("click", () => search(true).catch(SC.fail));
  document.getElementById("events-export").addEventListener("click", () =>
    SC.download("/events/export.csv" + SC.query(filters()), "events.csv").catch(SC.fail)
  );
  await search(false);
});
