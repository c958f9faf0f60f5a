// Watchlist alerts of the manager's sites; acknowledge the open ones.
"use strict";
SC.ready(async function () {
  const onlyOpen = document.getElementById("alerts-open");

  async function load() {
    const page = await SC.api("/alerts" + SC.query({ unacknowledged: onlyOpen.checked ? "true" : undefined, limit: 200 }));
    const columns = [
      { label: SC.t("col.time"), value: (a) => SC.fmtTime(a.ts) },
      { label: SC.t("col.site"), value: (a) => a.site_id },
      { label: SC.t("col.gate"), value: (a) => a.gate },
      { label: SC.t("col.device"), value: (a) => a.device },
      { label: SC.t("col.level"), value: (a) => SC.label("level", a.level) },
      { label: SC.t("col.state"), value: (a) => (a.acknowledged_at ? SC.t("alerts.acknowledged") : SC.t("alerts.open")) },
      {
        label: "",
        value: (a) =>
          a.acknowledged_at
            ? SC.t("alerts.by", { who: a.acknowledged_by || "", when: SC.fmtTime(a.acknowledged_at) })
            : SC.el("button", { type: "button", class: "alert-ack", text: SC.t("alerts.acknowledge"), on: { click: () => ack(a) } }),
      },
    ];
    SC.fill("alerts-list", SC.table(columns, page.items, { empty: SC.t("alerts.none") }));
  }

  async function ack(alert) {
    try {
      await SC.api(`/alerts/${encodeURIComponent(alert.id)}/acknowledge`, { method: "POST" });
      SC.flash(SC.t("alerts.done"), "ok");
      await load();
    } catch (err) {
      SC.fail(err);
    }
  }
  onlyOpen.addEventListener("change", () => load().catch(SC.fail));
  await load();
});
