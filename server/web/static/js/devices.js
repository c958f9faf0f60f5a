// Device health: online, last seen, frames per second, outbox depth.
"use strict";
SC.ready(async function () {
  async function load() {
    const devices = await SC.api("/dashboard/devices");
    const columns = [
      { label: SC.t("col.site"), value: (d) => d.site },
      { label: SC.t("col.device"), value: (d) => d.device },
      { label: SC.t("col.device_name"), value: (d) => d.name },
      {
        label: SC.t("col.state"),
        value: (d) => SC.el("span", { class: "sc-badge", dataset: { state: d.online ? "connected" : "disconnected" }, text: SC.t(d.online ? "devices.online" : "devices.offline") }),
      },
      { label: SC.t("col.last_seen"), value: (d) => SC.fmtTime(d.last_seen) },
      { label: SC.t("col.fps"), value: (d) => (d.fps === null ? null : d.fps.toFixed(1)) },
      { label: SC.t("col.outbox"), value: (d) => d.outbox_depth },
      { label: SC.t("col.cpu"), value: (d) => (d.cpu_percent === null ? null : d.cpu_percent.toFixed(0) + "%") },
      { label: SC.t("col.software"), value: (d) => d.software },
    ];
    SC.fill("devices-list", SC.table(columns, devices, { empty: SC.t("devices.none") }));
  }
  document.getElementById("devices-refresh").addEventListener("click", () => load().catch(SC.fail));
  await load();
  setInterval(() => load().catch(() => {}), 15000);
});
