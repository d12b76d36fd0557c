// Run page: when a run that was queued or running finishes, reload the page once so its header (status, Plots and
// Profile links) and timings match the result panel. Loaded only while the run is unfinished.
(function () {
  "use strict";
  document.addEventListener("htmx:afterSettle", function () {
    var panel = document.getElementById("run-panel");
    if (panel && !panel.hasAttribute("hx-get") && panel.dataset.status !== "queued" && panel.dataset.status !== "running") {
      window.location.reload();
    }
  });
})();
