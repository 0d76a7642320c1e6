// BertViz-style lines: every query token (left) to the key tokens (right) it attends to, as an SVG.
// Shared by AttentionPatterns' "Lines" view and AttentionView's sentence view.
import { svgEl } from "./dom.js";

const MIN_WEIGHT = 0.01;  // lines below this are not drawn: long texts stay fast

export const LINES_CSS = `
.iw-lines text { font-size: 12px; cursor: pointer; dominant-baseline: middle; }
.iw-lines text.on { font-weight: bold; fill: #08306b; }
.iw-lines line { stroke: #2171b5; }
.iw-lines.focus line:not(.on) { display: none; }
`;

/**
 * An <svg> of lines for a [n, m] row-major pattern. `onQuery(i)` is called when a query token is
 * hovered, and with -1 when the pointer leaves; `focus` (a query index) starts with that token's lines
 * alone on screen.
 */
export function linesView(tokens, keys, data, { onQuery = null, focus = -1, width = 420 } = {}) {
  const n = tokens.length, m = keys.length;
  const row = 20, pad = 8, x0 = 150, x1 = width - 150;
  const svg = svgEl("svg", { class: "iw-lines", width, height: Math.max(n, m) * row + 2 * pad });
  const y = (i) => pad + i * row + row / 2;
  const lines = [];
  for (let q = 0; q < n; q++) {
    for (let k = 0; k < m; k++) {
      const w = data[q * m + k];
      if (!(w >= MIN_WEIGHT)) continue;
      const l = svgEl("line", { x1: x0, y1: y(q), x2: x1, y2: y(k), "stroke-opacity": Math.min(1, w).toFixed(3),
        "stroke-width": (0.5 + 2.5 * w).toFixed(2) });
      l.dataset.q = q; l.dataset.k = k;
      lines.push(l);
      svg.append(l);
    }
  }
  const label = (t, i, side) => {
    const e = svgEl("text", { x: side === "q" ? x0 - 8 : x1 + 8, y: y(i), "text-anchor": side === "q" ? "end" : "start" }, t);
    e.dataset.side = side;
    e.dataset.index = i;
    return e;
  };
  tokens.forEach((t, i) => svg.append(label(t, i, "q")));
  keys.forEach((t, i) => svg.append(label(t, i, "k")));
  const highlight = (side, i) => {
    svg.classList.add("focus");
    svg.querySelectorAll(".on").forEach((x) => x.classList.remove("on"));
    svg.querySelector(`text[data-side="${side}"][data-index="${i}"]`)?.classList.add("on");
    lines.forEach((l) => { if (l.dataset[side] === String(i)) l.classList.add("on"); });
  };
  svg.addEventListener("mouseover", (e) => {
    const t = e.target.closest("text");
    if (!t) return;
    highlight(t.dataset.side, t.dataset.index);
    if (t.dataset.side === "q" && onQuery) onQuery(+t.dataset.index);
  });
  svg.addEventListener("mouseleave", () => {
    svg.classList.remove("focus");
    svg.querySelectorAll(".on").forEach((x) => x.classList.remove("on"));
    if (focus >= 0) highlight("q", focus);
    onQuery?.(-1);  // the pointer left: no query is hovered
  });
  if (focus >= 0) highlight("q", focus);
  return svg;
}
