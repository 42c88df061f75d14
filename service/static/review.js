// feedback-strike review page: keyboard shortcuts. No dependencies, nothing fetched from elsewhere.
(function () {
  "use strict";
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function go(id) { var a = document.getElementById(id); if (a) { window.location.href = a.href; } }

  var form = document.getElementById("decide-form");
  var help = document.getElementById("help");
  var helpButton = document.getElementById("help-button");
  function toggleHelp() {
    if (!help) { return; }
    if (help.open) { help.close(); } else { help.showModal(); }
    if (helpButton) { helpButton.setAttribute("aria-expanded", help.open ? "true" : "false"); }
  }
  if (helpButton) { helpButton.addEventListener("click", toggleHelp); }

  // The queue: j/k or arrows move the selection, Enter opens.
  var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tr.row"));
  var selected = -1;
  function select(i) {
    if (!rows.length) { return; }
    selected = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, n) { r.classList.toggle("selected", n === selected); });
    rows[selected].querySelector("a.open").focus();
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) { return; }
    if (form) {
      if (e.key === "s" || e.key === "k") {
        e.preventDefault();
        var button = document.getElementById(e.key === "s" ? "strike" : "keep");
        if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
        return;
      }
    }
    if (e.key === "?") { e.preventDefault(); toggleHelp(); return; }
    if (rows.length) {
      if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); select(selected + 1); }
      if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); select(selected - 1); }
      return;
    }
    if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); go("next"); }
    if (e.key === "ArrowUp") { e.preventDefault(); go("prev"); }
  });
})();
