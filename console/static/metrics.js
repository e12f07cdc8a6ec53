// Draws the metrics page's charts (uPlot) from the JSON the server put in the page.
"use strict";

const COLORS = {
  accepted: "#137a3a", rejected: "#b42318",
  QUEUED: "#9a6700", SCHEDULED: "#d99a00", HOLD: "#6941c6", SUCCESSFUL: "#137a3a",
  FAILED: "#b42318", CANCELLED: "#667085",
  "2xx": "#137a3a", "3xx": "#3355dd", "4xx": "#d99a00", "5xx": "#b42318", no_response: "#667085",
  latency_p50_ms: "#3355dd", latency_p99_ms: "#b42318",
};

function chart(element, xs, named) {
  const names = Object.keys(named);
  const width = () => Math.max(280, element.clientWidth);
  const plot = new uPlot({
    width: width(), height: 220,
    series: [{}, ...names.map((name) => ({
      label: name.replace("latency_", "").replace("_ms", ""), stroke: COLORS[name] || "#333", width: 2,
    }))],
    axes: [{}, { size: 50 }],
    scales: { x: { time: true } },
  }, [xs, ...names.map((name) => named[name])], element);
  window.addEventListener("resize", () => plot.setSize({ width: width(), height: 220 }));
}

document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("metrics-data").textContent);
  const xs = data.times.map((t) => Date.parse(t) / 1000);
  const pick = (object, keys) => Object.fromEntries(keys.map((k) => [k, object[k]]));
  const series = {
    requests: data.requests,
    events: data.events,
    attempts: pick(data.attempts, ["2xx", "3xx", "4xx", "5xx", "no_response"]),
    latency: pick(data.attempts, ["latency_p50_ms", "latency_p99_ms"]),
  };
  for (const element of document.querySelectorAll("[data-chart]")) {
    chart(element, xs, series[element.dataset.chart]);
  }
});
