// Small SVG charts with real axes: ticks at round values, axis titles, a legend. Used by the
// dashboard's histograms and ITIView's curves.
import { svgEl } from "./dom.js";
import { niceTicks } from "./heatmap.js";

const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(0) : String(+v.toPrecision(3)));

/** A linear map from [d0, d1] to [r0, r1], with round ticks inside the domain. */
export function scale(d0, d1, r0, r1) {
  const b = d1 === d0 ? d0 + 1 : d1;
  const map = (v) => r0 + ((v - d0) / (b - d0)) * (r1 - r0);
  map.ticks = (n = 5) => niceTicks(d0, b, n);
  return map;
}

/**
 * A chart frame: `svg` with a plot area, axes with ticks and titles. Returns {svg, x, y} where x and y
 * map data to pixels. `x`/`y`: {min, max, title, ticks}.
 */
export function frame({ width = 300, height = 160, x, y, title = "", margin = {} }) {
  const m = { left: 46, right: 10, top: title ? 20 : 8, bottom: 34, ...margin };
  const svg = svgEl("svg", { width, height, class: "iw-chart", role: "img", "aria-label": title || `${y.title} against ${x.title}` });
  const sx = scale(x.min, x.max, m.left, width - m.right);
  const sy = scale(y.min, y.max, height - m.bottom, m.top);
  if (title) svg.append(svgEl("text", { x: m.left, y: 12, "font-size": 11, fill: "#222", "font-weight": 600 }, title));
  const axes = svgEl("g", { "font-size": 10, fill: "#444" });
  axes.append(svgEl("line", { x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom, stroke: "#888" }),
    svgEl("line", { x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom, stroke: "#888" }));
  for (const t of sx.ticks(x.ticks || 5)) {
    const px = sx(t);
    axes.append(svgEl("line", { x1: px, x2: px, y1: height - m.bottom, y2: height - m.bottom + 4, stroke: "#888" }),
      svgEl("text", { x: px, y: height - m.bottom + 14, "text-anchor": "middle" }, fmt(t)));
  }
  for (const t of sy.ticks(y.ticks || 4)) {
    const py = sy(t);
    axes.append(svgEl("line", { x1: m.left - 4, x2: m.left, y1: py, y2: py, stroke: "#888" }),
      svgEl("line", { x1: m.left, x2: width - m.right, y1: py, y2: py, stroke: "#eee" }),
      svgEl("text", { x: m.left - 6, y: py + 3, "text-anchor": "end" }, fmt(t)));
  }
  axes.append(svgEl("text", { x: (m.left + width - m.right) / 2, y: height - 4, "text-anchor": "middle", "font-size": 11 }, x.title),
    svgEl("text", { x: 11, y: (m.top + height - m.bottom) / 2, "text-anchor": "middle", "font-size": 11,
      transform: `rotate(-90 11 ${(m.top + height - m.bottom) / 2})` }, y.title));
  svg.append(axes);
  return { svg, x: sx, y: sy, area: { left: m.left, right: width - m.right, top: m.top, bottom: height - m.bottom } };
}

/** A legend row: [[colour, label, dashed?], ...] as swatches and text (meaning by label, not colour alone). */
export function legend(items, cls = "iw-legend") {
  const box = document.createElement("div");
  box.className = cls;
  box.style.cssText = "display:flex;gap:12px;flex-wrap:wrap;font-size:11px;color:#333;align-items:center";
  for (const [colour, label, dashed] of items) {
    const s = svgEl("svg", { width: 18, height: 10 });
    s.append(dashed ? svgEl("line", { x1: 0, x2: 18, y1: 5, y2: 5, stroke: colour, "stroke-width": 2, "stroke-dasharray": "4,3" })
      : svgEl("rect", { x: 2, y: 0, width: 14, height: 10, fill: colour, "fill-opacity": 0.7 }));
    const item = document.createElement("span");
    item.append(s, ` ${label}`);
    box.append(item);
  }
  return box;
}
