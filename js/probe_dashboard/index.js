// ProbeDashboard: a rows x cols grid (layers x heads) of probe accuracy that fills in as probes train,
// with its colour scale, the top K outlined (K slider), and, for a clicked cell, how its probe separates
// the classes on the training and validation splits (histograms of the probe's score).
import { decode } from "../lib/array.js";
import { BANNER_CSS } from "../lib/banner.js";
import { frame, legend } from "../lib/chart.js";
import { coalesce, gridKeys, h, keepingFocus, select, slider, svgEl } from "../lib/dom.js";
import { colourBar, cssColour } from "../lib/heatmap.js";
import { mount } from "../lib/mount.js";

const CSS = `
.iwpd { font: 13px/1.4 system-ui, sans-serif; color: #222; }
.iwpd-bar { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.iwpd-main { display: flex; gap: 18px; align-items: flex-start; flex-wrap: wrap; }
.iwpd-plot { display: flex; gap: 6px; align-items: flex-start; }
.iwpd-grid canvas { cursor: pointer; }
.iwpd-grid canvas:focus { outline: 2px solid #08306b; }
.iwpd-readout { min-height: 1.4em; color: #333; margin-top: 4px; }
.iwpd-side { width: 340px; display: flex; flex-direction: column; gap: 6px; }
.iwpd-top { font-family: ui-monospace, monospace; font-size: 11px; width: 100%; height: 3.2em; }
.iwpd-note { font-size: 11px; color: #555; }
` + BANNER_CSS;
const PENDING = "#eeeeee";
const TRUE = "#2171b5", FALSE = "#e6550d";

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

function render(view) {
  const { model } = view;
  const { life, news, body, set, request } = mount(view, "iwpd", CSS);
  const accuracyLike = () => /accuracy|auc/.test(model.get("metric"));

  function toolbar() {
    const [rows, cols] = model.get("shape");
    const bar = h("div", { class: "iwpd-bar" });
    const metrics = model.get("metrics");
    if (metrics.length) bar.append(select("iwpd-metric", metrics.map((m) => [m, m]), model.get("metric"), (v) => set({ metric: v }), false, "metric"));
    bar.append(slider("iwpd-k", "top K ", { min: 1, max: rows * cols, value: model.get("k"), onchange: (v) => set({ k: v }) }));
    const p = model.get("progress");
    if (p < 1) bar.append(h("span", { class: "iwpd-progress" }, h("progress", { max: 1, value: p }), ` fitting: ${Math.round(p * 100)}%`));
    return bar;
  }

  function gridView() {
    const grid = model.get("grid"), [rows, cols] = model.get("shape");
    const rowLabel = model.get("row_label"), colLabel = model.get("col_label");
    const top = new Set(model.get("top").map(([r, c]) => r * cols + c));
    const cell = Math.max(10, Math.min(44, Math.floor(640 / cols))), left = 46, head = 30;
    const canvas = h("canvas", { tabindex: 0, role: "grid", "aria-label": `${model.get("metric")} per ${rowLabel} and ${colLabel}; arrow keys move the selected cell` });
    Object.assign(canvas.dataset, { cell, left, top: head });
    const dpr = window.devicePixelRatio || 1;
    canvas.width = (left + cols * cell) * dpr; canvas.height = (head + rows * cell) * dpr;
    canvas.style.width = `${left + cols * cell}px`; canvas.style.height = `${head + rows * cell}px`;
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#444"; ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    ctx.fillText(`${colLabel} →`, left + (cols * cell) / 2, 8);
    for (let c = 0; c < cols; c++) if (c % Math.ceil(20 / cell) === 0) ctx.fillText(`${c}`, left + (c + 0.5) * cell, 22);
    ctx.textAlign = "right";
    for (let r = 0; r < rows; r++) if (r % Math.ceil(14 / cell) === 0) ctx.fillText(`${r}`, left - 6, head + (r + 0.5) * cell);
    ctx.save(); ctx.translate(10, head + (rows * cell) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
    ctx.fillText(`${rowLabel} →`, 0, 0); ctx.restore();
    const done = grid.flat().filter((v) => v !== null);  // other metrics (R², RMSE): their own range
    const lo = done.length ? Math.min(...done) : 0, hi = done.length ? Math.max(...done) : 1;
    const shade = (v) => (accuracyLike() ? Math.max(0, (v - 0.5) * 2) : (v - lo) / ((hi - lo) || 1));  // accuracy / AUC: chance white
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = grid[r][c];
        ctx.fillStyle = v === null ? PENDING : cssColour(shade(v), 1);
        ctx.fillRect(left + c * cell, head + r * cell, cell - 1, cell - 1);
      }
    }
    ctx.lineWidth = 2; ctx.strokeStyle = FALSE;
    for (const k of top) ctx.strokeRect(left + (k % cols) * cell + 1, head + Math.floor(k / cols) * cell + 1, cell - 3, cell - 3);
    const [sr, sc] = [model.get("row"), model.get("col")];
    if (sr >= 0 && sc >= 0) {
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
      ctx.strokeRect(left + sc * cell - 1, head + sr * cell - 1, cell + 1, cell + 1);
    }
    canvas.dataset.painted = "1";
    const readout = h("div", { class: "iwpd-readout" }, "hover a cell; click it (or Enter) for its probe");
    const say = (r, c) => {
      const v = grid[r][c];
      readout.textContent = `${rowLabel} ${r}, ${colLabel} ${c}: ${model.get("metric")} ${v === null ? "(not fitted yet)" : v.toFixed(3)}${top.has(r * cols + c) ? " · in the top K" : ""}`;
    };
    const at = (e) => {
      const b = canvas.getBoundingClientRect();
      const c = Math.floor((e.clientX - b.left - left) / cell), r = Math.floor((e.clientY - b.top - head) / cell);
      return r >= 0 && c >= 0 && r < rows && c < cols ? [r, c] : null;
    };
    canvas.addEventListener("mousemove", (e) => { const rc = at(e); if (rc) say(...rc); });
    canvas.addEventListener("click", (e) => { const rc = at(e); if (rc) set({ row: rc[0], col: rc[1] }); });
    canvas.addEventListener("keydown", (e) => {  // arrows move the clicked cell; the first key picks (0, 0)
      const [r, c] = [model.get("row"), model.get("col")];
      if (r < 0 || c < 0) {
        if (e.key in { Enter: 1, " ": 1, ArrowRight: 1, ArrowLeft: 1, ArrowDown: 1, ArrowUp: 1 }) { e.preventDefault(); set({ row: 0, col: 0 }); }
        return;
      }
      const to = gridKeys(e, r, c, rows, cols);
      if (to) set({ row: to[0], col: to[1] });
    });
    if (sr >= 0 && sc >= 0) say(sr, sc);  // the clicked (or keyed) cell is read out
    const scale = accuracyLike()
      ? colourBar(`${model.get("metric")} (0.5: chance)`, { vmin: 0.5, vmax: 1, map: (v) => (v - 0.5) * 2,
        ticks: [0.5, 0.6, 0.7, 0.8, 0.9, 1], height: Math.max(120, Math.min(220, rows * cell)) })
      : colourBar(model.get("metric"), { vmin: +lo.toPrecision(3), vmax: +hi.toPrecision(3), map: shade,
        height: Math.max(120, Math.min(220, rows * cell)) });
    const key = legend([[FALSE, "the top K (outlined)"], ["#000", "the clicked cell"], [PENDING, "not fitted yet"]]);
    return h("div", { class: "iwpd-grid" }, h("div", { class: "iwpd-plot" }, canvas, scale), key, readout);
  }

  function side() {
    const box = h("div", { class: "iwpd-side" });
    const topList = h("textarea", { class: "iwpd-top", readonly: "", "aria-label": "the top K cells" });
    topList.value = JSON.stringify(model.get("top"));
    const copy = h("button", { onclick: () => navigator.clipboard?.writeText(topList.value) }, "copy");
    box.append(h("div", {}, `top ${model.get("k")} (${model.get("row_label")}, ${model.get("col_label")}) by ${model.get("metric")}, best first: `, copy), topList,
      h("div", { class: "iwpd-note" }, "A linked view (e.g. ITIView) edits these cells: changing the metric re-ranks them."));
    const r = model.get("row"), c = model.get("col");
    const detail = h("div", { class: "iwpd-detail" });
    detail.dataset.drawn = "1";
    box.append(detail);
    if (r < 0 || c < 0) { detail.textContent = "Click a cell to see how its probe separates the classes."; detail.dataset.painted = "1"; return box; }
    request("cell", { row: r, col: c }, { signal: life.signal }).then((cell) => {
      news.clear();
      const m = cell.metrics;
      detail.append(h("div", {}, h("b", {}, `${model.get("row_label")} ${r}, ${model.get("col_label")} ${c}`),
        ": " + Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(" · ")));
      if (cell.train) {
        detail.append(legend([[TRUE, "positive class"], [FALSE, "negative class"], ["#333", "decision boundary", true]]));
        for (const part of ["train", "val"]) {
          const score = decode(cell[part].score).data, pos = decode(cell[part].positive).data;
          detail.append(histogram(`${part === "train" ? "training" : "validation"} split (${score.length} examples)`, score, pos));
        }
      }
      detail.dataset.painted = "1";
    }).catch((err) => { news.fail(err); detail.textContent = String(err.message || err); detail.dataset.painted = "1"; });
    return box;
  }

  function draw() {
    keepingFocus(body, () => body.replaceChildren(toolbar(), h("div", { class: "iwpd-main" }, gridView(), side())));
  }
  const redraw = coalesce(draw);
  draw();
  for (const t of ["grid", "metric", "metrics", "top", "row", "col", "progress", "shape"]) model.on(`change:${t}`, redraw);
  return () => life.abort();
}

export default { render };
