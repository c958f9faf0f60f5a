// Visitor passes: issue one (and show its QR code), list, show a QR again, revoke.
"use strict";
SC.ready(async function () {
  const form = document.getElementById("pass-form");
  const issued = document.getElementById("pass-issued");
  const qr = document.getElementById("pass-qr");
  const link = document.getElementById("pass-link");

  async function showQr(pass, shareLink) {
    if (qr.src.startsWith("blob:")) URL.revokeObjectURL(qr.src);
    qr.src = await SC.blobUrl("/visitor-passes/" + encodeURIComponent(pass.id) + "/qr.png");
    qr.dataset.passId = pass.id;
    link.textContent = shareLink || "";
    link.href = shareLink || "#";
    link.hidden = !shareLink;
    issued.hidden = false;
  }

  function state(pass) {
    if (pass.revoked_at) return SC.t("pass.revoked");
    if (new Date(pass.valid_until) <= new Date()) return SC.t("pass.expired");
    return SC.t("pass.active");
  }

  async function load() {
    const page = await SC.api("/visitor-passes" + SC.query({ limit: 200 }));
    const columns = [
      { label: SC.t("pass.visitor_name"), value: (p) => p.visitor_name },
      { label: SC.t("col.plate"), value: (p) => p.plate },
      { label: SC.t("pass.valid_from"), value: (p) => SC.fmtTime(p.valid_from) },
      { label: SC.t("pass.valid_until"), value: (p) => SC.fmtTime(p.valid_until) },
      { label: SC.t("col.state"), value: (p) => state(p) },
      {
        label: "",
        value: (p) =>
          p.revoked_at
            ? null
            : SC.el(
                "span",
                { class: "sc-actions" },
                SC.el("button", { type: "button", text: SC.t("pass.show_qr"), on: { click: () => showQr(p).catch(SC.fail) } }),
                SC.el("button", { type: "button", class: "sc-danger pass-revoke", text: SC.t("pass.revoke"), on: { click: () => revoke(p) } })
              ),
      },
    ];
    SC.fill("pass-list", SC.table(columns, page.items, { empty: SC.t("pass.none"), rowProps: (p) => ({ dataset: { passId: p.id } }) }));
  }

  async function revoke(pass) {
    if (!window.confirm(SC.t("pass.confirm_revoke", { name: pass.visitor_name || pass.plate || pass.id }))) return;
    try {
      await SC.api("/visitor-passes/" + encodeURIComponent(pass.id), { method: "DELETE" });
      if (qr.dataset.passId === pass.id) issued.hidden = true;
      SC.flash(SC.t("pass.revoked_done"), "ok");
      await load();
    } catch (err) {
      SC.fail(err);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = SC.formValues(form);
    const start = new Date();
    const body = {
      valid_from: start.toISOString(),
      valid_until: new Date(start.getTime() + Number(v.hours) * 3600000).toISOString(),
      single_use: form.elements.single_use.checked,
      visitor_name: v.visitor_name,
      plate: v.plate || null,
    };
    if (SC.isStaff()) Object.assign(body, { site_id: v.site_id || null, host_person_id: v.host_person_id || null });
    try {
      const pass = await SC.api("/visitor-passes", { method: "POST", json: body });
      await showQr(pass, pass.link);
      SC.flash(SC.t("pass.issued_for", { name: pass.visitor_name || pass.plate || pass.id }), "ok");
      await load();
    } catch (err) {
      SC.fail(err);
    }
  });
  await load();
});
