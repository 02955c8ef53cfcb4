// Portfolio builder: poll a running simulation, add holding rows, confirm deletes. The pages work
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

  var addRow = document.getElementById("add-row");
  var rows = document.getElementById("holding-rows");
  if (addRow && rows) {
    addRow.hidden = false;
    addRow.addEventListener("click", function () {
      var last = rows.querySelector("tr.holding-row:last-child");
      var index = rows.querySelectorAll("tr.holding-row").length;
      var row = last.cloneNode(true);
      row.classList.remove("has-error");
      row.querySelectorAll(".error").forEach(function (el) { el.remove(); });
      row.querySelectorAll("[data-field]").forEach(function (input) {
        var name = "h-" + index + "-" + input.dataset.field;
        input.name = name;
        input.id = name;
        input.value = "";
      });
      row.querySelectorAll("label").forEach(function (label) {
        label.htmlFor = label.htmlFor.replace(/^h-\d+-/, "h-" + index + "-");
      });
      rows.appendChild(row);
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
