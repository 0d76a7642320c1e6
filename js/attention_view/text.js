// AttentionView's views of one text: the sentence view (each token's lines to the tokens it attends to)
// and, for a ViT, the image view (attention from one patch, the others dimmed). Each is redrawn whole
// when the layer, head, text or query changes: that is all it shows.
import { decode } from "../lib/array.js";
import { h, select } from "../lib/dom.js";
import { linesView } from "../lib/lines.js";
import { touches } from "../lib/parts.js";
import { imageCanvas, paintAttention } from "./paint.js";

const SHOWN = ["layer", "head", "unit", "query"];
const part = (el) => ({ el, update: (names) => !touches(names, SHOWN) });

function unitPicker({ model, set }, meta) {
  const opts = [];
  for (let u = 0; u < model.get("n_units"); u++) opts.push([u, `text ${u}: ${meta.tokensOfUnit(u).slice(0, 8).join(" ")}…`]);
  return select("iwav-unit", opts, model.get("unit"), (v) => set({ unit: v, query: -1 }), true, "text");
}

export function sentencePart(ctx, signal) {
  const { model, set } = ctx;
  const holder = h("div"), bar = h("div", { class: "iwav-bar" });
  holder.dataset.drawn = "1";
  const unit = model.get("unit"), layer = model.get("layer"), head = model.get("head");
  const fill = (m) => bar.append(unitPicker(ctx, m), h("span", { class: "iwav-progress" },
    `layer ${layer}, head ${head}: each token (left) to the tokens it attends to (right)`));
  if (ctx.meta) fill(ctx.meta);  // at once when it can be: a keyboard user keeps the picker's focus
  Promise.all([ctx.loadMeta(), ctx.ask("pattern", { unit, layer, head }, signal)]).then(([m, p]) => {
    if (!bar.firstChild) fill(m);
    const toks = m.tokensOfUnit(unit), q = model.get("query");
    const focus = q >= 0 && m.unit[q] === unit ? q - m.starts[unit] : -1;
    holder.append(linesView(toks, toks, decode(p.pattern).data, {
      focus, onQuery: (i) => set({ hovered: i < 0 ? -1 : m.starts[unit] + i }) }));
    holder.dataset.painted = "1";
  }).catch(ctx.showError);
  return part(h("div", {}, bar, holder));
}

export function imagePart(ctx, signal) {
  const { model, set } = ctx;
  const big = h("canvas", { class: "big", role: "img", "aria-label": "attention from one patch over the image" });
  big.dataset.drawn = "1";
  const strip = h("div", { class: "iwav-strip" }), note = h("div", { class: "iwav-card" });
  const unit = model.get("unit"), layer = model.get("layer"), head = model.get("head"), grid = model.get("grid");
  Promise.all([ctx.loadMeta(), ctx.ask("pattern", { unit, layer, head }, signal)]).then(([m, p]) => {
    for (let u = 0; u < m.images.shape[0]; u++) {
      const c = imageCanvas(m, u);
      c.classList.toggle("sel", u === unit);
      c.addEventListener("click", () => set({ unit: u, query: -1 }));
      strip.append(c);
    }
    const q = model.get("query"), from = q >= 0 && m.unit[q] === unit ? q - m.starts[unit] : 0;
    const pattern = decode(p.pattern), row = pattern.data.subarray(from * pattern.shape[1], (from + 1) * pattern.shape[1]);
    paintAttention(big, imageCanvas(m, unit), row, grid, from);
    const [gr, gc] = grid, where = from === 0 ? "[CLS]" : `patch ${Math.floor((from - 1) / gc)},${(from - 1) % gc}`;
    note.textContent = `layer ${layer}, head ${head}: attention from ${where} (bright = attended; [CLS] gets `
      + `${(row[0] * 100).toFixed(1)}%). Click a patch to look from there.`;
    big.onclick = (e) => {
      const r = big.getBoundingClientRect();
      const y = Math.floor(((e.clientY - r.top) / r.height) * gr), x = Math.floor(((e.clientX - r.left) / r.width) * gc);
      set({ query: m.starts[unit] + 1 + y * gc + x });
    };
    big.dataset.painted = "1";
  }).catch(ctx.showError);
  return part(h("div", { class: "iwav-image" }, big, h("div", { class: "iwav-image-side" }, note, strip)));
}
