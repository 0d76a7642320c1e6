// ProbeDashboard's side panel: the top K cells (to copy, or for a linked view to edit), and for the
// clicked cell its probe's metrics and how it separates the classes on the training and validation
// splits (histograms of its scores). The cell is asked for again only when another is clicked or its
// own probe changes.
import { decode } from "../lib/array.js";
import { frame, legend } from "../lib/chart.js";
import { h, svgEl } from "../lib/dom.js";
import { FALSE, TRUE } from "./style.js";

/** Histograms of the scores of both classes over one bin range, with axes, counts and the boundary. */
function histogram(title, score, positive) {
  const bins = 30;
  let lo = Infinity, hi = -Infinity;
  for (const s of score) { if (s < lo) lo = s; if (s > hi) hi = s; }
  if (!(hi > lo)) hi = lo + 1;
  const counts = [new Array(bins).fill(0), new Array(bins).fill(0)];
  score.forEach((s, i) => { counts[positive[i] ? 1 : 0][Math.min(bins - 1, Math.floor(((s - lo) / (hi - lo)) * bins))]++; });
  const top = Math.max(1, ...counts[0], ...counts[1]);
  const f = frame({ width: 330, height: 150, title, x: { min: lo, max: hi, title: "probe score (logit)" },
    y: { min: 0, max: top, title: "examples", ticks: 3 } });
  const bw = (f.x(hi) - f.x(lo)) / bins;
  for (const [c, colour] of [[0, FALSE], [1, TRUE]]) {
    counts[c].forEach((n, b) => {
      if (n) f.svg.append(svgEl("rect", { x: f.x(lo) + b * bw, y: f.y(n), width: Math.max(1, bw - 1), height: f.y(0) - f.y(n), fill: colour, "fill-opacity": 0.55 }));
    });
  }
  if (lo < 0 && hi > 0) {  // the decision boundary
    const x = f.x(0);
    f.svg.append(svgEl("line", { class: "iwpd-threshold", x1: x, x2: x, y1: f.area.top, y2: f.area.bottom, stroke: "#333", "stroke-dasharray": "3,3" }),
      svgEl("text", { x: x + 3, y: f.area.top + 9, "font-size": 10, fill: "#333" }, "boundary (0)"));
  }
  return f.svg;
}

function showCell(detail, model, cell, r, c) {
  const m = cell.metrics;
  detail.replaceChildren(h("div", {}, h("b", {}, `${model.get("row_label")} ${r}, ${model.get("col_label")} ${c}`),
    ": " + Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(" · ")));
  if (cell.train) {
    detail.append(legend([[TRUE, "positive class"], [FALSE, "negative class"], ["#333", "decision boundary", true]]));
    for (const part of ["train", "val"]) {
      const score = decode(cell[part].score).data, pos = decode(cell[part].positive).data;
      detail.append(histogram(`${part === "train" ? "training" : "validation"} split (${score.length} examples)`, score, pos));
    }
  }
}

export function sidePart({ model, request, news, signal }) {
  const heading = h("span"), topList = h("textarea", { class: "iwpd-top", readonly: "", "aria-label": "the top K cells" });
  const copy = h("button", { onclick: () => navigator.clipboard?.writeText(topList.value) }, "copy");
  const detail = h("div", { class: "iwpd-detail" });
  const showTop = () => {
    heading.textContent = `top ${model.get("k")} (${model.get("row_label")}, ${model.get("col_label")}) by ${model.get("metric")}, best first: `;
    topList.value = JSON.stringify(model.get("top"));
  };
  let shown = null, ticket = 0;  // the cell and value on show: ask again only when they change
  const showDetail = () => {
    const r = model.get("row"), c = model.get("col");
    const now = r < 0 || c < 0 ? null : JSON.stringify([r, c, model.get("grid")[r]?.[c]]);
    if (now === shown) return;
    shown = now;
    detail.dataset.drawn = "1";
    delete detail.dataset.painted;
    if (now === null) { detail.textContent = "Click a cell to see how its probe separates the classes."; detail.dataset.painted = "1"; return; }
    const mine = ++ticket;
    request("cell", { row: r, col: c }, { signal }).then((cell) => {
      if (mine !== ticket) return;
      news.clear();
      showCell(detail, model, cell, r, c);
      detail.dataset.painted = "1";
    }).catch((err) => {
      if (mine !== ticket) return;
      shown = null;  // asked again next time
      news.fail(err);
      detail.textContent = String(err.message || err);
      detail.dataset.painted = "1";
    });
  };
  showTop();
  showDetail();
  return {
    el: h("div", { class: "iwpd-side" }, h("div", {}, heading, copy), topList,
      h("div", { class: "iwpd-note" }, "A linked view (e.g. ITIView) edits these cells: changing the metric re-ranks them."), detail),
    update(names) {
      if (["top", "k", "metric"].some((t) => names.has(t))) showTop();
      if (["row", "col", "grid"].some((t) => names.has(t))) showDetail();
    },
  };
}
