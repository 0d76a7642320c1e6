// SaliencyView's panel (the plotly PIC figure beside it is Python's FigureWidget). Parts, each following
// its own traits: the controls (image, method, single / gallery, the background job's status); the maps
// (the picture and every method's map on one colour scale) with the reveal slider, the revealed picture
// and the model's top classes on it; the gallery (every image's map, the PIC median table); the sanity
// check (the maps as layers are randomized, the rank correlation per stage); and, in text mode, the texts'
// tokens coloured by attribution.
import { decode } from "../lib/array.js";
import { BANNER_CSS } from "../lib/banner.js";
import { frame, legend } from "../lib/chart.js";
import { h, select, slider, svgEl } from "../lib/dom.js";
import { colourBar, inferno } from "../lib/heatmap.js";
import { mount } from "../lib/mount.js";
import { composeParts, touches } from "../lib/parts.js";
import { TOKENS_CSS, tokenStrip } from "../lib/tokens.js";

const CSS = `
.iwsal { font: 13px/1.4 system-ui, sans-serif; color: #222; max-width: 1080px; }
.iwsal-bar { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin: 4px 0 10px; }
.iwsal-bar label { display: flex; gap: 6px; align-items: center; }
.iwsal-row { display: flex; gap: 10px; align-items: flex-start; flex-wrap: wrap; }
.iwsal-single > .iwsal-row:first-child { flex-wrap: nowrap; }
.iwsal-panel { margin: 0; } .iwsal-panel figcaption { font-size: 12px; color: #333; font-weight: 600; margin-bottom: 2px; }
.iwsal-cap { font-size: 11px; color: #555; min-height: 1.4em; max-width: 240px; }
.iwsal-reveal { border-top: 1px solid #ddd; margin-top: 8px; padding-top: 8px; }
.iwsal-top { border-collapse: collapse; font-size: 12px; min-width: 260px; }
.iwsal-top td { padding: 2px 6px; } .iwsal-top .bar { background: #3182bd; height: 9px; }
.iwsal-top tr.target td { font-weight: 600; }
.iwsal-table { border-collapse: collapse; font-size: 12px; margin: 6px 0; }
.iwsal-table th, .iwsal-table td { border-bottom: 1px solid #e5e5e5; padding: 3px 10px; text-align: right; }
.iwsal-table th:first-child, .iwsal-table td:first-child { text-align: left; }
.iwsal-thumbs { display: flex; flex-wrap: wrap; gap: 6px; }
.iwsal-thumb { border: 2px solid transparent; padding: 0; background: none; cursor: pointer; }
.iwsal-thumb.on { border-color: #e6550d; } .iwsal-thumb canvas { display: block; }
.iwsal-sanity { border-top: 1px solid #ddd; margin-top: 10px; padding-top: 8px; }
.iwsal-flag { font-weight: 600; } .iwsal-flag.bad { color: #a3260b; } .iwsal-flag.good { color: #1b6e2a; }
.iwsal-status { font-size: 12px; color: #555; display: flex; gap: 8px; align-items: center; }
.iwsal-status progress { width: 140px; }
.iwsal-text { margin: 6px 0 12px; } .iwsal-text h4 { margin: 0 0 2px; font-size: 12px; color: #444; }
` + BANNER_CSS + TOKENS_CSS;
const WIDTH = 1060; // the row of the picture, its maps and the colour bar fits in this
const pct = (v, d = 1) => `${(100 * v).toFixed(d)}%`;
const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? "n/a" : Number(v).toFixed(d));

function canvas(size, label, shown) {
  const c = h("canvas", { width: size, height: size, role: "img", "aria-label": label });
  c.style.width = c.style.height = `${shown}px`;
  c.style.imageRendering = size < shown ? "pixelated" : "auto";
  return c;
}

function paintRGB(c, rgb, size, dim = null) {
  const ctx = c.getContext("2d"), img = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const f = dim && !dim[i] ? 0.35 : 1;
    img.data.set([rgb[3 * i] * f, rgb[3 * i + 1] * f, rgb[3 * i + 2] * f, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

function paintMap(c, values, size) {
  const ctx = c.getContext("2d"), img = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const k = Math.max(0, Math.min(255, Math.round(values[i] * 255))) * 3;
    img.data.set([inferno[k], inferno[k + 1], inferno[k + 2], 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

function figure(title, c, caption = "") {
  const cap = h("div", { class: "iwsal-cap" }, caption);
  const el = h("figure", { class: "iwsal-panel" }, h("figcaption", {}, title), c, cap);
  el.caption = (text) => { cap.textContent = text; };
  return el;
}

const scaleBar = (shown) => colourBar("saliency (÷ the map's 99th percentile)", { vmin: 0, vmax: 1, lut: inferno, height: shown - 16,
  ticks: [0, 0.25, 0.5, 0.75, 1] });

function status({ model, request, news }, signal) {
  const el = h("div", { class: "iwsal-status" });
  const show = () => {
    const busy = model.get("computing") || model.get("sanity_running");
    const stop = h("button", { class: "iwsal-stop", onclick: () => request("cancel", {}, { signal }).catch((e) => news.fail(e)) }, "stop");
    el.replaceChildren(...(busy ? [`computing ${model.get("sanity_running") ? "the sanity check" : model.get("stage")}… `,
      h("progress", { max: 1, value: model.get(model.get("sanity_running") ? "sanity_progress" : "progress") }), stop] : [model.get("ready") ? "" : "not computed"]));
  };
  show();
  return { el, update(names) { show(); return true; } };
}

function controls({ model, set }) {
  const targets = model.get("explained");
  const image = select("iwsal-image", targets.map((t, i) => [i, `${i}: ${t.name} (p = ${fmt(t.score, 2)})`]), model.get("index"),
    (v) => set({ index: v }), true, "image");
  const method = select("iwsal-method", model.get("methods").map((m) => [m, m]), model.get("method"), (v) => set({ method: v }), false, "method");
  const layout = select("iwsal-layout", [["single", "one image"], ["gallery", "gallery"]], model.get("layout_mode"),
    (v) => set({ layout_mode: v }), false, "show");
  return {
    el: h("div", { class: "iwsal-bar" }, image, method, layout),
    update(names) {
      if (touches(names, ["explained", "methods"])) return false;
      if (names.has("index")) image.value = model.get("index");
      if (names.has("method")) method.value = model.get("method");
      if (names.has("layout_mode")) layout.value = model.get("layout_mode");
      return true;
    },
  };
}

/** The picture and each method's map; below, the reveal slider with the revealed picture and top classes. */
function single({ model, set, request, news }, signal) {
  const size = model.get("size"), methods = model.get("methods"), el = h("div", { class: "iwsal-single" });
  if (model.get("layout_mode") !== "single") return { el, update: (names) => !touches(names, ["layout_mode"]) };
  el.dataset.drawn = "1"; // save_png waits for data-painted
  if (!model.get("ready")) {
    el.append(h("div", { class: "iwsal-cap" }, "computing the maps…"));
    return { el, update: (names) => !touches(names, ["ready", "layout_mode"]) };
  }
  const px = Math.min(240, Math.floor((WIDTH - 80) / (methods.length + 1)) - 12); // one row, however many methods
  const pic = canvas(size, "the image", px), maps = Object.fromEntries(methods.map((m) => [m, canvas(size, `${m} saliency map`, px)]));
  const figs = Object.fromEntries(methods.map((m) => [m, figure(m, maps[m])]));
  const main = figure("image", pic);
  const shown = canvas(size, "the revealed image", 240), top = h("table", { class: "iwsal-top" });
  const level = slider("iwsal-level", "reveal the most salient", { min: 0, max: 100, step: 1, value: Math.round(model.get("reveal") * 100),
    onchange: (v) => set({ reveal: v / 100 }), shown: (v) => `${v}%` });
  const revealFig = figure("revealed", shown);
  const note = h("div", { class: "iwsal-cap" });
  el.append(h("div", { class: "iwsal-row" }, main, ...Object.values(figs), scaleBar(px)),
    h("div", { class: "iwsal-reveal" }, h("div", { class: "iwsal-bar" }, level, note),
      h("div", { class: "iwsal-row" }, revealFig, h("div", {}, h("div", { class: "iwsal-cap" }, "the model's top classes on the revealed image"), top))));
  let ticket = 0, drawnImage = -1;
  const paintMaps = () => {
    const index = model.get("index");
    if (index === drawnImage) return Promise.resolve();
    delete el.dataset.painted;
    return request("image", { index }, { signal }).then((got) => {
      if (got.index !== model.get("index")) return;
      drawnImage = index;
      paintRGB(pic, decode(got.picture).data, size);
      const t = model.get("explained")[index], gaps = model.get("gaps");
      main.caption(`image ${index}: explaining “${t.name}” (p = ${fmt(t.score)})`);
      for (const m of methods) {
        paintMap(maps[m], decode(got.maps[m]).data, size);
        figs[m].caption(gaps[m] ? `completeness gap ${pct(gaps[m][index])}` : "");
      }
      news.clear("image");
    });
  };
  const paintReveal = () => {
    const mine = ++ticket, args = { index: model.get("index"), method: model.get("method"), level: Math.round(model.get("reveal") * 1000) };
    delete el.dataset.painted;
    Promise.all([paintMaps(), request("revealed", args, { signal })]).then(([, got]) => {
      if (mine !== ticket) return;
      paintRGB(shown, decode(got.picture).data, size);
      const target = model.get("explained")[got.index].name;
      revealFig.caption(`${pct(got.fraction)} of the pixels shown by ${got.method}${got.method === "XRAI" ? " (whole regions)" : ""}; the rest blurred as PIC blurs it`);
      note.textContent = got.method === "XRAI" ? "XRAI reveals whole regions, in their order" : "pixels in order of saliency";
      top.replaceChildren(...got.top.map(([name, p]) => h("tr", { class: name === target ? "target" : "" },
        h("td", {}, name), h("td", {}, fmt(p)), h("td", {}, h("div", { class: "bar", style: `width:${Math.round(120 * p)}px` })))));
      for (const m of methods) maps[m].style.outline = m === got.method ? "3px solid #e6550d" : "none";
      el.dataset.painted = `${got.index}|${got.method}|${got.level}`;
      news.clear("revealed");
    }).catch((err) => { if (mine === ticket) news.fail(err, "revealed"); });
  };
  paintReveal();
  return {
    el,
    update(names) {
      if (touches(names, ["layout_mode", "ready", "size", "methods", "explained"])) return false;
      if (names.has("reveal")) level.set(Math.round(model.get("reveal") * 100));
      if (touches(names, ["index", "method", "reveal"])) paintReveal();
      if (names.has("gaps")) { drawnImage = -1; paintReveal(); }
      return true;
    },
  };
}

/** Every image with the chosen method's map; a click shows it alone. The PIC median table below. */
function gallery({ model, set, request, news }, signal) {
  const el = h("div", { class: "iwsal-gallery" });
  const table = () => {
    const p = model.get("pic");
    const ended = { failed: "PIC: not computed (the job failed: see the error above)", stopped: "PIC: not computed (stopped)" };
    if (!p.table) return h("div", { class: "iwsal-cap" }, ended[model.get("pic_state")] || "PIC: computing…");
    const ci = (r, k) => `${fmt(r[k])} [${fmt(r[`${k}_lo`])}, ${fmt(r[`${k}_hi`])}]`;
    return h("div", {}, h("h4", {}, `Performance Information Curves on ${p.images} images: AUC of the median curve [95% bootstrap interval over images]`),
      h("table", { class: "iwsal-table" }, h("tr", {}, ...["method", "SIC AUC", "AIC AUC", "images kept (SIC / AIC)"].map((t) => h("th", {}, t))),
        ...p.table.map((r) => h("tr", {}, h("td", {}, r.method), h("td", {}, ci(r, "sic")), h("td", {}, ci(r, "aic")),
          h("td", {}, `${r.sic_images} / ${r.aic_images}`)))),
      h("div", { class: "iwsal-cap" }, `Images skipped (the model's score below ${p.min_score}, or a blurred start scored as high as the image): `
        + `${p.skipped.sic} for SIC, ${p.skipped.aic} for AIC.`));
  };
  let tableEl = table();
  if (model.get("layout_mode") !== "gallery") return { el, update: (names) => !touches(names, ["layout_mode"]) };
  el.dataset.drawn = "1";
  const thumbs = h("div", { class: "iwsal-thumbs" });
  el.append(thumbs, tableEl);
  if (model.get("ready")) {
    const size = model.get("size"), method = model.get("method");
    request("gallery", { method }, { signal }).then((got) => {
      const pics = decode(got.pictures).data, maps = decode(got.maps).data, n = size * size;
      thumbs.replaceChildren(...model.get("explained").map((t, i) => {
        const a = canvas(size, `image ${i}`, 96), b = canvas(size, `image ${i}: ${method} map`, 96);
        paintRGB(a, pics.subarray(i * n * 3, (i + 1) * n * 3), size);
        paintMap(b, maps.subarray(i * n, (i + 1) * n), size);
        const button = h("button", { class: `iwsal-thumb${i === model.get("index") ? " on" : ""}`, title: `image ${i}: ${t.name}`,
          onclick: () => set({ index: i, layout_mode: "single" }) }, h("div", { class: "iwsal-row" }, a, b));
        return button;
      }));
      el.dataset.painted = method;
    }).catch((err) => news.fail(err, "gallery"));
  }
  return {
    el,
    update(names) {
      if (touches(names, ["layout_mode", "ready", "method", "explained"])) return false;
      if (touches(names, ["pic", "pic_state"])) { const t = table(); tableEl.replaceWith(t); tableEl = t; }
      if (names.has("index")) thumbs.querySelectorAll(".iwsal-thumb").forEach((b, i) => b.classList.toggle("on", i === model.get("index")));
      return true;
    },
  };
}

/** The cascading randomization: the button, the maps of the first image at each stage, the correlations. */
function sanity({ model, request, news }, signal) {
  const el = h("div", { class: "iwsal-sanity" }), s = model.get("sanity");
  const run = h("button", { class: "iwsal-sanity-run",
    onclick: () => request("sanity_start", { method: model.get("method") }, { signal }).catch((e) => news.fail(e, "sanity")) },
  `run the sanity check on ${model.get("method")}`);
  run.disabled = !model.get("ready") || model.get("sanity_running"); // (an attribute "false" would disable it)
  el.append(h("div", { class: "iwsal-bar" }, h("b", {}, "Sanity check: cascading model-parameter randomization (Adebayo et al. 2018)"), run));
  if (!s.stages) return { el, update: (names) => !touches(names, ["sanity", "ready", "sanity_running", "method"]) };
  const last = s.spearman[s.spearman.length - 1];
  el.append(h("div", {}, `${s.method} on ${s.images} image(s): layers re-initialised from the top, one more at each stage. `,
    h("span", { class: `iwsal-flag ${s.flagged ? "bad" : "good"}` }, s.flagged
      ? `Flagged: with every layer random the maps still rank pixels like the trained model's (Spearman ${fmt(last, 2)}).`
      : `Passes: the maps decorrelate as the weights are randomized (Spearman ${fmt(last, 2)} with all random).`)));
  const xs = s.stages.map((_, i) => i);
  const f = frame({ width: 440, height: 190, title: "similarity to the trained model's maps", x: { min: 0, max: Math.max(1, xs.length - 1), title: "layers randomized (from the top)" },
    y: { min: 0, max: 1, title: "mean over images" } });
  for (const [key, colour] of [["spearman", "#2171b5"], ["ssim", "#e6550d"]]) {
    f.svg.append(svgEl("polyline", { points: xs.map((x) => `${f.x(x)},${f.y(Math.max(0, s[key][x]))}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
  }
  const strip = h("div", { class: "iwsal-row" });
  el.append(h("div", { class: "iwsal-row" }, h("div", {}, f.svg, legend([["#2171b5", "Spearman rank correlation of |map|"], ["#e6550d", "SSIM"]])), strip));
  const size = model.get("size");
  request("sanity_maps", {}, { signal }).then((got) => {
    const maps = decode(got.maps).data, n = size * size, per = got.maps.shape[1];
    const pick = [...new Set([0, 1, 2, Math.floor(s.stages.length / 2), s.stages.length - 1])].filter((k) => k < s.stages.length);
    strip.replaceChildren(...pick.map((k) => {
      const c = canvas(size, `map after randomizing ${s.stages[k]}`, 110);
      paintMap(c, maps.subarray(k * per * n, k * per * n + n), size);
      return figure(k === 0 ? "trained" : `${k} layer${k > 1 ? "s" : ""} random`, c, k ? `down to ${s.stages[k]}` : "");
    }));
  }).catch((err) => news.fail(err, "sanity"));
  return { el, update: (names) => !touches(names, ["sanity", "ready", "sanity_running", "method"]) };
}

/** Text mode: each text's tokens, red for a positive attribution to the target, blue for a negative one. */
function texts({ model }) {
  const el = h("div", { class: "iwsal-texts" });
  el.dataset.drawn = "1";
  const items = model.get("texts");
  if (!items.length) {
    el.append(h("div", { class: "iwsal-cap" }, model.get("computing") ? "computing integrated gradients…" : "no texts"));
    return { el, update: (names) => !touches(names, ["texts", "computing"]) };
  }
  let top = 1e-9;
  for (const t of items) for (const v of t.values) top = Math.max(top, Math.abs(v));
  el.append(h("div", { class: "iwsal-bar" }, colourBarRow(top)));
  for (const t of items) {
    el.append(h("div", { class: "iwsal-text" }, h("h4", {}, `explaining “${t.target}” (score ${fmt(t.score)}; completeness gap ${pct(t.gap)})`),
      tokenStrip(t.tokens, { weights: t.values, signed: true, top, what: "integrated gradient" })));
  }
  el.dataset.painted = "1";
  return { el, update: (names) => !touches(names, ["texts", "computing"]) };
}

function colourBarRow(top) {
  return legend([["rgb(178,24,43)", `for the target (up to +${fmt(top, 3)})`], ["rgb(247,247,247)", "0"],
    ["rgb(33,102,172)", `against it (down to −${fmt(top, 3)})`]]);
}

const FOLLOWED = ["mode", "layout_mode", "n_images", "size", "methods", "method", "index", "reveal", "explained", "ready", "computing",
  "progress", "stage", "gaps", "pic", "pic_state", "sanity", "sanity_running", "sanity_progress", "texts"];

function render(view) {
  const { body, set, request, news } = mount(view, "iwsal", CSS), ctx = { model: view.model, set, request, news };
  const parts = view.model.get("mode") === "text" ? [status, texts] : [controls, status, single, gallery, sanity];
  const built = composeParts(body, view.model, parts.map((part) => (signal) => part(ctx, signal)), { traits: FOLLOWED });
  return () => built.destroy();
}

export default { render };
