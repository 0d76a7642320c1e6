// AttentionPatterns: every layer x head as a thumbnail (fetched as it scrolls into view), one head as
// lines from each token to the tokens it attends to, and one head as a query x key matrix with its
// colour scale. Layer, head, text and view are model traits, so other widgets can drive them; the
// pointer's (query, key) in the matrix goes back as `hovered` ([-1, -1] once it leaves).
import { decode } from "../lib/array.js";
import { BANNER_CSS } from "../lib/banner.js";
import { coalesce, gridKeys, h, keepingFocus, select } from "../lib/dom.js";
import { colourBar, cssColour, paint } from "../lib/heatmap.js";
import { LINES_CSS, linesView } from "../lib/lines.js";
import { mount } from "../lib/mount.js";

const CSS = `
.iwap { font: 13px/1.4 system-ui, sans-serif; color: #222; }
.iwap-bar { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.iwap-bar button { border: 1px solid #bbb; background: #f6f6f6; padding: 3px 10px; border-radius: 4px; cursor: pointer; }
.iwap-bar button.on { background: #08306b; color: #fff; border-color: #08306b; }
.iwap-notice { background: #fff7e0; border: 1px solid #f0c36d; padding: 4px 8px; margin-bottom: 8px; }
.iwap-models { display: flex; gap: 10px; align-items: flex-start; }
.iwap-grid { display: grid; gap: 3px; align-items: center; max-height: 560px; overflow: auto; }
.iwap-grid canvas { width: 52px; height: 52px; border: 1px solid #ddd; cursor: pointer; background: #fafafa; }
.iwap-grid canvas:hover, .iwap-grid canvas:focus, .iwap-grid canvas.sel { outline: 2px solid #e6550d; }
.iwap-lab { font-size: 11px; color: #666; text-align: center; }
.iwap-axis { font-size: 11px; color: #444; }
.iwap-matrix { display: grid; grid-template-columns: auto auto auto auto; justify-content: start; gap: 4px; align-items: start; }
.iwap-matrix .iwap-xtitle { text-align: center; }
.iwap-matrix .iwap-ytitle { writing-mode: vertical-rl; transform: rotate(180deg); text-align: center; align-self: center; }
.iwap-scroll { position: relative; }
.iwap-matrix canvas { border: 1px solid #ccc; cursor: crosshair; display: block; }
.iwap-mark { position: absolute; border: 2px solid #e6550d; pointer-events: none; box-sizing: border-box; }
.iwap-ytok, .iwap-xtok { font-size: 11px; color: #333; overflow: hidden; }
.iwap-ytok div { text-align: right; padding-right: 4px; white-space: nowrap; overflow: hidden; }
.iwap-xtok { position: relative; }
.iwap-xtok div { position: absolute; transform: rotate(-60deg); transform-origin: left bottom; white-space: nowrap; }
.iwap-readout { min-height: 1.4em; margin-top: 6px; color: #333; }
.iwap-missing { color: #8a1f1f; font-size: 12px; padding: 8px; }
` + LINES_CSS + BANNER_CSS;

const WEIGHT = "attention weight (0-1)";

function render(view) {
  const { model } = view;
  const { life, news, body, set, request } = mount(view, "iwap", CSS);
  const cache = new Map();  // "kind/text/layer/head" -> {data, shape}
  let zoomLevel = 1;  // of the matrix view: a view setting, not shared state
  let observer = null, markHover = () => {};
  const keyTokens = (text) => { const k = model.get("key_tokens")[text]; return k && k.length ? k : model.get("tokens")[text]; };

  async function fetch(kind, text, layer, head) {
    const key = `${kind}/${text}/${layer}/${head}`;
    try {
      if (!cache.has(key)) cache.set(key, decode((await request(kind, { text, layer, head }, { signal: life.signal })).pattern));
    } catch (err) {
      news.fail(err, key);
      throw err;
    }
    news.clear(key);  // it works (again, or from the cache): its failure goes
    return cache.get(key);
  }

  /** `part` asked for data that did not come: say so in place (the banner says it too). A thumbnail asks
   * again when it next scrolls into view: a busy kernel's timeout is not the last word. */
  const missing = (part) => (err) => {
    part.title = String(err.message || err);
    delete part.dataset.drawn;
  };

  function toolbar() {
    const bar = h("div", { class: "iwap-bar" });
    const texts = model.get("tokens");
    if (texts.length > 1) {
      bar.append(select("iwap-text", texts.map((toks, i) => [i, `${i}: ${toks.slice(0, 8).join(" ")}…`]),
        model.get("text_index"), (v) => set({ text_index: v }), true, "text"));
    }
    for (const [name, label] of [["model", "All heads"], ["head", "Lines"], ["matrix", "Matrix"]]) {
      bar.append(h("button", { class: model.get("view") === name ? "on" : "", "data-view": name,
        "aria-pressed": String(model.get("view") === name), onclick: () => set({ view: name }) }, label));
    }
    if (model.get("view") !== "model") {
      for (const [trait, n] of [["layer", model.get("n_layers")], ["head", model.get("n_heads")]]) {
        bar.append(select(`iwap-${trait}`, [...Array(n).keys()].map((i) => [i, `${trait} ${i}`]), model.get(trait),
          (v) => set({ [trait]: v }), true, trait));
      }
    }
    return bar;
  }

  function modelView(text) {
    const L = model.get("n_layers"), H = model.get("n_heads");
    const grid = h("div", { class: "iwap-grid", role: "grid", "aria-label": "attention pattern of every head" });
    grid.style.gridTemplateColumns = `28px repeat(${H}, 54px)`;
    grid.append(h("div", { class: "iwap-lab" }, "layer"));
    for (let j = 0; j < H; j++) grid.append(h("div", { class: "iwap-lab" }, `H${j}`));
    observer?.disconnect();
    observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting || entry.target.dataset.drawn) continue;
        const c = entry.target;
        c.dataset.drawn = "1";
        fetch("thumb", text, +c.dataset.layer, +c.dataset.head)
          .then(({ data, shape }) => { paint(c, data, shape[0], shape[1]); c.dataset.painted = "1"; })
          .catch(missing(c));
      }
    }, { root: null, rootMargin: "100px" });
    const open = (i, j) => set({ layer: i, head: j, view: "matrix" });
    for (let i = 0; i < L; i++) {
      grid.append(h("div", { class: "iwap-lab" }, `L${i}`));
      for (let j = 0; j < H; j++) {
        const c = h("canvas", { "data-layer": i, "data-head": j, title: `layer ${i}, head ${j}`, tabindex: 0,
          role: "gridcell", "aria-label": `layer ${i}, head ${j}: open its matrix`, onclick: () => open(i, j),
          onkeydown: (e) => gridKey(e, i, j, L, H, open) });
        if (i === model.get("layer") && j === model.get("head")) c.classList.add("sel");
        grid.append(c);
        observer.observe(c);
      }
    }
    const head = h("div", { class: "iwap-axis" }, "heads (columns) by layer (rows); each thumbnail: query (rows) x key (columns)");
    return h("div", {}, head, h("div", { class: "iwap-models" }, grid, colourBar(WEIGHT)));
  }

  /** Arrow keys move between thumbnails, Enter opens one. */
  function gridKey(e, i, j, L, H, open) {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(i, j); return; }
    const to = gridKeys(e, i, j, L, H);
    if (to) body.querySelector(`canvas[data-layer="${to[0]}"][data-head="${to[1]}"]`)?.focus();
  }

  function matrixView(text) {
    const tokens = model.get("tokens")[text], keys = keyTokens(text);
    const n = tokens.length, m = keys.length, zoom = zoomLevel;
    const cell = (Math.min(24 * Math.max(n, m), 560) / Math.max(n, m)) * zoom;  // long texts: scaled, then zoomed
    const labelled = cell >= 8 && zoom === 1;
    const canvas = h("canvas", { class: "iwap-canvas", role: "img", "aria-label": "attention matrix" });
    canvas.style.width = `${cell * m}px`;
    canvas.style.height = `${cell * n}px`;
    const mark = h("div", { class: "iwap-mark" });
    mark.hidden = true;
    mark.style.width = mark.style.height = `${cell}px`;
    const zoomSel = select("iwap-zoom", [1, 2, 4, 8, 16].map((z) => [z, `zoom ${z}x`]), zoom,
      (v) => { zoomLevel = v; draw(); }, true, "zoom");
    const scroller = h("div", { class: "iwap-scroll" }, canvas, mark);
    scroller.style.maxWidth = scroller.style.maxHeight = "580px";
    scroller.style.overflow = "auto";
    const ytok = h("div", { class: "iwap-ytok" }), xtok = h("div", { class: "iwap-xtok" });
    xtok.style.height = labelled ? "70px" : "0px";
    if (labelled) {
      tokens.forEach((t) => { const d = h("div", {}, t); d.style.height = `${cell}px`; d.style.fontSize = `${Math.min(11, cell - 1)}px`; ytok.append(d); });
      keys.forEach((t, k) => { const d = h("div", {}, t); d.style.left = `${k * cell + cell / 2}px`; d.style.bottom = "0px"; xtok.append(d); });
    }
    const readout = h("div", { class: "iwap-readout" }, labelled ? "hover a cell to read its weight" : `${n} tokens: hover the matrix to read them`);
    const layer = model.get("layer"), head = model.get("head");
    const wrap = h("div", {},
      h("div", { class: "iwap-title" }, `layer ${layer}, head ${head}: how much each query token (row) attends to each key token (column) `, zoomSel),
      h("div", { class: "iwap-matrix" }, h("div"), h("div"), h("div", { class: "iwap-axis iwap-xtitle" }, "key →"), h("div"),
        h("div"), h("div"), xtok, h("div"),
        h("div", { class: "iwap-axis iwap-ytitle" }, "query →"), ytok, scroller, colourBar(WEIGHT, { height: Math.min(200, cell * n) })),
      readout);
    canvas.dataset.drawn = "1";
    const show = (q, k, data) => {
      if (q < 0 || k < 0 || q >= n || k >= m) { mark.hidden = true; return; }
      mark.hidden = false;
      mark.style.left = `${k * cell}px`;
      mark.style.top = `${q * cell}px`;
      const v = data[q * m + k];
      readout.replaceChildren(`${tokens[q]} (query ${q}) → ${keys[k]} (key ${k}): `, h("b", {}, Number.isFinite(v) ? v.toFixed(3) : String(v)));
      readout.style.borderLeft = `12px solid ${cssColour(v)}`;
      readout.style.paddingLeft = "6px";
    };
    fetch("pattern", text, layer, head).then(({ data }) => {
      paint(canvas, data, n, m);
      canvas.dataset.painted = "1";
      markHover = () => { const [q, k] = model.get("hovered"); show(q, k, data); };
      markHover();
      canvas.addEventListener("mousemove", (e) => {
        const r = canvas.getBoundingClientRect();
        const q = Math.floor(((e.clientY - r.top) / r.height) * n), k = Math.floor(((e.clientX - r.left) / r.width) * m);
        const [hq, hk] = model.get("hovered");
        if (q < 0 || k < 0 || q >= n || k >= m || (q === hq && k === hk)) return;
        set({ hovered: [q, k] });
        show(q, k, data);
      });
      canvas.addEventListener("mouseleave", () => set({ hovered: [-1, -1] }));
    }).catch((err) => { missing(canvas)(err); scroller.append(h("div", { class: "iwap-missing" }, String(err.message || err))); });
    return wrap;
  }

  function headView(text) {
    const tokens = model.get("tokens")[text], keys = keyTokens(text);
    const layer = model.get("layer"), head = model.get("head");
    const holder = h("div");
    holder.dataset.drawn = "1";
    const wrap = h("div", {}, h("div", { class: "iwap-title" },
      `layer ${layer}, head ${head}: each token (left) to the tokens it attends to (right), line opacity = attention weight; hover a token`), holder);
    fetch("pattern", text, layer, head).then(({ data }) => {
      holder.append(linesView(tokens, keys, data, { onQuery: (q) => set({ hovered: q < 0 ? [-1, -1] : [q, -1] }) }));
      holder.dataset.painted = "1";
    }).catch((err) => { missing(holder)(err); holder.append(h("div", { class: "iwap-missing" }, String(err.message || err))); });
    return wrap;
  }

  function draw() {
    markHover = () => {};
    const text = model.get("text_index"), view = model.get("view");
    keepingFocus(body, () => body.replaceChildren(
      ...(model.get("notice") ? [h("div", { class: "iwap-notice" }, model.get("notice"))] : []), toolbar(),
      view === "matrix" ? matrixView(text) : view === "head" ? headView(text) : modelView(text)));
  }

  const redraw = coalesce(draw);
  draw();
  for (const t of ["layer", "head", "text_index", "view", "notice"]) model.on(`change:${t}`, redraw);
  model.on("change:hovered", () => markHover());
  return () => { observer?.disconnect(); life.abort(); };
}

export default { render };
