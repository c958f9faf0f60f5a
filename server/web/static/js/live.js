// Passages and alarms as they happen, over the WebSocket feed (token offered as the sc.bearer subprotocol).
"use strict";
SC.ready(async function () {
  const rows = document.getElementById("live-rows");
  const state = document.getElementById("live-state");
  const MAX_ROWS = 200;
  let backoff = 1000;

  function setState(name) {
    state.dataset.state = name;
    state.textContent = SC.t("live." + name);
  }

  function identity(event) {
    if (event.person_id) return SC.mask(event.person_id);
    if (event.plate) return SC.mask(event.plate);
    return SC.t("live.no_identity");
  }

  function addRow(item, live) {
    const event = item.event || item;
    const alarm = item.type === "alert" || event.kind === "alarm";
    const detail = alarm ? SC.label("alarm", (event.data || {}).alarm_type) : SC.label("method", event.method);
    const row = SC.el(
      "tr",
      { class: (live ? "live " : "") + (alarm ? "sc-alarm" : "result-" + (event.result || "none")) },
      SC.el("td", { text: SC.fmtTime(event.ts) }),
      SC.el("td", { text: event.site }),
      SC.el("td", { class: "live-gate", text: event.gate || "—" }),
      SC.el("td", { text: SC.label("kind", event.kind) }),
      SC.el("td", { text: detail }),
      SC.el("td", { text: alarm ? SC.t("live.alarm") : SC.label("result", event.result) }),
      SC.el("td", { text: alarm ? "—" : identity(event) })
    );
    if (live) rows.prepend(row);
    else rows.append(row);
    while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
  }

  const recent = await SC.api("/events" + SC.query({ limit: 20 }));
  recent.items.forEach((event) => addRow({ type: "event", event: event }, false));

  function retry() {
    setState("disconnected");
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 30000);
  }

  async function connect() {
    setState("connecting");
    try {
      await SC.refresh(); // a fresh access token: the socket outlives requests
    } catch (err) {
      retry(); // the server is unreachable: try again later
      return;
    }
    const session = SC.session();
    if (!session) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/api/v1/live", ["sc.bearer", session.access]);
    socket.addEventListener("message", (message) => {
      const item = JSON.parse(message.data);
      if (item.type === "hello") {
        setState("connected");
        backoff = 1000;
      } else {
        addRow(item, true);
      }
    });
    socket.addEventListener("close", retry);
  }
  connect();
});
