// Canvas2D painting: the fallback renderer's points, and the overlay (sprites, lines, selection rectangle) that
// both renderers draw on top.

import { drawOrder, screen, topOrder } from "./geometry.js";
import { FADE, HL_ADD, HL_GROW, HL_LINE, LINE, OUTLINE } from "./style.js";

export function paint2D(S) {
  const { ctx, n, W, H, colors, vis, pointSize } = S;
  ctx.clearRect(0, 0, W, H);
  if (!n || S.sprites) return;
  const { x, y } = screen(S), idx = drawOrder(S), tau = 2 * Math.PI;
  ctx.globalAlpha = S.hl.length ? FADE : 1;
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k] : k, r = (pointSize * vis[i]) / 2;
    if (!(r > 0) || x[i] < -r || x[i] > W + r || y[i] < -r || y[i] > H + r) continue;
    ctx.fillStyle = `rgba(${colors[4 * i]},${colors[4 * i + 1]},${colors[4 * i + 2]},${colors[4 * i + 3] / 255})`;
    ctx.beginPath(); ctx.arc(x[i], y[i], r, 0, tau); ctx.fill();
  }
  Object.assign(ctx, { globalAlpha: 1, strokeStyle: OUTLINE, lineWidth: HL_LINE });
  for (const i of topOrder(S)) {
    const r = (pointSize * vis[i] * HL_GROW + HL_ADD - HL_LINE) / 2;
    ctx.fillStyle = `rgb(${colors[4 * i]},${colors[4 * i + 1]},${colors[4 * i + 2]})`;
    ctx.beginPath(); ctx.arc(x[i], y[i], r, 0, tau); ctx.fill(); ctx.stroke();
  }
}

export function paintOverlay(S) {
  const { octx, n, hl, vis, sprites, lines, rect } = S;
  octx.clearRect(0, 0, S.W, S.H);
  const { x, y } = sprites || lines ? screen(S) : {};  // no O(n) projection per frame when there is nothing here
  if (sprites && n) {
    const { image, rects, size } = sprites, idx = drawOrder(S), on = new Uint8Array(n);
    for (const i of hl) on[i] = 1;
    octx.globalAlpha = hl.length ? FADE : 1;
    for (let k = 0; k < n; k++) {
      const i = idx ? idx[k] : k, s = size * vis[i];
      if (s > 0 && !on[i]) octx.drawImage(image, ...rects.subarray(4 * i, 4 * i + 4), x[i] - s / 2, y[i] - s / 2, s, s);
    }
    Object.assign(octx, { globalAlpha: 1, strokeStyle: OUTLINE, lineWidth: HL_LINE });
    for (const i of topOrder(S)) {
      const s = size * vis[i] * HL_GROW;
      octx.drawImage(image, ...rects.subarray(4 * i, 4 * i + 4), x[i] - s / 2, y[i] - s / 2, s, s);
      octx.strokeRect(x[i] - s / 2, y[i] - s / 2, s, s);
    }
  }
  if (lines && Number.isFinite(x[lines.from])) {
    const { from, to, weights } = lines;
    Object.assign(octx, { strokeStyle: LINE, lineCap: "round" });
    for (let k = 0; k < to.length; k++) {
      const i = to[k], w = Math.min(1, weights[k]);
      if (!(w > 0) || !Number.isFinite(x[i])) continue;
      octx.globalAlpha = 0.15 + 0.85 * w;
      octx.lineWidth = 0.5 + 3 * w;
      octx.beginPath(); octx.moveTo(x[from], y[from]); octx.lineTo(x[i], y[i]); octx.stroke();
    }
    octx.globalAlpha = 1;
  }
  if (rect) {
    const [x0, y0, x1, y1] = rect;
    Object.assign(octx, { fillStyle: "rgba(33,113,181,0.12)", strokeStyle: "rgb(33,113,181)", lineWidth: 1 });
    octx.fillRect(x0, y0, x1 - x0, y1 - y0);
    octx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  }
}
