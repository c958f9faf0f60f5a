// Bulk import of residents or vehicles (CSV or Excel): dry run first, the per-line error report, then apply.
"use strict";
SC.ready(async function () {
  const form = document.getElementById("import-form");
  const select = document.getElementById("import-site");
  (await SC.api("/sites" + SC.query({ limit: 1000 }))).items.forEach((s) =>
    select.append(SC.el("option", { value: s.id, text: s.name + " (" + s.id + ")" }))
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    data.append("file", document.getElementById("import-file").files[0]);
    data.append("site_id", select.value);
    data.append("dry_run", form.elements.dry_run.checked ? "true" : "false");
    try {
      const report = await SC.api("/imports/" + form.elements.what.value, { method: "POST", form: data });
      document.getElementById("import-report").hidden = false;
      const outcome = report.applied ? "import.applied" : report.errors.length ? "import.refused" : "import.dry_ok";
      document.getElementById("import-summary").textContent =
        SC.t("import.summary", { lines: report.lines, valid: report.valid, errors: report.errors.length }) + " " + SC.t(outcome);
      SC.fill(
        "import-errors",
        SC.table(
          [
            { label: SC.t("import.line"), value: (e) => String(e.line), class: "sc-num" },
            { label: SC.t("import.field"), value: (e) => SC.label("import_field", e.field) },
            { label: SC.t("import.message"), value: (e) => e.message },
          ],
          report.errors,
          { empty: SC.t("import.no_errors") }
        )
      );
    } catch (err) {
      SC.fail(err);
    }
  });
});
