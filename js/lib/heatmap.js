// Colour scales and a canvas heatmap that stays fast for large matrices (one ImageData, no DOM per cell).
import { svgEl } from "./dom.js";

const BLUES = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
const NAN_RGB = [230, 85, 13];  // NaN is shown, in orange, not hidden

function table(stops) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (stops.length - 1);
    const j = Math.min(Math.floor(x), stops.length - 2);
    const f = x - j;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = stops[j][c] + f * (stops[j + 1][c] - stops[j][c]);
  }
  return lut;
}
export const blues = table(BLUES);
// inferno (matplotlib's, sampled at 7 points): saliency maps; red-white-blue: signed attributions
export const inferno = table([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
  [252, 255, 164]]);
export const redBlue = table([[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]]);

export function cssColour(value, vmax = 1, lut = blues) {
  if (!Number.isFinite(value)) return `rgb(${NAN_RGB})`;
  const i = Math.max(0, Math.min(255, Math.round((value / vmax) * 255)));
  return `rgb(${lut[i * 3]},${lut[i * 3 + 1]},${lut[i * 3 + 2]})`;
}

/** Paint a rows x cols matrix (row-major data) into a canvas, one cell per pixel, scaled by CSS. */
export function paint(canvas, data, rows, cols, { vmax = 1, lut = blues } = {}) {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  for (let k = 0; k < rows * cols; k++) {
    const v = data[k];
    let r, g, b;
    if (Number.isFinite(v)) {
      const i = Math.max(0, Math.min(255, Math.round((v / vmax) * 255))) * 3;
      r = lut[i]; g = lut[i + 1]; b = lut[i + 2];
    } else {
      [r, g, b] = NAN_RGB;
    }
    img.data[k * 4] = r; img.data[k * 4 + 1] = g; img.data[k * 4 + 2] = b; img.data[k * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  canvas.style.imageRendering = "pixelated";
}

/** Round tick values across [lo, hi] (1, 2 or 5 times a power of ten apart), about `count` of them. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count - 1), mag = 10 ** Math.floor(Math.log10(raw));
  const ticks = (step) => {
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  };
  // the smallest round step at least the raw one; a smaller one where that leaves fewer than 3 ticks
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10].map((m) => m * mag);
  const first = steps.findIndex((s) => s >= raw);
  for (let i = first; i > 0; i--) { const out = ticks(steps[i]); if (out.length >= 3) return out; }
  return ticks(steps[first]);
}

/** A vertical colour bar for a heatmap: the scale from vmin to vmax, ticks, and the quantity with its units. */
export function colourBar(label, { vmin = 0, vmax = 1, lut = blues, height = 150, map = (v) => v / vmax, ticks = null } = {}) {
  const W = 58, bar = 12, top = 8, id = `iwcb${Math.random().toString(36).slice(2)}`, el = svgEl;
  const svg = el("svg", { class: "iw-colourbar", width: W, height: height + 2 * top, role: "img",
    "aria-label": `colour scale: ${label}, ${vmin} to ${vmax}` });
  const grad = el("linearGradient", { id, x1: 0, x2: 0, y1: 1, y2: 0 });
  for (let s = 0; s <= 10; s++) {
    const v = vmin + (s / 10) * (vmax - vmin);
    grad.append(el("stop", { offset: `${s * 10}%`, "stop-color": cssColour(map(v), 1, lut) }));
  }
  svg.append(el("defs", {}), el("rect", { x: 0, y: top, width: bar, height, fill: `url(#${id})`, stroke: "#999", "stroke-width": 0.5 }));
  svg.firstChild.append(grad);
  for (const t of ticks || niceTicks(vmin, vmax, 5)) {
    const y = top + height - ((t - vmin) / (vmax - vmin || 1)) * height;
    svg.append(el("line", { x1: bar, x2: bar + 4, y1: y, y2: y, stroke: "#555" }),
      el("text", { x: bar + 6, y: y + 3.5, "font-size": 10, fill: "#333" }, String(t)));
  }
  const title = el("text", { x: W - 4, y: top + height / 2, "font-size": 11, fill: "#333", "text-anchor": "middle",
    transform: `rotate(-90 ${W - 4} ${top + height / 2})` }, label);
  svg.append(title);
  return svg;
}
