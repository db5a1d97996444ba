// Draws every chart on the page: each <div data-figure="ID"> gets the Plotly figure in the JSON
// <script id="ID"> that the server wrote with json_script. No inline script, so a strict
// Content-Security-Policy allows it; plotly.js comes from our own static files.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (target) {
      var source = document.getElementById(target.dataset.figure);
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(target, figure.data, figure.layout, { responsive: true, displaylogo: false });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
