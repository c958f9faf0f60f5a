// Face consent of the signed-in resident: opt in after reading the notice; opt out at any time, with proof.
"use strict";
SC.ready(async function () {
  const NOTICE_VERSION = "web-2026-1";
  const personId = SC.me.person_id;
  const optIn = document.getElementById("face-optin");
  const optOut = document.getElementById("face-optout");
  const form = document.getElementById("face-consent-form");
  if (!personId) {
    SC.flash(SC.t("face.no_person"), "error");
    return;
  }
  const path = "/persons/" + encodeURIComponent(personId);
  let justWithdrawn = false;

  function erasureList(status) {
    if (!status.erasures.length) return null;
    return SC.table(
      [
        { label: SC.t("col.device"), value: (e) => e.device },
        { label: SC.t("face.sent_at"), value: (e) => SC.fmtTime(e.sent_at) },
        { label: SC.t("col.state"), value: (e) => (e.confirmed ? SC.t("face.edge_confirmed") : e.error ? SC.t("face.edge_error", { error: e.error }) : SC.t("face.edge_pending")) },
        { label: SC.t("face.confirmed_at"), value: (e) => SC.fmtTime(e.confirmed_at) },
      ],
      status.erasures
    );
  }

  async function load() {
    const status = await SC.api(path + "/face");
    const lines = [];
    if (status.consent) {
      lines.push(SC.el("p", { id: "face-state", dataset: { state: "consented" }, text: SC.t("face.consented_at", { when: SC.fmtTime(status.consent.granted_at), templates: status.templates }) }));
    } else {
      lines.push(SC.el("p", { id: "face-state", dataset: { state: "none" }, text: SC.t("face.no_consent", { templates: status.templates }) }));
      if (status.templates === 0 && (status.erasures.length || justWithdrawn)) {
        lines.push(SC.el("p", { class: "sc-ok", id: "face-gone", text: status.erasure_complete ? SC.t("face.gone_everywhere") : SC.t("face.gone_here") }));
      }
    }
    lines.push(erasureList(status));
    SC.fill("face-status", SC.el("div", {}, lines));
    optIn.hidden = Boolean(status.consent);
    optOut.hidden = !status.consent;
    return status;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!document.getElementById("face-agree").checked) return;
    try {
      await SC.api(path + "/consents/face", {
        method: "POST",
        json: { given_by: SC.formValues(form).given_by, notice_version: NOTICE_VERSION, channel: "web" },
      });
      SC.flash(SC.t("face.opted_in"), "ok");
      await load();
    } catch (err) {
      SC.fail(err);
    }
  });
  document.getElementById("face-withdraw").addEventListener("click", async () => {
    if (!window.confirm(SC.t("face.confirm_withdraw"))) return;
    try {
      const result = await SC.api(path + "/consents/face", { method: "DELETE" });
      justWithdrawn = true;
      SC.flash(SC.t("face.withdrawn", { edges: result.erase_sent_to.length }), "ok");
      let status = await load();
      for (let i = 0; i < 10 && !status.erasure_complete; i++) {
        await new Promise((resolve) => setTimeout(resolve, 3000));
        status = await load();
      }
    } catch (err) {
      SC.fail(err);
    }
  });
  await load();
});
