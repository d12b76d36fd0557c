/* The main navigation folds into a "Menu" button on narrow screens (the CSS hides it there until opened). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-nav-toggle]") : null;
    if (!button) {
      return;
    }
    var bar = button.closest(".topbar");
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (bar) {
      bar.classList.toggle("is-open", open);
    }
  });
})();
