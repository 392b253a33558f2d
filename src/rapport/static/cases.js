// Cases: live SLA countdowns and the hand-off dialog. The page is complete without this file:
// the server renders the remaining time, and "Hand off" is a link to its own page.
(function () {
  "use strict";

  function duration(seconds) {
    var total = Math.floor(Math.abs(seconds));
    var days = Math.floor(total / 86400);
    var hours = Math.floor((total % 86400) / 3600);
    var mins = Math.floor((total % 3600) / 60);
    var secs = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (days) { return days + " d " + hours + " h"; }
    if (hours) { return hours + " h " + pad(mins) + " min " + pad(secs) + " s"; }
    return mins + " min " + pad(secs) + " s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-due")) - now) / 1000;
      el.textContent = left >= 0 ? "due in " + duration(left) : "overdue by " + duration(left);
      el.classList.toggle("clock__left--overdue", left < 0);
    });
  }

  function setUpDialogs() {
    document.querySelectorAll("[data-dialog]").forEach(function (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog"));
      if (!dialog || typeof dialog.showModal !== "function") { return; }
      opener.addEventListener("click", function (event) {
        event.preventDefault();
        dialog.showModal();
        var first = dialog.querySelector("select, input:not([type=hidden]), textarea");
        if (first) { first.focus(); }
      });
      dialog.querySelectorAll("[data-dialog-close]").forEach(function (button) {
        button.addEventListener("click", function () { dialog.close(); });
      });
    });
  }

  setUpDialogs();
  if (document.querySelector("[data-due]")) {
    tick();
    window.setInterval(tick, 1000);
  }
})();
