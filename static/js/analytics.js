/* Analytics page: draw every chart from the figure the server built (a JSON script beside it),
   load the deferred charts from their own pages, and fold each chart's table once its plot is
   drawn (without JavaScript the tables stay open: they are the accessible form of the charts).
   No eval, no inline script: only the trace types that plotly.js draws without 'unsafe-eval'
   (bar, heatmap, sankey, sunburst, funnel, scatter; no WebGL traces). */
(function () {
  "use strict";

  var CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d"],
    toImageButtonOptions: { format: "png", scale: 2 }
  };

  function svgButton(name) {
    return {
      name: "Download plot as SVG",
      icon: window.Plotly.Icons.disk,
      click: function (gd) { window.Plotly.downloadImage(gd, { format: "svg", filename: name }); }
    };
  }

  function draw(plot) {
    if (!window.Plotly || plot.dataset.drawn) { return; }
    var source = document.getElementById(plot.dataset.figure);
    if (!source) { return; }
    var figure = JSON.parse(source.textContent);
    var figureEl = plot.closest("figure");
    var name = figureEl ? figureEl.dataset.chartId : "chart";
    var config = Object.assign({}, CONFIG, {
      modeBarButtonsToAdd: [svgButton(name)],
      toImageButtonOptions: Object.assign({}, CONFIG.toImageButtonOptions, { filename: name })
    });
    window.Plotly.newPlot(plot, figure.data, figure.layout, config).then(function () {
      plot.dataset.drawn = "1";
      var table = figureEl && figureEl.querySelector("details.chart-table");
      if (table) { table.open = false; }
    });
  }

  function drawAll(root) {
    root.querySelectorAll(".chart-plot[data-figure]").forEach(draw);
  }

  function loadDeferred(placeholder) {
    var figureEl = placeholder.closest("figure");
    placeholder.classList.add("loading");
    fetch(placeholder.dataset.chartPage, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var loaded = doc.querySelector("figure.chart");
        if (!loaded || !figureEl) { return; }
        var fresh = document.importNode(loaded, true);
        figureEl.replaceWith(fresh);
        drawAll(fresh);
      })
      .catch(function () { placeholder.classList.remove("loading"); });
  }

  function start() {
    drawAll(document);
    document.querySelectorAll("[data-chart-page]").forEach(loadDeferred);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
