/* Each chart of the command centre draws the table beside it: the numbers are read from the table's
   cells, so the chart and the table can never disagree. Without JavaScript the tables stay. */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var colours = ["#205067", "#ba2121", "#d18b00", "#417690", "#5b8c3a", "#7a4f9a"];

  function read(table) {
    var columns = Array.prototype.map.call(table.tHead.rows[0].cells, function (cell) { return cell.textContent; });
    var labels = [];
    var series = columns.slice(1).map(function () { return []; });
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      if (row.cells.length < columns.length) { return; }
      labels.push(row.cells[0].textContent.trim());
      for (var i = 1; i < columns.length; i += 1) {
        var raw = row.cells[i].getAttribute("data-value");
        series[i - 1].push(raw === null || raw === "" ? null : Number(raw));
      }
    });
    return { columns: columns.slice(1), labels: labels, series: series };
  }

  Array.prototype.forEach.call(document.querySelectorAll("canvas[data-chart]"), function (canvas) {
    var table = document.getElementById(canvas.getAttribute("data-table"));
    if (!table) { return; }
    var data = read(table);
    var line = canvas.getAttribute("data-chart") === "line";
    new window.Chart(canvas, {
      type: line ? "line" : "bar",
      data: {
        labels: data.labels,
        datasets: data.columns.map(function (name, i) {
          return { label: name, data: data.series[i], backgroundColor: colours[i % colours.length],
                   borderColor: colours[i % colours.length], tension: 0.2, pointRadius: line ? 2 : 0 };
        })
      },
      options: {
        animation: false, maintainAspectRatio: false, indexAxis: !line && data.labels.length > 8 ? "y" : "x",
        scales: { x: { ticks: { autoSkip: true } }, y: { beginAtZero: true } },
        plugins: { legend: { display: data.columns.length > 1 } }
      }
    });
  });
}());
