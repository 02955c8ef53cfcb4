// Portfolio builder: poll a running simulation, search contracts as one types, confirm deletes. The pages work
// without it (the server renders everything); this only saves reloads.
(function () {
  "use strict";

  var box = document.getElementById("run-progress");
  if (box && (box.dataset.status === "queued" || box.dataset.status === "running")) {
    var bar = box.querySelector("progress");
    var text = box.querySelector("[data-progress-text]");
    var errorBox = box.querySelector("[data-progress-error]");
    var percent = new Intl.NumberFormat(document.documentElement.lang || "sv", { style: "percent" });
    var poll = function () {
      fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (run) {
          box.dataset.status = run.status;
          if (bar) { bar.value = run.progress; }
          if (text) { text.textContent = percent.format(run.progress); }
          if (run.status === "done") {
            // a different query string, so that the browser loads the page again (not just the #fragment)
            window.location.assign(box.dataset.doneUrl);
          } else if (run.status === "failed") {
            errorBox.textContent = run.error || "";
            errorBox.hidden = false;
          } else {
            window.setTimeout(poll, 500);
          }
        })
        .catch(function () { window.setTimeout(poll, 2000); });  // a hiccup: try again, more slowly
    };
    window.setTimeout(poll, 300);
  }

  // The builder's contract search: matches appear as one types (the search button does the same without
  // the script). Their add buttons send the form back to the page, which keeps what was typed.
  var results = document.getElementById("search-results");
  var query = document.getElementById("contract-q");
  if (results && query) {
    var country = document.getElementById("search-country");
    var sector = document.getElementById("search-sector");
    var timer = null;
    var latest = 0;
    var refresh = function () {
      var params = new URLSearchParams({ q: query.value, country: country.value, sector: sector.value });
      var url = results.dataset.url + (results.dataset.url.indexOf("?") < 0 ? "?" : "&") + params.toString();
      var mine = ++latest;
      fetch(url, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) { if (mine === latest) { results.innerHTML = html; } })
        .catch(function () { /* the search button still works */ });
    };
    query.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 250);
    });
    query.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); window.clearTimeout(timer); refresh(); }
    });
    country.addEventListener("change", refresh);
    sector.addEventListener("change", refresh);
  }

  // Search, add and remove send the form to the page itself (GET): the CSRF token stays out of the address
  // (without this script, the server redirects to the address without it).
  var builder = document.getElementById("builder");
  if (builder) {
    builder.addEventListener("submit", function (event) {
      var token = builder.querySelector("input[name='csrf_token']");
      var toPage = event.submitter && event.submitter.getAttribute("formmethod") === "get";
      if (token) { token.disabled = Boolean(toPage); }
    });
    window.addEventListener("pageshow", function () {  // back to this page from the browser's cache
      var token = builder.querySelector("input[name='csrf_token']");
      if (token) { token.disabled = false; }
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
