// A police officer's authorisation requests and their state; file a new one.
"use strict";
SC.ready(async function () {
  const form = document.getElementById("auth-form");
  const now = new Date();
  form.elements.window_start.value = SC.localInput(new Date(now.getTime() - 7 * 86400000));
  form.elements.window_end.value = SC.localInput(now);
  form.elements.expires_at.value = SC.localInput(new Date(now.getTime() + 3 * 86400000));

  function scopeText(scope) {
    const parts = [];
    if (scope.persons.length) parts.push(SC.t("auth.persons") + ": " + scope.persons.join(", "));
    if (scope.plates.length) parts.push(SC.t("auth.plates") + ": " + scope.plates.join(", "));
    if (scope.gates.length) parts.push(SC.t("auth.gates") + ": " + scope.gates.map((g) => g.site + "/" + g.gate).join(", "));
    parts.push(scope.kinds.map((k) => SC.label("record", k)).join("、"));
    return parts.join("; ");
  }

  async function load() {
    const items = await SC.api("/police/authorisations");
    const columns = [
      { label: SC.t("auth.case_number"), value: (a) => a.case_number },
      { label: SC.t("col.state"), value: (a) => SC.el("span", { class: "sc-badge auth-state", dataset: { state: a.status }, text: SC.label("auth_state", a.status) }) },
      { label: SC.t("auth.scope"), value: (a) => scopeText(a.scope) },
      { label: SC.t("auth.window"), value: (a) => SC.fmtTime(a.window_start) + " – " + SC.fmtTime(a.window_end) },
      { label: SC.t("auth.expires_at"), value: (a) => SC.fmtTime(a.expires_at) },
      { label: SC.t("auth.decision"), value: (a) => (a.decided_by ? `${a.decided_by} ${a.decision_note ? "· " + a.decision_note : ""}` : null) },
      { label: "", value: (a) => (a.status === "approved" ? SC.el("a", { href: "/ui/police/search?authorisation=" + a.id, text: SC.t("auth.search") }) : null) },
    ];
    SC.fill("auth-list", SC.table(columns, items, { empty: SC.t("auth.none"), rowProps: (a) => ({ dataset: { case: a.case_number } }) }));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = SC.formValues(form);
    const body = {
      case_number: v.case_number,
      legal_basis: v.legal_basis,
      purpose: v.purpose,
      scope: {
        persons: SC.list(v.persons),
        plates: SC.list(v.plates),
        gates: SC.list(v.gates).map((g) => ({ site: g.split("/")[0], gate: g.split("/")[1] || "" })),
        kinds: Array.from(form.elements.kinds.selectedOptions).map((o) => o.value),
      },
      window_start: SC.instant(v.window_start),
      window_end: SC.instant(v.window_end),
      expires_at: SC.instant(v.expires_at),
    };
    try {
      await SC.api("/police/authorisations", { method: "POST", json: body });
      SC.flash(SC.t("auth.filed"), "ok");
      form.reset();
      await load();
    } catch (err) {
      SC.fail(err);
    }
  });
  await load();
});
