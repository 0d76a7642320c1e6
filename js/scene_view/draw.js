// Stateless drawing for SceneProbeView: RGB images and value maps into canvases at their own resolution
// (scaled by CSS, pixelated), masks as a tint or an outline, and a captioned panel.
import { h } from "../lib/dom.js";
import { blues, colourBar } from "../lib/heatmap.js";

export const SCALE = 4;  // screen pixels per image pixel

/** A canvas of w x h image pixels shown SCALE times larger. */
export function canvas(w, hgt, label) {
  const c = h("canvas", { width: w, height: hgt, role: "img", "aria-label": label });
  c.style.width = `${w * SCALE}px`;
  c.style.height = `${hgt * SCALE}px`;
  c.style.imageRendering = "pixelated";
  return c;
}

const isEdge = (mask, w, hgt, i) => {
  if (!mask[i]) return false;
  const x = i % w, y = (i - x) / w;
  return x === 0 || y === 0 || x === w - 1 || y === hgt - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w];
};

/**
 * Paint `rgb` (uint8, h*w*3) into `c`; `tint` (a mask, 0/1 per pixel, and its colour) blends over it, and
 * each of `outlines` ([mask, [r, g, b]]) draws its boundary.
 */
export function paintRGB(c, rgb, w, hgt, { tint = null, tintColour = [230, 85, 13], outlines = [] } = {}) {
  const ctx = c.getContext("2d"), img = ctx.createImageData(w, hgt);
  for (let i = 0; i < w * hgt; i++) {
    let px = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
    if (tint && tint[i]) px = px.map((v, k) => 0.45 * v + 0.55 * tintColour[k]);
    for (const [mask, colour] of outlines) if (isEdge(mask, w, hgt, i)) px = colour;
    img.data.set([px[0], px[1], px[2], 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

/** Paint a value map (0..vmax) with the blues scale. */
export function paintMap(c, values, w, hgt, vmax = 1) {
  const ctx = c.getContext("2d"), img = ctx.createImageData(w, hgt);
  for (let i = 0; i < w * hgt; i++) {
    const v = values[i], k = Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round((v / vmax) * 255))) * 3 : -1;
    img.data.set(k < 0 ? [230, 85, 13, 255] : [blues[k], blues[k + 1], blues[k + 2], 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

/** A panel: a title above the canvas, a caption below. */
export function panel(title, c, caption = "") {
  const cap = h("div", { class: "iwsc-cap" }, caption);
  const el = h("figure", { class: "iwsc-panel" }, h("figcaption", {}, title), c, cap);
  el.caption = (text) => { cap.textContent = text; };
  return el;
}

/** The two colour scales the maps use: disparity and the mask's probability. */
export function scales(height) {
  return h("div", { class: "iwsc-scales" },
    colourBar("disparity (1 = near)", { vmin: 0, vmax: 1, height }),
    colourBar("P(object)", { vmin: 0, vmax: 1, height }));
}

/** The mask (uint8 0/1, h x w) moved by (dx, dy), emptied where it comes from off the image. */
export function shifted(mask, w, hgt, dx, dy) {
  const out = new Uint8Array(w * hgt);
  for (let y = 0; y < hgt; y++) {
    for (let x = 0; x < w; x++) {
      const sx = x - dx, sy = y - dy;
      if (sx >= 0 && sy >= 0 && sx < w && sy < hgt) out[y * w + x] = mask[sy * w + sx];
    }
  }
  return out;
}
