// Shared by every page: session (tokens in this tab's sessionStorage), API calls, translation, small DOM helpers.
"use strict";
(function () {
  const API = "/api/v1";
  const SESSION_KEY = "sc.session";
  const body = document.body;
  const messages = JSON.parse(document.getElementById("sc-messages").textContent);
  const homes = JSON.parse(document.getElementById("sc-homes").textContent);
  const pageScripts = [];
  const SC = (window.SC = { lang: body.dataset.lang, me: null, homes: homes });

  SC.t = function (key, values) {
    let text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    for (const [name, value] of Object.entries(values || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  };
  // A translated enum value (method.card, result.granted...), or the raw value when the catalogue has none.
  SC.label = function (group, value) {
    if (value === null || value === undefined || value === "") return "—";
    const key = group + "." + value;
    return Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : String(value);
  };
  SC.param = (name) => body.dataset["param" + name.replace(/(^|_)(\w)/g, (_, __, c) => c.toUpperCase())];

  // ---- session -------------------------------------------------------------------------------------
  SC.session = function () {
    try {
      return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    } catch (err) {
      return null;
    }
  };
  SC.saveSession = (tokens) =>
    sessionStorage.setItem(
      SESSION_KEY,
      JSON.stringify({ access: tokens.access_token, refresh: tokens.refresh_token, role: tokens.role })
    );
  SC.clearSession = () => sessionStorage.removeItem(SESSION_KEY);

  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : JSON.stringify(detail));
      this.status = status;
      this.detail = detail;
    }
  }
  SC.ApiError = ApiError;

  let refreshing = null;
  async function refresh() {
    const session = SC.session();
    if (!session || !session.refresh) return false;
    if (!refreshing) {
      refreshing = fetch(API + "/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: session.refresh }),
      })
        .then(async (response) => {
          if (!response.ok) return false;
          SC.saveSession(await response.json());
          return true;
        })
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }
  SC.refresh = refresh;

  // Call the JSON API with the bearer token; one refresh and retry on 401. opts: method, json, form, as ("json"|"blob").
  SC.api = async function (path, opts) {
    opts = opts || {};
    for (let attempt = 0; attempt < 2; attempt++) {
      const session = SC.session();
      const headers = {};
      if (session) headers.Authorization = "Bearer " + session.access;
      let payload;
      if (opts.json !== undefined) {
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(opts.json);
      } else if (opts.form !== undefined) {
        payload = opts.form;
      }
      const response = await fetch(API + path, { method: opts.method || "GET", headers: headers, body: payload });
      if (response.status === 401 && attempt === 0 && (await refresh())) continue;
      if (response.status === 401) {
        SC.clearSession();
        location.assign("/ui/login");
        throw new ApiError(401, "signed out");
      }
      if (!response.ok) {
        let detail = response.statusText;
        try {
          detail = (await response.json()).detail;
        } catch (err) {
          /* not JSON */
        }
        throw new ApiError(response.status, detail);
      }
      if (opts.as === "blob") return response.blob();
      if (response.status === 204 || response.status === 202 && response.headers.get("content-length") === "0") {
        return null;
      }
      return response.json();
    }
  };
  SC.query = function (params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
      else if (value !== undefined && value !== null && value !== "") search.append(key, value);
    }
    const text = search.toString();
    return text ? "?" + text : "";
  };

  // ---- DOM helpers (text only: nothing from the API is ever parsed as HTML) --------------------------
  SC.el = function (tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key === "on") Object.entries(value).forEach(([type, fn]) => node.addEventListener(type, fn));
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };
  // A table: columns [{label, value(row) -> text|Node, class}], rows; an empty note when there are none.
  SC.table = function (columns, rows, options) {
    options = options || {};
    if (!rows.length) return SC.el("p", { class: "sc-empty", text: options.empty || SC.t("table.empty") });
    const head = SC.el("tr", {}, columns.map((c) => SC.el("th", { text: c.label })));
    const lines = rows.map((row) =>
      SC.el(
        "tr",
        options.rowProps ? options.rowProps(row) : {},
        columns.map((c) => {
          const value = c.value(row);
          return SC.el("td", { class: c.class }, value === null || value === undefined || value === "" ? "—" : value);
        })
      )
    );
    return SC.el("table", { class: "sc-table" }, SC.el("thead", {}, head), SC.el("tbody", {}, lines));
  };
  SC.fill = function (id, node) {
    const target = document.getElementById(id);
    target.replaceChildren(node);
    return target;
  };
  SC.fmtTime = function (iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    return date.toLocaleString(SC.lang, { hour12: false });
  };
  // Identities on shared screens are masked: first two and last character stay.
  SC.mask = function (value) {
    if (!value) return "—";
    const chars = Array.from(String(value));
    if (chars.length <= 3) return chars[0] + "*".repeat(chars.length - 1);
    return chars.slice(0, 2).join("") + "*".repeat(chars.length - 3) + chars[chars.length - 1];
  };
  SC.flash = function (text, kind) {
    const box = document.getElementById("sc-flash");
    box.replaceChildren(SC.el("p", { class: "sc-flash sc-" + (kind || "info"), text: text }));
  };
  SC.errorText = function (err) {
    if (err && err.status === 403) return SC.t("error.forbidden");
    if (err && err.status === 404) return SC.t("error.not_found");
    if (err && err.status === 429) return SC.t("error.rate_limited");
    if (err && err.status === 422) return SC.t("error.invalid", { detail: SC.detailText(err.detail) });
    if (err && err.status === 409) return SC.t("error.conflict", { detail: SC.detailText(err.detail) });
    return SC.t("error.generic", { detail: err ? SC.detailText(err.detail || err.message) : "" });
  };
  SC.detailText = function (detail) {
    if (Array.isArray(detail)) return detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  };
  SC.fail = (err) => SC.flash(SC.errorText(err), "error");
  SC.formValues = function (form) {
    const values = {};
    new FormData(form).forEach((value, key) => {
      if (typeof value === "string") values[key] = value.trim();
    });
    return values;
  };
  // A datetime-local value (the browser's local time) as an RFC 3339 instant, or undefined.
  SC.instant = (local) => (local ? new Date(local).toISOString() : undefined);
  SC.localInput = function (date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  };
  SC.list = (text) => (text || "").split(/[,，\s]+/).filter(Boolean);
  SC.blobUrl = async (path) => URL.createObjectURL(await SC.api(path, { as: "blob" }));
  SC.download = async function (path, filename) {
    const url = await SC.blobUrl(path);
    const link = SC.el("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
  SC.hideForRole = function (root) {
    (root || document).querySelectorAll("[data-roles]").forEach((node) => {
      if (node === body) return;
      const roles = node.dataset.roles.split(" ").filter(Boolean);
      if (roles.length && !roles.includes(SC.me.role)) node.remove();
    });
  };
  SC.isStaff = () => SC.me && (SC.me.role === "admin" || SC.me.role === "manager");
  SC.ready = (fn) => pageScripts.push(fn);

  async function logout() {
    const session = SC.session();
    if (session) {
      try {
        await SC.api("/auth/logout", { method: "POST", json: { refresh_token: session.refresh } });
      } catch (err) {
        /* signed out locally all the same */
      }
    }
    SC.clearSession();
    location.assign("/ui/login");
  }

  async function start() {
    const page = body.dataset.page;
    if (page === "login") {
      body.classList.remove("sc-pending");
      pageScripts.forEach((fn) => fn());
      return;
    }
    if (!SC.session()) {
      location.assign("/ui/login");
      return;
    }
    try {
      SC.me = await SC.api("/auth/me");
    } catch (err) {
      return;
    }
    if (page === "home") {
      location.replace(homes[SC.me.role] || "/ui/login");
      return;
    }
    SC.hideForRole(document.querySelector(".sc-nav"));
    const who = document.getElementById("sc-whoami");
    if (who) who.textContent = SC.me.username + " · " + SC.label("role", SC.me.role);
    const logoutButton = document.getElementById("sc-logout");
    if (logoutButton) logoutButton.addEventListener("click", logout);
    const roles = (body.dataset.roles || "").split(" ").filter(Boolean);
    if (roles.length && !roles.includes(SC.me.role)) {
      document.getElementById("sc-page").replaceChildren();
      document.getElementById("sc-forbidden").hidden = false;
      body.classList.remove("sc-pending");
      body.dataset.ready = "forbidden";
      return;
    }
    SC.hideForRole(document.getElementById("sc-page"));
    body.classList.remove("sc-pending");
    for (const fn of pageScripts) {
      try {
        await fn();
      } catch (err) {
        SC.fail(err);
      }
    }
    body.dataset.ready = "yes";
  }
  document.addEventListener("DOMContentLoaded", start);
})();
