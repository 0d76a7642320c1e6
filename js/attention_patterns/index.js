// AttentionPatterns: every layer x head as a thumbnail (fetched as it scrolls into view), one head as
// lines from each token to the tokens it attends to, and one head as a query x key matrix. Layer, head, text and view are model traits, so
// other widgets can drive them; the pointer's (query, key) in the matrix goes back as `hovered`.
import { decode } from "../lib/array.js";
import { channel } from "../lib/channel.js";
import { h } from "../lib/dom.js";
import { cssColour, paint } from "../lib/heatmap.js";
import { LINES_CSS, linesView } from "../lib/lines.js";

const CSS = `
.iwap { font: 13px/1.4 system-ui, sans-serif; color: #222; }
.iwap-bar { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.iwap-bar button { border: 1px solid #bbb; background: #f6f6f6; padding: 3px 10px; border-radius: 4px; cursor: pointer; }
.iwap-bar button.on { background: #08306b; color: #fff; border-color: #08306b; }
.iwap-notice { background: #fff7e0; border: 1px solid #f0c36d; padding: 4px 8px; margin-bottom: 8px; }
.iwap-error { background: #fde8e8; border: 1px solid #e08080; color: #8a1f1f; padding: 4px 8px; margin-bottom: 8px; white-space: pre-wrap; }
.iwap-grid { display: grid; gap: 3px; align-items: center; max-height: 560px; overflow: auto; }
.iwap-grid canvas { width: 52px; height: 52px; border: 1px solid #ddd; cursor: pointer; background: #fafafa; }
.iwap-grid canvas:hover, .iwap-grid canvas.sel { outline: 2px solid #e6550d; }
.iwap-lab { font-size: 11px; color: #666; text-align: center; }
.iwap-matrix { display: grid; grid-template-columns: auto auto; gap: 4px; }
.iwap-matrix canvas { border: 1px solid #ccc; cursor: crosshair; }
.iwap-ytok, .iwap-xtok { font-size: 11px; color: #333; overflow: hidden; }
.iwap-ytok div { text-align: right; padding-right: 4px; white-space: nowrap; overflow: hidden; }
.iwap-xtok { position: relative; }
.iwap-xtok div { position: absolute; transform: rotate(-60deg); transform-origin: left bottom; white-space: nowrap; }
.iwap-readout { min-height: 1.4em; margin-top: 6px; color: #333; }
` + LINES_CSS;

function render({ model, el }) {
  const request = channel(model);
  const cache = new Map();  // "thumb|pattern/text/layer/head" -> {data, shape}
  let zoomLevel = 1;  // of the matrix view: a view setting, not shared state
  const keyTokens = (text) => { const k = model.get("key_tokens")[text]; return k && k.length ? k : model.get("tokens")[text]; };
  const root = h("div", { class: "iwap" });
  el.append(h("style", {}, CSS), root);
  let observer = null;

  const snapshotFor = (kind, text, layer, head) => {
    const s = model.get("snapshot");
    if (!s || s.text !== text) return null;
    if (kind === "pattern") return s.layer === layer && s.head === head && s.pattern ? decode(s.pattern) : null;
    if (!s.thumbs) return null;
    const all = decode(s.thumbs);  // [layers, heads, t, t]
    const [, H, t1, t2] = all.shape;
    const off = (layer * H + head) * t1 * t2;
    return { data: all.data.subarray(off, off + t1 * t2), shape: [t1, t2] };
  };

  async function fetch(kind, text, layer, head) {
    const key = `${kind}/${text}/${layer}/${head}`;
    if (cache.has(key)) return cache.get(key);
    const local = snapshotFor(kind, text, layer, head);
    const got = local || decode((await request(kind, { text, layer, head })).pattern);
    cache.set(key, got);
    return got;
  }

  const showError = (err) => {
    root.querySelector(".iwap-error")?.remove();
    if (err) root.prepend(h("div", { class: "iwap-error" }, String(err.message || err)));
  };

  function toolbar() {
    const bar = h("div", { class: "iwap-bar" });
    const texts = model.get("tokens");
    if (texts.length > 1) {
      const sel = h("select", { class: "iwap-text", onchange: (e) => { model.set("text_index", +e.target.value); model.save_changes(); } });
      texts.forEach((toks, i) => sel.append(new Option(`${i}: ${toks.slice(0, 8).join(" ")}…`, i)));
      sel.value = model.get("text_index");
      bar.append(sel);
    }
    for (const [name, label] of [["model", "All heads"], ["head", "Lines"], ["matrix", "Matrix"]]) {
      const b = h("button", { class: model.get("view") === name ? "on" : "", "data-view": name,
        onclick: () => { model.set("view", name); model.save_changes(); } }, label);
      bar.append(b);
    }
    if (model.get("view") !== "model") {
      for (const [trait, n, label] of [["layer", model.get("n_layers"), "layer"], ["head", model.get("n_heads"), "head"]]) {
        const sel = h("select", { class: `iwap-${trait}`, onchange: (e) => { model.set(trait, +e.target.value); model.save_changes(); } });
        for (let i = 0; i < n; i++) sel.append(new Option(`${label} ${i}`, i));
        sel.value = model.get(trait);
        bar.append(sel);
      }
    }
    return bar;
  }

  function modelView(text) {
    const L = model.get("n_layers"), H = model.get("n_heads");
    const grid = h("div", { class: "iwap-grid" });
    grid.style.gridTemplateColumns = `28px repeat(${H}, 54px)`;
    grid.append(h("div"));
    for (let j = 0; j < H; j++) grid.append(h("div", { class: "iwap-lab" }, `H${j}`));
    observer?.disconnect();
    observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting || entry.target.dataset.drawn) continue;
        const c = entry.target;
        c.dataset.drawn = "1";
        const [layer, head] = [+c.dataset.layer, +c.dataset.head];
        fetch("thumb", text, layer, head)
          .then(({ data, shape }) => { paint(c, data, shape[0], shape[1]); c.dataset.painted = "1"; })
          .catch(showError);
      }
    }, { root: null, rootMargin: "100px" });
    for (let i = 0; i < L; i++) {
      grid.append(h("div", { class: "iwap-lab" }, `L${i}`));
      for (let j = 0; j < H; j++) {
        const c = h("canvas", { "data-layer": i, "data-head": j, title: `layer ${i}, head ${j}`,
          onclick: () => { model.set("layer", i); model.set("head", j); model.set("view", "matrix"); model.save_changes(); } });
        if (i === model.get("layer") && j === model.get("head")) c.classList.add("sel");
        grid.append(c);
        observer.observe(c);
      }
    }
    return grid;
  }

  function matrixView(text) {
    const tokens = model.get("tokens")[text];
    const keys = keyTokens(text);
    const n = tokens.length, m = keys.length;
    const zoom = zoomLevel;
    const cell = (Math.min(24 * Math.max(n, m), 560) / Math.max(n, m)) * zoom;  // long texts: scaled, then zoomed
    const labelled = cell >= 8 && zoom === 1;
    const canvas = h("canvas", { class: "iwap-canvas" });
    canvas.style.width = `${cell * m}px`;
    canvas.style.height = `${cell * n}px`;
    const zoomSel = h("select", { class: "iwap-zoom", onchange: (e) => { zoomLevel = +e.target.value; draw(); } });
    for (const z of [1, 2, 4, 8, 16]) zoomSel.append(new Option(`zoom ${z}x`, z));
    zoomSel.value = zoom;
    const scroller = h("div", { class: "iwap-scroll" }, canvas);
    scroller.style.maxWidth = scroller.style.maxHeight = "580px";
    scroller.style.overflow = "auto";
    const ytok = h("div", { class: "iwap-ytok" });
    const xtok = h("div", { class: "iwap-xtok" });
    xtok.style.height = labelled ? "70px" : "0px";
    if (labelled) {
      tokens.forEach((t) => { const d = h("div", {}, t); d.style.height = `${cell}px`; d.style.fontSize = `${Math.min(11, cell - 1)}px`; ytok.append(d); });
      keys.forEach((t, k) => { const d = h("div", {}, t); d.style.left = `${k * cell + cell / 2}px`; d.style.bottom = "0px"; xtok.append(d); });
    }
    const readout = h("div", { class: "iwap-readout" }, labelled ? "" : `${n} tokens: hover the matrix to read them`);
    const layer = model.get("layer"), head = model.get("head");
    const wrap = h("div", {},
      h("div", { class: "iwap-title" }, `layer ${layer}, head ${head}: query (rows) attends to key (columns) `, zoomSel),
      h("div", { class: "iwap-matrix" }, h("div"), xtok, ytok, scroller), readout);
    canvas.dataset.drawn = "1";
    fetch("pattern", text, layer, head).then(({ data }) => {
      paint(canvas, data, n, m);
      canvas.dataset.painted = "1";
      let last = "";
      canvas.addEventListener("mousemove", (e) => {
        const r = canvas.getBoundingClientRect();
        const q = Math.floor(((e.clientY - r.top) / r.height) * n), k = Math.floor(((e.clientX - r.left) / r.width) * m);
        if (q < 0 || k < 0 || q >= n || k >= m || `${q},${k}` === last) return;
        last = `${q},${k}`;
        const v = data[q * m + k];
        readout.innerHTML = "";
        readout.append(`${tokens[q]} (${q}) → ${keys[k]} (${k}): `, h("b", {}, Number.isFinite(v) ? v.toFixed(3) : String(v)));
        readout.style.borderLeft = `12px solid ${cssColour(v)}`;
        readout.style.paddingLeft = "6px";
        model.set("hovered", [q, k]);
        model.save_changes();
      });
    }).catch(showError);
    return wrap;
  }

  function headView(text) {
    const tokens = model.get("tokens")[text];
    const keys = keyTokens(text);
    const layer = model.get("layer"), head = model.get("head");
    const holder = h("div");
    holder.dataset.drawn = "1";
    const wrap = h("div", {}, h("div", { class: "iwap-title" },
      `layer ${layer}, head ${head}: each token (left) to the tokens it attends to (right); hover a token`), holder);
    fetch("pattern", text, layer, head).then(({ data }) => {
      holder.append(linesView(tokens, keys, data, { onQuery: (q) => { model.set("hovered", [q, -1]); model.save_changes(); } }));
      holder.dataset.painted = "1";
    }).catch(showError);
    return wrap;
  }

  function draw() {
    root.innerHTML = "";
    if (model.get("notice")) root.append(h("div", { class: "iwap-notice" }, model.get("notice")));
    if (model.get("error")) showError(model.get("error"));
    root.append(toolbar());
    const text = model.get("text_index");
    const view = model.get("view");
    root.append(view === "matrix" ? matrixView(text) : view === "head" ? headView(text) : modelView(text));
  }

  draw();
  for (const t of ["layer", "head", "text_index", "view", "notice", "error", "snapshot"]) model.on(`change:${t}`, draw);
  return () => observer?.disconnect();
}

export default { render };
