// Log in with the OAuth2 password form; the tokens go to this tab's sessionStorage only.
"use strict";
SC.ready(function () {
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const values = SC.formValues(form);
    const response = await fetch("/api/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: values.username, password: form.elements.password.value }),
    });
    if (!response.ok) {
      SC.flash(SC.t(response.status === 429 ? "error.rate_limited" : "login.failed"), "error");
      return;
    }
    const tokens = await response.json();
    if (!SC.homes[tokens.role]) {
      SC.flash(SC.t("login.no_web_access"), "error");
      return;
    }
    SC.saveSession(tokens);
    location.assign(SC.homes[tokens.role]);
  });
});
