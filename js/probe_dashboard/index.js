// ProbeDashboard: a rows x cols grid (layers x heads) of probe accuracy that fills in as probes train,
// the top K outlined (K slider), and, for a clicked cell, how its probe separates the classes on the
// training and validation splits (histograms of the probe's score).
import { decode } from "../lib/array.js";
import { channel } from "../lib/channel.js";
import { h, select } from "../lib/dom.js";
import { cssColour } from "../lib/heatmap.js";

const CSS = `
.iwpd { font: 13px/1.4 system-ui, sans-serif; color: #222; }
.iwpd-bar { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.iwpd-error { background: #fde8e8; border: 1px solid #e08080; color: #8a1f1f; padding: 4px 8px; margin-bottom: 8px; white-space: pre-wrap; }
.iwpd-main { display: flex; gap: 18px; align-items: flex-start; flex-wrap: wrap; }
.iwpd-grid canvas { cursor: pointer; }
.iwpd-readout { min-height: 1.4em; color: #333; margin-top: 4px; }
.iwpd-side { width: 340px; display: flex; flex-direction: column; gap: 6px; }
.iwpd-top { font-family: ui-monospace, monospace; font-size: 11px; width: 100%; height: 3.2em; }
.iwpd-hist text { font-size: 10px; fill: #555; }
.iwpd-legend i { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: -1px; }
`;
const PENDING = "#eeeeee";
const TRUE = "#2171b5", FALSE = "#e6550d";
const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** Histograms of the scores of both classes, one bin range, as an SVG. */
function histogram(title, score, positive, width = 330, height = 120) {
  const bins = 30, pad = 18;
  let lo = Infinity, hi = -Infinity;
  for (const s of score) { if (s < lo) lo = s; if (s > hi) hi = s; }
  if (!(hi > lo)) { hi = lo + 1; }
  const counts = [new Array(bins).fill(0), new Array(bins).fill(0)];
  score.forEach((s, i) => { counts[positive[i] ? 1 : 0][Math.min(bins - 1, Math.floor(((s - lo) / (hi - lo)) * bins))]++; });
  const top = Math.max(1, ...counts[0], ...counts[1]);
  const svg = svgEl("svg", { class: "iwpd-hist", width, height: height + pad * 2 });
  svg.append(Object.assign(svgEl("text", { x: 0, y: 11 }), { textContent: title }));
  const bw = width / bins;
  for (const [c, colour] of [[0, FALSE], [1, TRUE]]) {
    counts[c].forEach((n, b) => {
      if (!n) return;
      const bh = (n / top) * height;
      svg.append(svgEl("rect", { x: b * bw, y: pad + height - bh, width: bw - 1, height: bh, fill: colour, "fill-opacity": 0.55 }));
    });
  }
  const zero = ((0 - lo) / (hi - lo)) * width;  // the decision boundary
  if (zero > 0 && zero < width) svg.append(svgEl("line", { x1: zero, x2: zero, y1: pad, y2: pad + height, stroke: "#333", "stroke-dasharray": "3,3" }));
  svg.append(Object.assign(svgEl("text", { x: 0, y: pad + height + 13 }), { textContent: lo.toFixed(2) }));
  svg.append(Object.assign(svgEl("text", { x: width, y: pad + height + 13, "text-anchor": "end" }), { textContent: hi.toFixed(2) }));
  return svg;
}

function render({ model, el }) {
  const request = channel(model);
  const root = h("div", { class: "iwpd" });
  el.append(h("style", {}, CSS), root);
  const set = (changes) => { for (const [k, v] of Object.entries(changes)) model.set(k, v); model.save_changes(); };

  function toolbar() {
    const [rows, cols] = model.get("shape");
    const bar = h("div", { class: "iwpd-bar" });
    const metrics = model.get("metrics");
    if (metrics.length) bar.append(select("iwpd-metric", metrics.map((m) => [m, m]), model.get("metric"), (v) => set({ metric: v })));
    const slider = h("input", { type: "range", class: "iwpd-k", min: 1, max: rows * cols, value: model.get("k") });
    const label = h("span", {}, `top K = ${model.get("k")}`);
    slider.addEventListener("input", () => { label.textContent = `top K = ${slider.value}`; });
    slider.addEventListener("change", () => set({ k: +slider.value }));
    bar.append(slider, label);
    const p = model.get("progress");
    if (p < 1) bar.append(h("span", { class: "iwpd-progress" }, h("progress", { max: 1, value: p }), ` fitting: ${Math.round(p * 100)}%`));
    return bar;
  }

  function gridView() {
    const grid = model.get("grid"), [rows, cols] = model.get("shape");
    const top = new Set(model.get("top").map(([r, c]) => r * cols + c));
    const cell = Math.max(8, Math.min(28, Math.floor(560 / cols))), left = 40, head = 18;
    const canvas = h("canvas");
    const dpr = window.devicePixelRatio || 1;
    canvas.width = (left + cols * cell) * dpr; canvas.height = (head + rows * cell) * dpr;
    canvas.style.width = `${left + cols * cell}px`; canvas.style.height = `${head + rows * cell}px`;
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.font = "10px system-ui, sans-serif"; ctx.fillStyle = "#555"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    const every = Math.ceil(12 / cell);
    for (let r = 0; r < rows; r++) if (r % every === 0) ctx.fillText(`${model.get("row_label")[0].toUpperCase()}${r}`, left - 4, head + (r + 0.5) * cell);
    ctx.textAlign = "center";
    for (let c = 0; c < cols; c++) if (c % Math.ceil(24 / cell) === 0) ctx.fillText(`${c}`, left + (c + 0.5) * cell, head / 2);
    const accuracyLike = model.get("metric").includes("accuracy") || model.get("metric").includes("auc");
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = grid[r][c];
        // accuracy and AUC: 0.5 (chance) is white, 1 is dark blue
        ctx.fillStyle = v === null ? PENDING : cssColour(accuracyLike ? Math.max(0, (v - 0.5) * 2) : v, 1);
        ctx.fillRect(left + c * cell, head + r * cell, cell - 1, cell - 1);
      }
    }
    ctx.lineWidth = 2; ctx.strokeStyle = FALSE;
    for (const k of top) ctx.strokeRect(left + (k % cols) * cell + 1, head + Math.floor(k / cols) * cell + 1, cell - 3, cell - 3);
    if (model.get("row") >= 0) {
      ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5;
      ctx.strokeRect(left + model.get("col") * cell, head + model.get("row") * cell, cell - 1, cell - 1);
    }
    canvas.dataset.painted = "1";
    const readout = h("div", { class: "iwpd-readout" }, "hover a cell; click it for its probe");
    const at = (e) => {
      const b = canvas.getBoundingClientRect();
      const c = Math.floor((e.clientX - b.left - left) / cell), r = Math.floor((e.clientY - b.top - head) / cell);
      return r >= 0 && c >= 0 && r < rows && c < cols ? [r, c] : null;
    };
    canvas.addEventListener("mousemove", (e) => {
      const rc = at(e);
      if (!rc) return;
      const v = grid[rc[0]][rc[1]];
      readout.textContent = `${model.get("row_label")} ${rc[0]}, ${model.get("col_label")} ${rc[1]}: ${model.get("metric")} ${v === null ? "(not fitted yet)" : v.toFixed(3)}`;
    });
    canvas.addEventListener("click", (e) => { const rc = at(e); if (rc) set({ row: rc[0], col: rc[1] }); });
    const scale = h("div", { class: "iwpd-scale" });
    if (accuracyLike) {
      const ramp = h("span");
      ramp.style.cssText = `display:inline-block;width:120px;height:10px;vertical-align:-1px;margin:0 6px;
        background:linear-gradient(to right, ${[0, 0.25, 0.5, 0.75, 1].map((t) => cssColour(t, 1)).join(",")})`;
      scale.append(`${model.get("metric")}: 0.5 (chance)`, ramp, "1.0; orange: the top K");
    }
    return h("div", { class: "iwpd-grid" }, canvas, scale, readout);
  }

  function side() {
    const box = h("div", { class: "iwpd-side" });
    const topList = h("textarea", { class: "iwpd-top", readonly: "" });
    topList.value = JSON.stringify(model.get("top"));
    const copy = h("button", { onclick: () => navigator.clipboard?.writeText(topList.value) }, "copy");
    box.append(h("div", {}, `top ${model.get("k")} (${model.get("row_label")}, ${model.get("col_label")}), best first: `, copy), topList);
    const r = model.get("row"), c = model.get("col");
    const detail = h("div", { class: "iwpd-detail" });
    detail.dataset.drawn = "1";
    box.append(detail);
    if (r < 0) { detail.textContent = "Click a cell to see how its probe separates the classes."; detail.dataset.painted = "1"; return box; }
    const ask = (row, col) => Promise.resolve(model.get("snapshot")?.[`cell/${row}/${col}`] || request("cell", { row, col }));
    ask(r, c).then((cell) => {
      const m = cell.metrics;
      detail.append(h("div", {}, h("b", {}, `${model.get("row_label")} ${r}, ${model.get("col_label")} ${c}`),
        ": " + Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(" · ")));
      if (cell.train) {
        detail.append(h("div", { class: "iwpd-legend" }, "probe score:", h("i", { style: `background:${TRUE}` }), "true",
          h("i", { style: `background:${FALSE}` }), "false"));
        for (const part of ["train", "val"]) {
          detail.append(histogram(part === "train" ? "training split" : "validation split",
            decode(cell[part].score).data, decode(cell[part].positive).data));
        }
      }
      detail.dataset.painted = "1";
    }).catch((err) => { detail.textContent = String(err.message || err); detail.dataset.painted = "1"; });
    return box;
  }

  function draw() {
    root.innerHTML = "";
    if (model.get("error")) root.append(h("div", { class: "iwpd-error" }, model.get("error")));
    root.append(toolbar(), h("div", { class: "iwpd-main" }, gridView(), side()));
  }
  draw();
  for (const t of ["grid", "metric", "metrics", "top", "row", "col", "progress", "error"]) model.on(`change:${t}`, draw);
}

export default { render };
