// Residents of the manager's sites: search by name, open a person, register a new one.
"use strict";
SC.ready(async function () {
  const filter = document.getElementById("people-filter");
  const addForm = document.getElementById("people-add");
  const sites = (await SC.api("/sites" + SC.query({ limit: 1000 }))).items;
  for (const select of [document.getElementById("people-site"), document.getElementById("people-add-site")]) {
    if (select.id === "people-site") select.append(SC.el("option", { value: "", text: SC.t("filter.any") }));
    sites.forEach((s) => select.append(SC.el("option", { value: s.id, text: s.name + " (" + s.id + ")" })));
  }

  async function load() {
    const v = SC.formValues(filter);
    const page = await SC.api("/persons" + SC.query({ site_id: v.site_id, name: v.q, limit: 200 }));
    const columns = [
      { label: SC.t("col.name"), value: (p) => SC.el("a", { href: "/ui/people/" + encodeURIComponent(p.id), text: p.name }) },
      { label: SC.t("col.person"), value: (p) => p.id },
      { label: SC.t("col.site"), value: (p) => p.site_id },
      { label: SC.t("col.person_kind"), value: (p) => SC.label("person_kind", p.kind) },
      { label: SC.t("col.phone"), value: (p) => p.phone },
      { label: SC.t("col.id_number"), value: (p) => p.id_number },
    ];
    SC.fill("people-list", SC.table(columns, page.items, { empty: SC.t("people.none") }));
  }
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    load().catch(SC.fail);
  });
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = SC.formValues(addForm);
    try {
      const person = await SC.api("/persons", {
        method: "POST",
        json: { site_id: v.site_id, name: v.name, kind: v.kind, phone: v.phone || null, id_number: v.id_number || null },
      });
      SC.flash(SC.t("people.added", { name: person.name }), "ok");
      addForm.reset();
      await load();
    } catch (err) {
      SC.fail(err);
    }
  });
  await load();
});
