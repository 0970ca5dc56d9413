// licensekit console: the live preview of the license dialogs. The page works
// without it (the forms post and the server answers); with it, each change of
// the quantity asks the console's preview endpoint, which calls the billing
// service's preview and changes nothing.
(function () {
  "use strict";
  // Escape closes an open dialog (its Cancel link).
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    var cancel = document.querySelector("[role=dialog] a.ghost");
    if (cancel) cancel.click();
  });
  var form = document.querySelector("form[data-preview]");
  if (!form) return;
  var out = document.getElementById("preview");
  var timer = null;
  var seq = 0;
  function showError(field, msg) {
    ["quantity", "to"].forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      var err = document.getElementById(name + "-error");
      if (!input || !err) return;
      if (name === field && msg) {
        err.textContent = msg;
        err.hidden = false;
        input.setAttribute("aria-invalid", "true");
      } else {
        err.textContent = "";
        err.hidden = true;
        input.removeAttribute("aria-invalid");
      }
    });
  }
  function render(ans) {
    out.textContent = "";
    if (!ans.ok) {
      showError(ans.field || "quantity", ans.error || "This change is not possible.");
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No preview: see the message above.";
      out.appendChild(p);
      return;
    }
    showError("", "");
    var dl = document.createElement("dl");
    (ans.order || []).forEach(function (k) {
      if (!(k in ans.lines)) return;
      var dt = document.createElement("dt");
      dt.textContent = k;
      var dd = document.createElement("dd");
      dd.textContent = ans.lines[k];
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    out.appendChild(dl);
  }
  function ask() {
    var q = form.querySelector("[name=quantity]");
    if (!q.value) return;
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    fetch("/licenses/preview", {
      method: "POST",
      headers: { "X-CSRF-Token": form.querySelector("[name=csrf]").value },
      body: body,
      credentials: "same-origin"
    }).then(function (r) { return r.json(); }).then(function (ans) {
      if (mine === seq) render(ans);
    }).catch(function () {});
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 200);
  });
  form.addEventListener("change", function () {
    clearTimeout(timer);
    ask();
  });
  if (form.querySelector("[name=quantity]").value) ask();
})();
