// One person: details (masked as the API decides), household, vehicles, face consent state.
"use strict";
SC.ready(async function () {
  const personId = SC.param("person_id");
  let person;
  try {
    person = await SC.api("/persons/" + encodeURIComponent(personId));
  } catch (err) {
    SC.fail(err);
    document.body.dataset.denied = String(err.status || "");
    return;
  }
  document.getElementById("person-card").hidden = false;
  document.querySelectorAll(".person-section").forEach((node) => (node.hidden = false));
  document.getElementById("person-name").textContent = person.name;
  document.getElementById("person-id").textContent = person.id;
  document.getElementById("person-site").textContent = person.site_id;
  document.getElementById("person-phone").textContent = person.phone || "—";
  document.getElementById("person-id-number").textContent = person.id_number || "—";

  const household = await SC.api("/persons/" + encodeURIComponent(personId) + "/household");
  SC.fill(
    "person-household",
    SC.table(
      [
        { label: SC.t("col.name"), value: (p) => p.name },
        { label: SC.t("col.person"), value: (p) => p.id },
        { label: SC.t("col.phone"), value: (p) => p.phone },
      ],
      household
    )
  );
  const vehicles = await SC.api("/vehicles" + SC.query({ owner_id: personId }));
  SC.fill(
    "person-vehicles",
    SC.table(
      [
        { label: SC.t("col.plate"), value: (v) => v.plate },
        { label: SC.t("col.colour"), value: (v) => SC.label("colour", v.colour) },
      ],
      vehicles.items
    )
  );
  const face = await SC.api("/persons/" + encodeURIComponent(personId) + "/face");
  SC.fill(
    "person-face",
    SC.el(
      "p",
      {},
      face.consent
        ? SC.t("face.consented_at", { when: SC.fmtTime(face.consent.granted_at), templates: face.templates })
        : SC.t("face.no_consent", { templates: face.templates })
    )
  );
});
