// The root-cause chart: complaints per month stacked by top-level cause (bars) and the
// compensation granted on them (lines, right axis). Data comes from a JSON block; the table
// under the chart carries the same numbers for readers without JavaScript or sight.
(function () {
  "use strict";
  var source = document.getElementById("root-cause-data");
  var canvas = document.getElementById("root-cause-chart");
  if (!source || !canvas || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#1f4e8c", "#d97706", "#15803d", "#9b1c1c", "#6d28d9", "#0e7490", "#a16207", "#be185d"];
  var datasets = data.causes.map(function (cause, i) {
    return { type: "bar", label: cause.label, data: cause.data, backgroundColor: palette[i % palette.length],
             stack: "complaints", yAxisID: "y" };
  });
  data.cost.forEach(function (cost, i) {
    datasets.push({ type: "line", label: "Compensation (" + cost.label + ")", data: cost.data,
                    borderColor: palette[(i + 4) % palette.length], backgroundColor: "transparent", yAxisID: "cost",
                    tension: 0.2 });
  });
  new window.Chart(canvas, {
    data: { labels: data.months, datasets: datasets },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: "Complaints" }, ticks: { precision: 0 } },
        cost: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                title: { display: true, text: "Compensation" }, display: data.cost.length > 0 }
      }
    }
  });
})();
