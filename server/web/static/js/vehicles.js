// Vehicles: a resident sees and registers their own; managers those of their sites.
"use strict";
SC.ready(async function () {
  const form = document.getElementById("vehicles-add");

  async function load() {
    const page = await SC.api("/vehicles" + SC.query({ limit: 500 }));
    const columns = [
      { label: SC.t("col.plate"), value: (v) => v.plate },
      { label: SC.t("col.colour"), value: (v) => SC.label("colour", v.colour) },
      { label: SC.t("col.site"), value: (v) => v.site_id },
      ...(SC.isStaff() ? [{ label: SC.t("col.owner"), value: (v) => v.owner_id }] : []),
      {
        label: "",
        value: (v) => SC.el("button", { type: "button", class: "sc-danger", text: SC.t("action.delete"), on: { click: () => remove(v) } }),
      },
    ];
    SC.fill("vehicles-list", SC.table(columns, page.items, { empty: SC.t("vehicles.none") }));
  }

  async function remove(vehicle) {
    if (!window.confirm(SC.t("vehicles.confirm_delete", { plate: vehicle.plate }))) return;
    try {
      await SC.api("/vehicles/" + encodeURIComponent(vehicle.id), { method: "DELETE" });
      SC.flash(SC.t("vehicles.deleted", { plate: vehicle.plate }), "ok");
      await load();
    } catch (err) {
      SC.fail(err);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = SC.formValues(form);
    const body = { plate: v.plate, colour: v.colour };
    if (SC.isStaff()) Object.assign(body, { site_id: v.site_id || null, owner_id: v.owner_id || null });
    try {
      const vehicle = await SC.api("/vehicles", { method: "POST", json: body });
      SC.flash(SC.t("vehicles.added", { plate: vehicle.plate }), "ok");
      form.reset();
      await load();
    } catch (err) {
      SC.fail(err);
    }
  });
  await load();
});
