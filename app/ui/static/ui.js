// winback dashboard: the only script. Pages work without it; it shows <time data-local> in the
// browser's time zone (the UTC text moves to the title, shown on hover).
(function () {
  "use strict";
  function local() {
    var dateOnly = { year: "numeric", month: "short", day: "numeric" };
    var full = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (isNaN(moment.getTime())) { return; }
      var options = el.getAttribute("data-local") === "date" ? dateOnly : full;
      if (!el.title) { el.title = el.textContent; }
      el.textContent = moment.toLocaleString(undefined, options);
      el.classList.add("localized");
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", local);
  } else {
    local();
  }
})();
