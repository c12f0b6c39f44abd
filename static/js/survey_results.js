// Survey results: draw each Plotly figure from the JSON the page embeds beside its table.
// Without JavaScript (or without plotly.min.js) the tables carry the same numbers.
(function () {
  "use strict";
  function draw() {
    if (typeof window.Plotly === "undefined") return;
    document.querySelectorAll(".survey-chart[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displaylogo: false });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
