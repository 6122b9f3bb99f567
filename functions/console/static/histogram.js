// The score histogram of summary.json as SVG: 20 bins of 5 points, the job's threshold and
// the suggested threshold marked (docs/api.md, "Output formats and summary").

import { h, svg } from "./dom.js";
import { count, score } from "./format.js";

const WIDTH = 600;
const HEIGHT = 220;
const PAD = { left: 44, right: 12, top: 26, bottom: 30 };

const x = (value) => PAD.left + (value / 100) * (WIDTH - PAD.left - PAD.right);

function marker(kind, value, label, row) {
  const at = x(Math.min(100, Math.max(0, value)));
  return svg(
    "g",
    { class: `marker ${kind}`, "data-value": value },
    svg("line", { x1: at, x2: at, y1: PAD.top - 4, y2: HEIGHT - PAD.bottom }),
    svg(
      "text",
      { x: at, y: 10 + row * 12, "text-anchor": at > WIDTH / 2 ? "end" : "start", dx: at > WIDTH / 2 ? -4 : 4 },
      `${label} ${score(value)}`,
    ),
  );
}

/** A <figure> with the chart; `bins` is [{from, to, count}] x 20. */
export function histogram(bins, threshold, suggested) {
  const top = Math.max(1, ...bins.map((bin) => bin.count));
  const plot = HEIGHT - PAD.top - PAD.bottom;
  const y = (value) => HEIGHT - PAD.bottom - (value / top) * plot;
  const bars = bins.map((bin) =>
    svg(
      "rect",
      {
        class: "bar",
        x: x(bin.from) + 1,
        width: Math.max(1, x(bin.to) - x(bin.from) - 2),
        y: y(bin.count),
        height: HEIGHT - PAD.bottom - y(bin.count),
      },
      svg("title", {}, `${bin.from}–${bin.to}: ${count(bin.count)} rows`),
    ),
  );
  const ticks = [0, 25, 50, 75, 100].map((value) =>
    svg("text", { class: "tick", x: x(value), y: HEIGHT - 10, "text-anchor": "middle" }, String(value)),
  );
  const axis = [
    svg("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: HEIGHT - PAD.bottom, y2: HEIGHT - PAD.bottom }),
    svg("text", { class: "tick", x: PAD.left - 6, y: PAD.top + 4, "text-anchor": "end" }, count(top)),
    svg("text", { class: "tick", x: PAD.left - 6, y: HEIGHT - PAD.bottom, "text-anchor": "end" }, "0"),
  ];
  const markers = [];
  if (threshold !== null && threshold !== undefined) {
    markers.push(marker("threshold", threshold, "threshold", 0));
  }
  if (suggested !== null && suggested !== undefined) {
    markers.push(marker("suggested", suggested, "suggested", 1));
  }
  const described =
    `Best score of each sampled row, in 20 bins of 5 points; ` +
    `threshold ${score(threshold)}, suggested threshold ${score(suggested)}`;
  return h(
    "figure",
    { class: "histogram" },
    svg(
      "svg",
      { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": described, id: "histogram" },
      ...axis,
      ...bars,
      ...ticks,
      ...markers,
    ),
    h(
      "figcaption",
      {},
      "Best score of each sampled file 1 row against all of file 2 (no threshold). ",
      h("span", { class: "key threshold" }, "threshold"),
      " ",
      h("span", { class: "key suggested" }, "suggested threshold"),
      suggested === null || suggested === undefined ? " (no suggestion for this job)" : "",
    ),
  );
}
