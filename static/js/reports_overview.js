/* Bugsift: draw the Reports overview's charts. Each chart's Plotly figure was built on the
 * server and sits in a <script type="application/json"> data block beside an empty .plot
 * element. Once a chart is drawn its table (the same data, and the page's form without
 * JavaScript) is folded away; it stays one click away under "Data as a table".
 */
(function () {
  "use strict";
  function draw() {
    if (!window.Plotly) return; // no plotly.min.js: the tables stay open
    document.querySelectorAll(".plot[data-figure]").forEach(function (el) {
      var data = document.getElementById(el.getAttribute("data-figure"));
      if (!data) return;
      var figure = JSON.parse(data.textContent);
      window.Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displaylogo: false }).then(function () {
        var table = el.parentNode.querySelector("details.chart-table");
        if (table) table.open = false;
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
