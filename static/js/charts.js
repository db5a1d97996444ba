// Draws every chart on the page: each <div data-figure="ID"> gets the Plotly figure in the JSON
// <script id="ID"> that the server wrote with json_script. No inline script, so a strict
// Content-Security-Policy allows it; plotly.js comes from our own static files.
//
// The figure's title is the page's caption above the chart (it wraps there), so the plot leaves it
// out and gives its room to the bars; a downloaded PNG puts it back, so the image says what it is.
(function () {
  "use strict";
  var TITLE_ROOM = 110; // the margin above the plot that the figure's title is drawn in
  var PRINT_WIDTH = 710; // px of an A4 page inside the print stylesheet's margins (static/css/site.css)

  // A printed page shows the chart as drawn on screen, scaled down to the page's width.
  function fitForPrint(target) {
    target.style.setProperty("--print-zoom", Math.min(1, PRINT_WIDTH / target.offsetWidth).toFixed(3));
  }

  function download(target, figure) {
    var layout = Object.assign({}, target.layout, {
      title: figure.layout.title,
      margin: Object.assign({}, target.layout.margin, { t: TITLE_ROOM }),
    });
    var width = Math.max(target.offsetWidth, 900);
    window.Plotly.downloadImage(
      { data: target.data, layout: Object.assign(layout, { width: width, height: target.offsetHeight + 60 }) },
      { format: "png", filename: target.id, width: width, height: target.offsetHeight + 60 }
    );
  }

  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (target) {
      var source = document.getElementById(target.dataset.figure);
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      var margin = figure.layout.margin || {};
      var layout = Object.assign({}, figure.layout, {
        title: { text: "" },
        margin: Object.assign({}, margin, { t: Math.max((margin.t || TITLE_ROOM) - 80, 30) }),
      });
      var config = {
        responsive: true,
        displaylogo: false,
        // Zoom, pan, reset and download: the selection tools select nothing here.
        modeBarButtonsToRemove: ["toImage", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"],
        showSendToCloud: false,
        showEditInChartStudio: false,
        modeBarButtonsToAdd: [{
          name: "Download as PNG, with its title",
          icon: window.Plotly.Icons.camera,
          click: function () { download(target, figure); },
        }],
      };
      window.Plotly.newPlot(target, figure.data, layout, config)
        .then(function () {
          fitForPrint(target);
          target.on("plotly_relayout", function () { fitForPrint(target); });
          target.dataset.drawn = "true"; // for the browser tests to wait on
        });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
