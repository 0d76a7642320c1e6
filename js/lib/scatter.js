// A scatter plot that stays smooth with 100,000+ points: WebGL2 gl.POINTS (a Canvas2D fallback with the same API
// where WebGL2 is missing), 2-D (drag pans, wheel zooms about the cursor) or 3-D (drag orbits about the data centre).
// Lines, image sprites and the selection rectangle go on a 2-D overlay canvas: they are few, and need wide lines.
// Picking goes through a screen-space grid built lazily once the view has changed, so a mousemove is not O(n).
// The parts, in scatter/, share one plain state object `S`: gl.js (the WebGL pass), canvas2d.js (the fallback and
// the overlay), geometry.js (projection, depth order, picking), pointer.js (the listeners), style.js (the looks).

import { paint2D, paintOverlay } from "./scatter/canvas2d.js";
import { bounds, fitView, pick, screen } from "./scatter/geometry.js";
import { freeGL, initGL, paintGL, upload, uploadPositions } from "./scatter/gl.js";
import { listen } from "./scatter/pointer.js";
import { GREY } from "./scatter/style.js";

function layers(container, W, H, background) {  // the points' canvas under the overlay's, in a sized wrapper
  const wrap = document.createElement("div");
  wrap.style.cssText = `position:relative;width:${W}px;height:${H}px;background:${background}`;
  const canvas = document.createElement("canvas"), overlay = document.createElement("canvas");
  for (const c of [canvas, overlay]) c.style.cssText = `position:absolute;left:0;top:0;width:${W}px;height:${H}px`;
  overlay.style.touchAction = "none";  // drags pan/orbit instead of scrolling on touch screens
  overlay.style.cursor = "crosshair";
  wrap.append(canvas, overlay);
  container.append(wrap);
  return { wrap, canvas, overlay };
}

function paint(S) {
  const { canvas, overlay, ctx, octx, W, H } = S;
  S.frame = 0;
  const dpr = window.devicePixelRatio || 1, bw = Math.round(W * dpr), bh = Math.round(H * dpr);
  if (canvas.width !== bw || canvas.height !== bh) {  // also follows a browser zoom, at the next redraw
    for (const c of [canvas, overlay]) { c.width = bw; c.height = bh; }
    S.baseDirty = true;
  }
  for (const c of [ctx, octx]) c?.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (S.baseDirty) S.gl ? paintGL(S, dpr) : paint2D(S);
  S.baseDirty = false;
  paintOverlay(S);
  canvas.dataset.painted = "1";
}

function updateSizes(S) {
  S.vis = new Float32Array(S.n);
  for (let i = 0; i < S.n; i++) S.vis[i] = S.finite[i] ? (S.scales ? S.scales[i] : 1) : 0;
  upload(S, "size", S.vis);
}

function need(what, data, length) {
  if (data.length !== length) throw new Error(`scatter ${what}: ${length} values expected, got ${data.length}`);
}

export function createScatter(container, {
  width = 560, height = 560, pointSize = 3, background = "#ffffff",
  onHover = null, onClick = null, onSelect = null, renderer = "webgl",
} = {}) {
  const { wrap, canvas, overlay } = layers(container, width, height, background);
  const gl = renderer === "webgl"
    ? canvas.getContext("webgl2", { antialias: false, depth: false, premultipliedAlpha: true }) : null;
  const S = {
    W: width, H: height, pointSize, canvas, overlay, gl, G: gl && initGL(gl),
    ctx: gl ? null : canvas.getContext("2d"), octx: overlay.getContext("2d"),
    // Data. `vis` is each point's size multiplier, 0 for points that are not drawn (NaN coordinates, size 0).
    n: 0, dim: 2, pos: new Float32Array(0), finite: new Uint8Array(0), vis: new Float32Array(0),
    colors: new Uint8Array(0), scales: null, hl: new Int32Array(0), lines: null, sprites: null,
    centre: [0, 0, 0], extent: [0, 0, 0], radius: 1,
    view: { scale: 1, fit: 1, ox: width / 2, oy: height / 2, rot: [1, 0, 0, 0, 1, 0, 0, 0, 1] },
    // Caches of what depends on where points land on screen; `stamp` changes whenever that does.
    stamp: 0, proj: null, grid: null, order: null, orderSent: -1,
    frame: 0, baseDirty: true, hovered: -1, drag: null, rect: null,
  };

  function redraw(base = true) {
    S.baseDirty ||= base;
    delete canvas.dataset.painted;
    if (!S.frame) S.frame = requestAnimationFrame(() => paint(S));
  }
  function changed() { S.stamp++; redraw(); }
  function resetView() { fitView(S); changed(); }
  const unlisten = listen(S, { onHover, onClick, onSelect, redraw, changed });

  return {
    canvas,
    setPoints(positions, d) {
      if (d !== 2 && d !== 3) throw new Error(`scatter setPoints: dim must be 2 or 3, got ${d}`);
      const m = Math.floor(positions.length / d);
      if (m !== S.n) {  // per-point settings refer to the old points
        S.colors = new Uint8Array(4 * m).map((_, i) => GREY[i % 4]);
        upload(S, "color", S.colors);
        S.scales = S.lines = S.sprites = null;
        S.hl = new Int32Array(0);
      }
      S.n = m;
      S.dim = d;
      S.pos = new Float32Array(positions).subarray(0, m * d);  // a copy: the caller may reuse its array
      Object.assign(S, bounds(S.pos, d));
      uploadPositions(S);
      updateSizes(S);
      canvas.dataset.drawn = "1";
      resetView();
    },
    setColors(rgba) {
      need("setColors", rgba, 4 * S.n);
      S.colors = new Uint8Array(rgba);
      upload(S, "color", S.colors);
      redraw();
    },
    setSizes(scale) {
      if (scale) need("setSizes", scale, S.n);
      S.scales = scale && Float32Array.from(scale);
      updateSizes(S);
      changed();  // points of size 0 are neither drawn nor picked
    },
    setHighlight(indices) {
      S.hl = Int32Array.from(indices ?? []).filter((i) => i >= 0 && i < S.n);
      redraw();
    },
    highlighted: () => Array.from(S.hl),
    setLines(from, to, weights) {
      if (from != null) need("setLines", weights, to.length);
      S.lines = from == null ? null : { from, to: Int32Array.from(to), weights: Float32Array.from(weights) };
      redraw(false);
    },
    setSprites(image, rects, sizePx = 14) {
      if (image) need("setSprites", rects, 4 * S.n);
      S.sprites = image ? { image, rects: Float32Array.from(rects), size: sizePx } : null;
      if (image instanceof HTMLImageElement && !image.complete) image.addEventListener("load", () => redraw(), { once: true });
      redraw();
    },
    resetView,
    resize(w, h) {
      S.view.ox += (w - S.W) / 2;  // the view's centre stays in the centre
      S.view.oy += (h - S.H) / 2;
      Object.assign(S, { W: w, H: h });
      for (const e of [wrap, canvas, overlay]) { e.style.width = `${w}px`; e.style.height = `${h}px`; }
      changed();
    },
    pick: (px, py) => pick(S, px, py),
    project(i) {
      const { x, y } = screen(S);
      return i >= 0 && i < S.n ? [x[i], y[i]] : [NaN, NaN];
    },
    redraw,
    destroy() {
      cancelAnimationFrame(S.frame);
      unlisten();
      if (gl) freeGL(S);
      wrap.remove();
    },
  };
}
