// ProbeDashboard's grid: one cell per (row, col) probe, shaded by its metric (chance white for accuracy
// and AUC, the metric's own range otherwise), the top K outlined, the clicked cell framed; its colour
// scale, legend and a readout of the hovered cell. The canvas is repainted in place as probes finish,
// K moves or a cell is clicked; arrow keys move the clicked cell.
import { legend } from "../lib/chart.js";
import { gridKeys, h } from "../lib/dom.js";
import { colourBar, cssColour } from "../lib/heatmap.js";
import { FALSE, PENDING } from "./style.js";

const LEFT = 46, HEAD = 30;  // room for the row and column labels, CSS px
const REPAINT = ["grid", "top", "row", "col", "metric"];

/** The metric's shading: [0, 1] for a value, and its colour bar. */
function shading(model, rows, cell) {
  const metric = model.get("metric"), height = Math.max(120, Math.min(220, rows * cell));
  if (/accuracy|auc/.test(metric)) {
    const shade = (v) => Math.max(0, (v - 0.5) * 2);
    return [shade, colourBar(`${metric} (0.5: chance)`, { vmin: 0.5, vmax: 1, map: (v) => (v - 0.5) * 2,
      ticks: [0.5, 0.6, 0.7, 0.8, 0.9, 1], height })];
  }
  const done = model.get("grid").flat().filter((v) => v !== null);  // other metrics (R², RMSE): their own range
  const lo = done.length ? Math.min(...done) : 0, hi = done.length ? Math.max(...done) : 1;
  const shade = (v) => (v - lo) / ((hi - lo) || 1);
  return [shade, colourBar(metric, { vmin: +lo.toPrecision(3), vmax: +hi.toPrecision(3), map: shade, height })];
}

function paintGrid(canvas, model, cell, shade) {
  const grid = model.get("grid"), [rows, cols] = model.get("shape"), dpr = window.devicePixelRatio || 1;
  canvas.width = (LEFT + cols * cell) * dpr; canvas.height = (HEAD + rows * cell) * dpr;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#444"; ctx.textBaseline = "middle";
  ctx.textAlign = "center";
  ctx.fillText(`${model.get("col_label")} →`, LEFT + (cols * cell) / 2, 8);
  for (let c = 0; c < cols; c++) if (c % Math.ceil((7 * String(cols - 1).length + 4) / cell) === 0) ctx.fillText(`${c}`, LEFT + (c + 0.5) * cell, 22);
  ctx.textAlign = "right";
  for (let r = 0; r < rows; r++) if (r % Math.ceil(14 / cell) === 0) ctx.fillText(`${r}`, LEFT - 6, HEAD + (r + 0.5) * cell);
  ctx.save(); ctx.translate(10, HEAD + (rows * cell) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
  ctx.fillText(`${model.get("row_label")} →`, 0, 0); ctx.restore();
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = grid[r][c];
      ctx.fillStyle = v === null ? PENDING : cssColour(shade(v), 1);
      ctx.fillRect(LEFT + c * cell, HEAD + r * cell, cell - 1, cell - 1);
    }
  }
  ctx.lineWidth = 2; ctx.strokeStyle = FALSE;
  for (const [r, c] of model.get("top")) ctx.strokeRect(LEFT + c * cell + 1, HEAD + r * cell + 1, cell - 3, cell - 3);
  const [sr, sc] = [model.get("row"), model.get("col")];
  if (sr >= 0 && sc >= 0) {
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
    ctx.strokeRect(LEFT + sc * cell - 1, HEAD + sr * cell - 1, cell + 1, cell + 1);
  }
  canvas.dataset.painted = "1";
}

export function gridPart({ model, set }) {
  const [rows, cols] = model.get("shape"), rowLabel = model.get("row_label"), colLabel = model.get("col_label");
  // cells fit 640 x 480 px (a 30-layer model stays on one screen), between 10 and 44 px
  const cell = Math.max(10, Math.min(44, Math.floor(640 / cols), Math.floor(480 / rows)));
  const canvas = h("canvas", { tabindex: 0, role: "grid" });
  Object.assign(canvas.dataset, { cell, left: LEFT, top: HEAD });
  Object.assign(canvas.style, { width: `${LEFT + cols * cell}px`, height: `${HEAD + rows * cell}px` });
  const readout = h("div", { class: "iwpd-readout" }, "hover a cell; click it (or Enter) for its probe");
  const say = (r, c) => {
    const v = model.get("grid")[r][c], top = model.get("top").some(([a, b]) => a === r && b === c);
    readout.textContent = `${rowLabel} ${r}, ${colLabel} ${c}: ${model.get("metric")} `
      + `${v === null ? "(not fitted yet)" : v.toFixed(3)}${top ? " · in the top K" : ""}`;
  };
  const at = (e) => {
    const b = canvas.getBoundingClientRect();
    const c = Math.floor((e.clientX - b.left - LEFT) / cell), r = Math.floor((e.clientY - b.top - HEAD) / cell);
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
  const scaleBox = h("div"), plot = h("div", { class: "iwpd-plot" }, canvas, scaleBox);
  const paint = () => {
    const [shade, scale] = shading(model, rows, cell);
    paintGrid(canvas, model, cell, shade);
    canvas.setAttribute("aria-label", `${model.get("metric")} per ${rowLabel} and ${colLabel}; arrow keys move the selected cell`);
    scaleBox.replaceChildren(scale);  // (not the canvas: a keyboard user keeps its focus)
    const [sr, sc] = [model.get("row"), model.get("col")];
    if (sr >= 0 && sc >= 0) say(sr, sc);  // the clicked (or keyed) cell is read out
  };
  paint();
  const key = legend([[FALSE, "the top K (outlined)"], ["#000", "the clicked cell"], [PENDING, "not fitted yet"]]);
  return {
    el: h("div", { class: "iwpd-grid" }, plot, key, readout),
    update(names) { if (REPAINT.some((t) => names.has(t))) paint(); },
  };
}
