// AttentionPatterns' views of one head: "Lines" (each query token to the key tokens it attends to) and
// "Matrix" (query x key, with its colour scale, token labels, zoom and a hover readout). Each is rebuilt
// when the layer, head or text changes; the matrix follows `hovered` in place.
import { h, select } from "../lib/dom.js";
import { colourBar, cssColour, paint } from "../lib/heatmap.js";
import { linesView } from "../lib/lines.js";
import { touches } from "../lib/parts.js";
import { WEIGHT } from "./style.js";

const SHOWN = ["layer", "head", "text_index"];
const follows = (names) => !touches(names, SHOWN);

/** What a failed fetch leaves: the message in place (the banner says it too). */
function failed(ctx, part, holder) {
  return (err) => {
    if (err.name === "AbortError") return;  // the part went: nothing to say
    ctx.missing(part)(err);
    holder.append(h("div", { class: "iwap-missing" }, String(err.message || err)));
  };
}

export function linesPart(ctx, text, signal) {
  const { model, set } = ctx, layer = model.get("layer"), head = model.get("head");
  const holder = h("div");
  holder.dataset.drawn = "1";
  ctx.fetch("pattern", text, layer, head, signal).then(({ data }) => {
    holder.append(linesView(model.get("tokens")[text], ctx.keyTokens(text), data,
      { onQuery: (q) => set({ hovered: q < 0 ? [-1, -1] : [q, -1] }) }));
    holder.dataset.painted = "1";
  }).catch(failed(ctx, holder, holder));
  const title = `layer ${layer}, head ${head}: each token (left) to the tokens it attends to (right), line opacity = `
    + "attention weight; hover a token";
  return { el: h("div", {}, h("div", { class: "iwap-title" }, title), holder), update: follows };
}

/** The token labels beside and above a matrix of `cell`-px cells. */
function tokenAxes(tokens, keys, cell, labelled) {
  const ytok = h("div", { class: "iwap-ytok" }), xtok = h("div", { class: "iwap-xtok" });
  xtok.style.height = labelled ? "70px" : "0px";
  if (labelled) {
    for (const t of tokens) {
      const d = h("div", {}, t);
      Object.assign(d.style, { height: `${cell}px`, fontSize: `${Math.min(11, cell - 1)}px` });
      ytok.append(d);
    }
    keys.forEach((t, k) => { const d = h("div", {}, t); Object.assign(d.style, { left: `${k * cell + cell / 2}px`, bottom: "0px" }); xtok.append(d); });
  }
  return [ytok, xtok];
}

export function matrixPart(ctx, text, signal) {
  const { model, set } = ctx, tokens = model.get("tokens")[text], keys = ctx.keyTokens(text);
  const n = tokens.length, m = keys.length, zoom = ctx.zoom, layer = model.get("layer"), head = model.get("head");
  const cell = (Math.min(24 * Math.max(n, m), 560) / Math.max(n, m)) * zoom;  // long texts: scaled, then zoomed
  const labelled = cell >= 8 && zoom === 1;
  const canvas = h("canvas", { class: "iwap-canvas", role: "img", "aria-label": "attention matrix" });
  Object.assign(canvas.style, { width: `${cell * m}px`, height: `${cell * n}px` });
  const mark = h("div", { class: "iwap-mark" });
  mark.hidden = true;
  mark.style.width = mark.style.height = `${cell}px`;
  const zoomSel = select("iwap-zoom", [1, 2, 4, 8, 16].map((z) => [z, `zoom ${z}x`]), zoom,
    (v) => { ctx.zoom = v; ctx.rebuild(); }, true, "zoom");
  const scroller = h("div", { class: "iwap-scroll" }, canvas, mark);
  Object.assign(scroller.style, { maxWidth: "580px", maxHeight: "580px", overflow: "auto" });
  const [ytok, xtok] = tokenAxes(tokens, keys, cell, labelled);
  const readout = h("div", { class: "iwap-readout" }, labelled ? "hover a cell to read its weight" : `${n} tokens: hover the matrix to read them`);
  const el = h("div", {},
    h("div", { class: "iwap-title" }, `layer ${layer}, head ${head}: how much each query token (row) attends to each key token (column) `, zoomSel),
    h("div", { class: "iwap-matrix" }, h("div"), h("div"), h("div", { class: "iwap-axis iwap-xtitle" }, "key →"), h("div"),
      h("div"), h("div"), xtok, h("div"),
      h("div", { class: "iwap-axis iwap-ytitle" }, "query →"), ytok, scroller, colourBar(WEIGHT, { height: Math.min(200, cell * n) })),
    readout);
  let data = null;
  const show = () => {  // the hovered cell: marked, and read out
    const [q, k] = model.get("hovered");
    if (!data || q < 0 || k < 0 || q >= n || k >= m) { mark.hidden = true; return; }
    mark.hidden = false;
    Object.assign(mark.style, { left: `${k * cell}px`, top: `${q * cell}px` });
    const v = data[q * m + k];
    readout.replaceChildren(`${tokens[q]} (query ${q}) → ${keys[k]} (key ${k}): `, h("b", {}, Number.isFinite(v) ? v.toFixed(3) : String(v)));
    Object.assign(readout.style, { borderLeft: `12px solid ${cssColour(v)}`, paddingLeft: "6px" });
  };
  canvas.dataset.drawn = "1";
  ctx.fetch("pattern", text, layer, head, signal).then((p) => {
    data = p.data;
    paint(canvas, data, n, m);
    canvas.dataset.painted = "1";
    show();
    canvas.addEventListener("mousemove", (e) => {
      const r = canvas.getBoundingClientRect();
      const q = Math.floor(((e.clientY - r.top) / r.height) * n), k = Math.floor(((e.clientX - r.left) / r.width) * m);
      const [hq, hk] = model.get("hovered");
      if (q < 0 || k < 0 || q >= n || k >= m || (q === hq && k === hk)) return;
      set({ hovered: [q, k] });
    });
    canvas.addEventListener("mouseleave", () => set({ hovered: [-1, -1] }));
  }).catch(failed(ctx, canvas, scroller));
  return { el, update: (names) => { if (names.has("hovered")) show(); return follows(names); } };
}
