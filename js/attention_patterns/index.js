// AttentionPatterns: every layer x head as a thumbnail (grid.js), one head as lines from each token to the
// tokens it attends to, or as a query x key matrix with its colour scale (head.js). Layer, head, text and
// view are model traits, so other widgets can drive them; the pointer's (query, key) in the matrix goes
// back as `hovered` ([-1, -1] once it leaves). Each trait change goes to the parts that show it.
import { decode } from "../lib/array.js";
import { h, select } from "../lib/dom.js";
import { mount } from "../lib/mount.js";
import { composeParts } from "../lib/parts.js";
import { gridPart } from "./grid.js";
import { linesPart, matrixPart } from "./head.js";
import { CSS } from "./style.js";

const FOLLOWED = ["layer", "head", "text_index", "view", "hovered"];

function context(model, set, { life, news, request }) {
  const cache = new Map();  // "kind/text/layer/head" -> {data, shape}
  return {
    model, set,
    zoom: 1,  // of the matrix view: a view setting, not shared state
    keyTokens(text) { const k = model.get("key_tokens")[text]; return k && k.length ? k : model.get("tokens")[text]; },
    /** A pattern or thumbnail, kept once fetched; `signal` (a part's) stops the request when that part goes. */
    async fetch(kind, text, layer, head, signal = null) {
      const key = `${kind}/${text}/${layer}/${head}`;
      const both = signal ? AbortSignal.any([life.signal, signal]) : life.signal;
      try {
        if (!cache.has(key)) cache.set(key, decode((await request(kind, { text, layer, head }, { signal: both })).pattern));
      } catch (err) {
        news.fail(err, key);
        throw err;
      }
      news.clear(key);  // it works (again, or from the cache): its failure goes
      return cache.get(key);
    },
    /** `part` asked for data that did not come: say so in place (the banner says it too). A thumbnail
     * asks again when it next scrolls into view: a busy kernel's timeout is not the last word. */
    missing: (part) => (err) => { part.title = String(err.message || err); delete part.dataset.drawn; },
  };
}

function toolbar({ model, set }) {
  const bar = h("div", { class: "iwap-bar" }), selects = {};
  const texts = model.get("tokens");
  if (texts.length > 1) {
    selects.text_index = select("iwap-text", texts.map((toks, i) => [i, `${i}: ${toks.slice(0, 8).join(" ")}…`]),
      model.get("text_index"), (v) => set({ text_index: v }), true, "text");
    bar.append(selects.text_index);
  }
  for (const [name, label] of [["model", "All heads"], ["head", "Lines"], ["matrix", "Matrix"]]) {
    bar.append(h("button", { class: model.get("view") === name ? "on" : "", "data-view": name,
      "aria-pressed": String(model.get("view") === name), onclick: () => set({ view: name }) }, label));
  }
  if (model.get("view") !== "model") {
    for (const [trait, n] of [["layer", model.get("n_layers")], ["head", model.get("n_heads")]]) {
      selects[trait] = select(`iwap-${trait}`, [...Array(n).keys()].map((i) => [i, `${trait} ${i}`]), model.get(trait),
        (v) => set({ [trait]: v }), true, trait);
      bar.append(selects[trait]);
    }
  }
  return {
    el: bar,
    update(names) { for (const [t, s] of Object.entries(selects)) if (names.has(t)) s.value = model.get(t); },
  };
}

function bodyFor(ctx, signal) {
  const view = ctx.model.get("view"), text = ctx.model.get("text_index");
  const part = view === "matrix" ? matrixPart : view === "head" ? linesPart : gridPart;
  return part(ctx, text, signal);
}

function render(view) {
  const mounted = mount(view, "iwap", CSS), ctx = context(view.model, mounted.set, mounted);
  const parts = composeParts(mounted.body, view.model, [() => toolbar(ctx), (signal) => bodyFor(ctx, signal)],
    { traits: FOLLOWED, rebuildAll: ["view"], notice: true });
  ctx.rebuild = () => parts.rebuild(1);  // the matrix's zoom: a view setting, not a trait
  return () => { parts.destroy(); mounted.life.abort(); };
}

export default { render };
