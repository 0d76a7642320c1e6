// AttentionPatterns' "All heads" view: every layer x head as a thumbnail of its pattern, each fetched as
// it scrolls into view. A new selection (from this view or a linked widget) moves the mark in place.
import { gridKeys, h } from "../lib/dom.js";
import { colourBar, paint } from "../lib/heatmap.js";
import { WEIGHT } from "./style.js";

export function gridPart(ctx, text, signal) {
  const { model, set, fetch, missing } = ctx;
  const L = model.get("n_layers"), H = model.get("n_heads");
  const grid = h("div", { class: "iwap-grid", role: "grid", "aria-label": "attention pattern of every head" });
  grid.style.gridTemplateColumns = `28px repeat(${H}, 54px)`;
  grid.append(h("div", { class: "iwap-lab" }, "layer"));
  for (let j = 0; j < H; j++) grid.append(h("div", { class: "iwap-lab" }, `H${j}`));
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting || entry.target.dataset.drawn) continue;
      const c = entry.target;
      c.dataset.drawn = "1";
      fetch("thumb", text, +c.dataset.layer, +c.dataset.head, signal)
        .then(({ data, shape }) => { paint(c, data, shape[0], shape[1]); c.dataset.painted = "1"; })
        .catch(missing(c));
    }
  }, { root: null, rootMargin: "100px" });
  const open = (i, j) => set({ layer: i, head: j, view: "matrix" });
  const onKey = (e, i, j) => {  // arrow keys move between thumbnails, Enter opens one
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(i, j); return; }
    const to = gridKeys(e, i, j, L, H);
    if (to) grid.querySelector(`canvas[data-layer="${to[0]}"][data-head="${to[1]}"]`)?.focus();
  };
  const canvases = [];
  for (let i = 0; i < L; i++) {
    grid.append(h("div", { class: "iwap-lab" }, `L${i}`));
    for (let j = 0; j < H; j++) {
      const c = h("canvas", { "data-layer": i, "data-head": j, title: `layer ${i}, head ${j}`, tabindex: 0,
        role: "gridcell", "aria-label": `layer ${i}, head ${j}: open its matrix`, onclick: () => open(i, j),
        onkeydown: (e) => onKey(e, i, j) });
      grid.append(c);
      observer.observe(c);
      canvases.push([c, i, j]);
    }
  }
  const mark = () => {
    for (const [c, i, j] of canvases) c.classList.toggle("sel", i === model.get("layer") && j === model.get("head"));
  };
  mark();
  const title = h("div", { class: "iwap-axis" }, "heads (columns) by layer (rows); each thumbnail: query (rows) x key (columns)");
  return {
    el: h("div", {}, title, h("div", { class: "iwap-models" }, grid, colourBar(WEIGHT))),
    update(names) {
      if (names.has("text_index")) return false;
      if (names.has("layer") || names.has("head")) mark();
      return true;
    },
    destroy: () => observer.disconnect(),
  };
}
