// AttentionView's drawing that needs no widget state: thumbnails, point colours and their legend, images
// (a ViT's patches as sprites, attention from a patch), and the metadata decoded once.
import { decode } from "../lib/array.js";
import { h } from "../lib/dom.js";
import { KEY, OTHER, PALETTE, QUERY } from "./style.js";

/** The view's metadata (per token: vocabulary index, unit, position, ...) decoded, with helpers. */
export function metaFrom(m) {
  const unit = decode(m.unit).data, n = unit.length;
  const starts = [];
  for (let i = 0; i < n; i++) if (i === 0 || unit[i] !== unit[i - 1]) starts.push(i);
  const meta = { vocab: m.vocab, token: decode(m.token).data, unit, position: decode(m.position).data,
    length: decode(m.length).data, label: m.label ? decode(m.label).data : null, starts, n,
    images: m.images ? decode(m.images) : null };
  // the most frequent tokens get colours, the rest grey
  const counts = new Map();
  for (const t of meta.token) counts.set(t, (counts.get(t) || 0) + 1);
  meta.topTokens = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, PALETTE.length).map(([t]) => t);
  meta.tokensOfUnit = (u) => { const s = starts[u], e = u + 1 < starts.length ? starts[u + 1] : n;
    return Array.from(meta.token.subarray(s, e), (t) => meta.vocab[t]); };
  return meta;
}

/** One head's thumbnail: its queries (first half of the points) and keys, fitted to the canvas. */
export function drawThumb(canvas, coords, off, m, ready) {
  const size = 128;
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, size, size);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < m; i++) {
    const x = coords[off + 2 * i], y = coords[off + 2 * i + 1];
    if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  const s = (size - 10) / Math.max(x1 - x0, y1 - y0, 1e-9);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  for (let i = 0; i < m; i++) {  // queries first half, keys second half
    const c = i < m / 2 ? QUERY : KEY;
    ctx.fillStyle = `rgba(${c},0.55)`;
    ctx.fillRect(size / 2 + (coords[off + 2 * i] - cx) * s - 1.5, size / 2 - (coords[off + 2 * i + 1] - cy) * s - 1.5, 3, 3);
  }
  canvas.style.opacity = ready ? "1" : "0.55";
  canvas.dataset.painted = "1";
}

/** RGBA per point (queries, then keys) for a colouring mode: type, position, token or label. */
export function colours(m, mode) {
  const n = m.n, rgba = new Uint8Array(2 * n * 4);
  for (let r = 0; r < 2 * n; r++) {
    const i = r % n, isKey = r >= n;
    let c;
    if (mode === "position") {
      const t = m.length[i] > 1 ? (m.position[i] - m.position[m.starts[m.unit[i]]]) / (m.length[i] - 1) : 0;
      const base = isKey ? KEY : QUERY;  // light (start of the text) to dark (end)
      c = base.map((v) => Math.round(255 - (255 - v) * (0.25 + 0.75 * t) * (1 + 0.4 * t) / 1.4));
    } else if (mode === "token") {
      const k = m.topTokens.indexOf(m.token[i]);
      c = k >= 0 ? PALETTE[k] : OTHER;
    } else if (mode === "label" && m.label) {
      c = PALETTE[m.label[i] % PALETTE.length];
    } else {
      c = isKey ? KEY : QUERY;
    }
    rgba.set([c[0], c[1], c[2], 200], r * 4);
  }
  return rgba;
}

/** What the colours mean, for the same mode. */
export function legend(m, mode, labelNames) {
  const box = h("div", { class: "iwav-legend" });
  const item = (c, text) => { const i = h("i"); i.style.background = `rgb(${c})`; return h("span", {}, i, text); };
  if (mode === "token") {
    m.topTokens.forEach((t, k) => box.append(item(PALETTE[k], m.vocab[t])));
    box.append(item(OTHER, "other tokens"));
  } else if (mode === "label" && m.label) {
    labelNames.forEach((name, k) => box.append(item(PALETTE[k % PALETTE.length], name)));
  } else if (mode === "position") {
    for (const [c, name] of [[QUERY, "queries"], [KEY, "keys"]]) {
      const ramp = h("div", { class: "iwav-ramp" });
      ramp.style.background = `linear-gradient(to right, rgb(${c.map((v) => 255 - (255 - v) * 0.18)}), rgb(${c}))`;
      box.append(h("div", { style: "width:100%" }, `${name}: first token → last token`, ramp));
    }
  } else {
    box.append(item(QUERY, "queries"), item(KEY, "keys"));
  }
  return box;
}

/** Unit `u`'s image (ViT) on a canvas of its own size. */
export function imageCanvas(m, u) {
  const [, Hh, W] = m.images.shape, c = document.createElement("canvas");
  c.width = W; c.height = Hh;
  const ctx = c.getContext("2d"), img = ctx.createImageData(W, Hh), off = u * Hh * W * 3;
  for (let k = 0; k < Hh * W; k++) img.data.set([m.images.data[off + 3 * k], m.images.data[off + 3 * k + 1], m.images.data[off + 3 * k + 2], 255], 4 * k);
  ctx.putImageData(img, 0, 0);
  return c;
}

/** A ViT's points as image patches: one atlas of every image, and per point (queries, then keys) the
 * rectangle of its patch in it ([CLS] is the whole image). */
export function patchSprites(m, [rows, cols]) {
  const [U, Hh, W] = m.images.shape, px = m.images.data;
  const atlas = document.createElement("canvas");
  atlas.width = W; atlas.height = Hh * U;
  const ctx = atlas.getContext("2d"), img = ctx.createImageData(W, Hh * U);
  for (let k = 0; k < U * Hh * W; k++) img.data.set([px[3 * k], px[3 * k + 1], px[3 * k + 2], 255], 4 * k);
  ctx.putImageData(img, 0, 0);
  const rects = new Float32Array(2 * m.n * 4), ph = Hh / rows, pw = W / cols;
  for (let r = 0; r < 2 * m.n; r++) {
    const i = r % m.n, u = m.unit[i], p = i - m.starts[u];
    rects.set(p === 0 ? [0, u * Hh, W, Hh] : [((p - 1) % cols) * pw, u * Hh + Math.floor((p - 1) / cols) * ph, pw, ph], 4 * r);
  }
  return [atlas, rects];
}

/** `image` on `big` at 4x with each patch dimmed by how little attention `row` gives it (token 0 is
 * [CLS]); the patch attended from (`from` > 0) outlined. */
export function paintAttention(big, image, row, [rows, cols], from) {
  let vmax = 1e-9;
  for (let k = 1; k < row.length; k++) vmax = Math.max(vmax, row[k]);
  big.width = image.width * 4; big.height = image.height * 4;
  const ctx = big.getContext("2d"), ph = big.height / rows, pw = big.width / cols;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(image, 0, 0, big.width, big.height);
  for (let k = 1; k < row.length; k++) {
    ctx.fillStyle = `rgba(0,0,0,${(0.85 * (1 - row[k] / vmax)).toFixed(3)})`;
    ctx.fillRect(((k - 1) % cols) * pw, Math.floor((k - 1) / cols) * ph, pw, ph);
  }
  if (from > 0) {
    ctx.strokeStyle = "#e6550d"; ctx.lineWidth = 3;
    ctx.strokeRect(((from - 1) % cols) * pw, Math.floor((from - 1) / cols) * ph, pw, ph);
  }
}
