// The tray (web/tray.py): its add and remove forms work without this script (they post and come back to the
// page). Here they post in the background instead: the answer, JSON, carries the tray bar's new markup and the
// ids it now holds, from which every add button on the page is set pressed or not.
(function () {
  "use strict";
  if (!window.fetch || !window.FormData) { return; }

  var status = document.getElementById("tray-status");

  function openParts() {
    var open = {};
    document.querySelectorAll("#tray [data-tray-part]").forEach(function (part) {
      var details = part.querySelector("details");
      open[part.dataset.trayPart] = Boolean(details && details.open);
    });
    return open;
  }

  function apply(state, focusKind) {
    var open = openParts();
    var tray = document.getElementById("tray");
    if (tray && typeof state.html === "string") {
      var holder = document.createElement("div");
      holder.innerHTML = state.html;
      var fresh = holder.querySelector("#tray");
      if (fresh) {
        tray.replaceWith(fresh);
        fresh.querySelectorAll("[data-tray-part]").forEach(function (part) {
          var details = part.querySelector("details");
          if (details && open[part.dataset.trayPart]) { details.open = true; }
        });
        if (focusKind) {  // the reader was working in the tray: keep the focus there
          var target = fresh.querySelector("[data-tray-part='" + focusKind + "'] summary");
          (target || status).focus();
        }
      }
    }
    document.querySelectorAll("form[data-tray-kind]").forEach(function (form) {
      var held = (state[form.dataset.trayKind] || []).indexOf(form.dataset.trayId) >= 0;
      var op = form.querySelector("input[name=op]");
      var button = form.querySelector("button");
      var mark = form.querySelector(".tray-mark");
      if (op) { op.value = held ? "remove" : "add"; }
      if (button) { button.setAttribute("aria-pressed", held ? "true" : "false"); }
      if (mark) { mark.textContent = held ? "\u2713" : "+"; }
    });
    if (status) {
      status.textContent = state.message || "";
      status.classList.toggle("error", !state.ok);
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-tray")) { return; }
    event.preventDefault();
    var part = form.closest("#tray [data-tray-part]");
    var focusKind = part ? part.dataset.trayPart : null;
    var button = form.querySelector("button");
    if (button) { button.disabled = true; }
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") < 0) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (state) {
        if (button) { button.disabled = false; }
        apply(state, focusKind);
      })
      .catch(function () { form.submit(); });  // anything unexpected: post the form the ordinary way
  });
})();
