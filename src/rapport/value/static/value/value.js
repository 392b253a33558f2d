// Value charts: a customer's value over time (customer page) and, on the value page, profit and
// lifetime value by segment and tier plus the CLV histogram. Data comes from JSON blocks; the
// tables and figures next to each chart carry the same numbers for readers without JavaScript.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var blue = "#1f4e8c", amber = "#d97706", green = "#15803d";

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function bars(canvasId, labels, profit, clv) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) { return; }
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "Profit to date", data: profit, backgroundColor: blue },
        { label: "Lifetime value (CLV)", data: clv, backgroundColor: amber }
      ] },
      options: { responsive: true, maintainAspectRatio: false, animation: false }
    });
  }

  var history = data("value-history-data");
  var historyCanvas = document.getElementById("value-history-chart");
  if (history && historyCanvas) {
    new window.Chart(historyCanvas, {
      type: "line",
      data: { labels: history.labels, datasets: [
        { label: "Lifetime value (CLV)", data: history.clv, borderColor: blue, backgroundColor: "transparent", tension: 0.2 },
        { label: "Expected margin, next 12 months", data: history.margin, borderColor: amber, backgroundColor: "transparent", tension: 0.2 },
        { label: "P(alive)", data: history.p_alive, borderColor: green, backgroundColor: "transparent", yAxisID: "p", tension: 0.2 }
      ] },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
                 scales: { y: { beginAtZero: true }, p: { position: "right", min: 0, max: 1, grid: { drawOnChartArea: false } } } }
    });
  }

  var page = data("value-page-data");
  if (page) {
    bars("value-segments-chart", page.segments, page.segment_margin, page.segment_clv);
    bars("value-tiers-chart", page.tiers, page.tier_margin, page.tier_clv);
  }

  var clv = data("value-clv-data");
  var clvCanvas = document.getElementById("value-clv-chart");
  if (clv && clvCanvas) {
    new window.Chart(clvCanvas, {
      type: "bar",
      data: { labels: clv.labels, datasets: [{ label: "Customers", data: clv.counts, backgroundColor: blue }] },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
                 scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }
})();
