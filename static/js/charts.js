// Draws every chart of the page from the JSON embedded next to it (json_script, never executed).
// Charts that arrive later (the submission page swaps in its results) are drawn when they appear.
(function () {
  "use strict";
  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };

  function draw(box) {
    if (box.dataset.drawn === "1" || typeof window.Plotly === "undefined") { return; }
    var source = document.getElementById(box.dataset.chart);
    if (!source) { return; }
    var spec = JSON.parse(source.textContent);
    box.dataset.drawn = "1";
    // The box reserves a default height before plotly runs; a figure of another height (the
    // heatmap grows with its rows) would leave an empty band or overflow.
    if (spec.layout && spec.layout.height) { box.style.minHeight = spec.layout.height + "px"; }
    window.Plotly.newPlot(box, spec.data, spec.layout, CONFIG).then(function () {
      box.dataset.rendered = "1";
    });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  function start() {
    drawAll(document);
    var body = document.getElementById("submission-body");
    if (body && window.MutationObserver) {
      new MutationObserver(function () { drawAll(body); }).observe(body, { childList: true, subtree: true });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
