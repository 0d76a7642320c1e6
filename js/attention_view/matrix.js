// AttentionView's matrix view: every head as a thumbnail scatter of its queries and keys, in layer order
// or sorted by a statistic. A new selection moves the mark and new projections repaint the thumbnails
// in place (the grid keeps its scroll position); a new sort rebuilds the part.
import { decode } from "../lib/array.js";
import { legend as swatches } from "../lib/chart.js";
import { h, select } from "../lib/dom.js";
import { touches } from "../lib/parts.js";
import { drawThumb } from "./paint.js";
import { KEY, QUERY } from "./style.js";

const REPAINT = ["projection", "dim", "normalize", "ready"];

function cellsInOrder(L, H, values) {  // [layer, head] pairs; by value (no value last) when given
  const cells = [];
  for (let i = 0; i < L; i++) for (let j = 0; j < H; j++) cells.push([i, j]);
  if (values) cells.sort(([a, b], [c, d]) => (values[a][b] ?? Infinity) - (values[c][d] ?? Infinity));
  return cells;
}

export function matrixPart(ctx, signal) {
  const { model, set } = ctx;
  const L = model.get("n_layers"), H = model.get("n_heads"), sortBy = model.get("sort_by");
  const stats = model.get("stats"), sorted = sortBy !== "layer";
  const sorter = select("iwav-sort", [["layer", "layer order"], ...Object.keys(stats).map((k) => [k, `sorted by ${k}`])],
    sortBy, (v) => set({ sort_by: v }), false, "sort heads by");
  const hint = sorted ? `${model.get("stat_help")[sortBy]}; click a head to open it` : "click a head to open it";
  const grid = h("div", { class: "iwav-grid" });
  grid.style.gridTemplateColumns = sorted ? `repeat(${Math.min(H, 12)}, 70px)` : `28px repeat(${H}, 70px)`;
  const thumbs = [];  // [canvas, cell, layer, head]
  for (const [i, j] of cellsInOrder(L, H, sorted ? stats[sortBy] : null)) {
    if (!sorted && j === 0) grid.append(h("div", { class: "iwav-lab" }, `L${i}`));
    const c = h("canvas", { "data-layer": i, "data-head": j, title: `layer ${i}, head ${j}` });
    c.dataset.drawn = "1";
    const v = sorted ? stats[sortBy][i][j] : null;
    const cell = h("div", { class: "iwav-thumb", onclick: () => set({ layer: i, head: j, view: "head", query: -1 }) }, c,
      h("span", {}, sorted ? `L${i}H${j} ${v === null ? "n/a" : v.toFixed(2)}` : `H${j}`));
    grid.append(cell);
    thumbs.push([c, cell, i, j]);
  }
  const mark = () => {
    for (const [, cell, i, j] of thumbs) cell.classList.toggle("sel", i === model.get("layer") && j === model.get("head"));
  };
  mark();
  let timer = null;
  const paintAll = () => {
    const coords = decode(ctx.thumbs.coords), ready = decode(ctx.thumbs.ready).data, [, Hh, m] = coords.shape;
    for (const [c, , i, j] of thumbs) drawThumb(c, coords.data, (i * Hh + j) * m * 2, m, ready[i * Hh + j]);
  };
  const fetch = () => ctx.ask("thumbs", {}, signal).then((t) => { ctx.thumbs = t; paintAll(); }).catch(ctx.showError);
  if (ctx.thumbs) paintAll();
  else fetch();
  const el = h("div", {}, h("div", { class: "iwav-bar" }, sorter,
    swatches([[`rgb(${QUERY})`, "queries"], [`rgb(${KEY})`, "keys"]]), h("span", { class: "iwav-progress" }, hint)), grid);
  return {
    el,
    update(names) {
      if (touches(names, ["sort_by", "stats"])) return false;
      if (names.has("layer") || names.has("head")) mark();
      if (touches(names, REPAINT)) {  // projections arrive in bursts: one fetch when a burst pauses for 0.5 s
        clearTimeout(timer);
        timer = setTimeout(fetch, names.has("ready") ? 500 : 0);
      }
      return true;
    },
    destroy() { clearTimeout(timer); },
  };
}
