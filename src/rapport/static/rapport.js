// Rapport: small progressive enhancements. Everything works without this file.
(function () {
  "use strict";
  // Close the header's live search results on Escape or a click elsewhere.
  function closeLiveSearch() {
    var box = document.getElementById("search-live");
    if (box) { box.innerHTML = ""; }
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { closeLiveSearch(); }
  });
  document.addEventListener("click", function (event) {
    var form = document.querySelector(".site-search");
    if (form && !form.contains(event.target)) { closeLiveSearch(); }
  });
})();
