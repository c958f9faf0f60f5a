// Traffic from the time series: passages per hour (by result) and per gate (by method), with a table.
"use strict";
SC.ready(async function () {
  const form = document.getElementById("traffic-form");
  const COLOURS = ["#2f6fd0", "#d0452f", "#2f9d5d", "#c58a16", "#7b4fc4", "#4b8b9b", "#888888"];
  const charts = {};

  function draw(id, labels, series) {
    if (charts[id]) charts[id].destroy();
    const datasets = Object.entries(series).map(([name, values], i) => ({
      label: name,
      data: values,
      backgroundColor: COLOURS[i % COLOURS.length],
    }));
    charts[id] = new Chart(document.getElementById(id), {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }

  function pivot(rows, keyOf, seriesOf, keys) {
    const series = {};
    for (const row of rows) {
      const name = seriesOf(row);
      series[name] = series[name] || keys.map(() => 0);
      series[name][keys.indexOf(keyOf(row))] += row.count;
    }
    return series;
  }

  async function load() {
    const data = await SC.api("/dashboard/traffic" + SC.query({ hours: form.elements.hours.value }));
    const hours = data.hours;
    const hourLabels = hours.map((h) => new Date(h).toLocaleString(SC.lang, { month: "numeric", day: "numeric", hour: "2-digit", hour12: false }));
    draw("chart-hours", hourLabels, pivot(data.rows, (r) => r.hour, (r) => SC.label("result", r.result), hours));
    const gates = [...new Set(data.rows.map((r) => r.site + "/" + r.gate))].sort();
    draw("chart-gates", gates, pivot(data.rows, (r) => r.site + "/" + r.gate, (r) => SC.label("method", r.method), gates));
    const totals = {};
    for (const r of data.rows) {
      const key = [r.site, r.gate, r.method, r.result].join("|");
      totals[key] = totals[key] || { site: r.site, gate: r.gate, method: r.method, result: r.result, count: 0 };
      totals[key].count += r.count;
    }
    const columns = [
      { label: SC.t("col.site"), value: (r) => r.site },
      { label: SC.t("col.gate"), value: (r) => r.gate },
      { label: SC.t("col.method"), value: (r) => SC.label("method", r.method) },
      { label: SC.t("col.result"), value: (r) => SC.label("result", r.result) },
      { label: SC.t("col.count"), value: (r) => String(r.count), class: "sc-num" },
    ];
    SC.fill("traffic-table", SC.table(columns, Object.values(totals), { empty: SC.t("traffic.none") }));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load().catch(SC.fail);
  });
  await load();
});
