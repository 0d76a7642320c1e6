// SceneProbeView's timeline and edit panel (the plotly heatmap beside it is Python's FigureWidget). Three
// parts, each following its own traits: the controls (image, layer, step slider with play), the frames
// (each step's prediction, the probes' maps beside the labels, their scores), and the edit panel (drag
// the object's mask, push it nearer or farther; before and after, with the measured change).
import { BANNER_CSS } from "../lib/banner.js";
import { decode } from "../lib/array.js";
import { h, select, slider } from "../lib/dom.js";
import { mount } from "../lib/mount.js";
import { composeParts, touches } from "../lib/parts.js";
import { SCALE, canvas, paintMap, paintRGB, panel, scales, shifted } from "./draw.js";

const CSS = `
.iwsc { font: 13px/1.4 system-ui, sans-serif; color: #222; max-width: 1000px; }
.iwsc-bar { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin: 6px 0 10px; }
.iwsc-bar label { display: flex; gap: 6px; align-items: center; }
.iwsc-row { display: flex; gap: 10px; align-items: flex-start; flex-wrap: wrap; }
.iwsc-panel { margin: 0; } .iwsc-panel figcaption { font-size: 11px; color: #555; font-weight: 600; margin-bottom: 2px; }
.iwsc-cap { font-size: 11px; color: #444; min-height: 1.4em; }
.iwsc-scales { display: flex; gap: 2px; }
.iwsc-score { margin: 4px 0 8px; font-size: 12px; }
.iwsc-edit { border-top: 1px solid #ddd; margin-top: 10px; padding-top: 8px; }
.iwsc-edit h4 { margin: 0 0 4px; font-size: 13px; }
.iwsc-drag { cursor: grab; outline-offset: 2px; } .iwsc-drag:focus { outline: 2px solid #e6550d; }
.iwsc-status { font-size: 12px; color: #555; display: flex; gap: 8px; align-items: center; }
.iwsc-status progress { width: 140px; }
` + BANNER_CSS;
const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? "n/a" : Number(v).toFixed(d));

function controls({ model, set }) {
  const split = model.get("prompts").map((p, i) => [i, `${i}: ${p.length > 50 ? `${p.slice(0, 50)}…` : p}`]);
  const image = select("iwsc-image", split, model.get("image"), (v) => set({ image: v }), true, "image");
  const layer = select("iwsc-layer", model.get("layers").map((l) => [l, l.replace(".attn.out", " (self-attention)")]),
    model.get("layer"), (v) => set({ layer: v }), false, "layer");
  const steps = model.get("steps");
  const step = slider("iwsc-step", "denoising step", { min: 0, max: steps - 1, value: model.get("step"), onchange: (v) => set({ step: v }),
    shown: (v) => `${v} of ${steps - 1}` });
  let timer = null;
  const play = h("button", { class: "iwsc-play", "aria-label": "play the denoising steps" }, "▶ play");
  const stop = () => { clearInterval(timer); timer = null; play.textContent = "▶ play"; };
  play.addEventListener("click", () => {
    if (timer) { stop(); return; }
    if (model.get("step") >= steps - 1) set({ step: 0 });
    play.textContent = "❚❚ pause";
    timer = setInterval(() => {
      const next = model.get("step") + 1;
      if (next >= steps) { stop(); return; }
      set({ step: next });
    }, 450);
  });
  return {
    el: h("div", { class: "iwsc-bar" }, image, layer, step, play),
    update(names) {
      if (touches(names, ["prompts", "layers", "steps"])) return false;
      if (names.has("image")) image.value = model.get("image");
      if (names.has("layer")) layer.value = model.get("layer");
      if (names.has("step")) step.set(model.get("step"));
      return true;
    },
    destroy: stop,
  };
}

/** Each step of the chosen image at the chosen layer: fetched once per (image, layer), drawn per step. */
function frames({ model, request, news }, signal) {
  const [H, W] = model.get("size");
  const c = Object.fromEntries(["pred", "pmask", "lmask", "pdepth", "ldepth"].map((k) => [k, canvas(W, H, k)]));
  const panels = {
    pred: panel("predicted final image", c.pred), pmask: panel("probe: object", c.pmask),
    lmask: panel("label: object", c.lmask, "of the final image"),
    pdepth: panel("probe: depth", c.pdepth), ldepth: panel("label: depth", c.ldepth, "of the final image"),
  };
  const score = h("div", { class: "iwsc-score" }, "loading…");
  const el = h("div", { class: "iwsc-frames" }, h("div", { class: "iwsc-row" }, ...Object.values(panels), scales(H * SCALE)),
    score);
  el.dataset.drawn = "1"; // save_png waits for data-painted on every part marked data-drawn
  let data = null, key = null, ticket = 0;
  const draw = () => {
    if (!data) return;
    const t = model.get("step"), n = H * W, at = (a) => a.data.subarray(t * n, (t + 1) * n);
    paintRGB(c.pred, data.prediction.data.subarray(t * n * 3, (t + 1) * n * 3), W, H);
    paintMap(c.pmask, at(data.mask), W, H);
    paintMap(c.lmask, data.label_mask.data, W, H);
    paintMap(c.pdepth, at(data.depth), W, H);
    paintMap(c.ldepth, data.label_depth.data, W, H);
    panels.pred.caption(`step ${t} of ${model.get("steps") - 1}`);
    panels.pmask.caption(`Dice ${fmt(data.dice[t])}`);
    panels.pdepth.caption(`RMSE ${fmt(data.rmse[t])}`);
    score.textContent = `Image ${data.image} (${data.split} split), ${data.layer}, step ${t}: mask probe Dice `
      + `${fmt(data.dice[t])}, depth probe RMSE ${fmt(data.rmse[t])} against the estimator's labels of the final image `
      + "(this image; the heatmap shows the choose split's means).";
    el.dataset.painted = "1";
  };
  const load = () => {
    const k = `${model.get("image")}|${model.get("layer")}`;
    if (k === key) { draw(); return; }
    key = k;
    const mine = ++ticket;
    delete el.dataset.painted;
    request("frames", { image: model.get("image"), layer: model.get("layer") }, { signal }).then((got) => {
      if (mine !== ticket) return;
      news.clear("frames");
      data = { ...got };
      for (const name of ["prediction", "final", "depth", "mask", "label_depth", "label_mask"]) data[name] = decode(got[name]);
      draw();
    }).catch((err) => { if (mine === ticket) { key = null; news.fail(err, "frames"); score.textContent = String(err.message || err); } });
  };
  load();
  return { el, update(names) { if (touches(names, ["image", "layer", "step"])) load(); return !names.has("size"); } };
}

/** The edit panel: the final image with the object's mask to drag, the depth push, before and after. */
function edit({ model, set, request, news }, signal) {
  const [H, W] = model.get("size");
  const src = canvas(W, H, "the final image: drag the tinted mask to move the object (arrow keys move it too)");
  src.classList.add("iwsc-drag");
  src.tabIndex = 0;
  const before = canvas(W, H, "before the edit"), after = canvas(W, H, "after the edit");
  const push = slider("iwsc-push", "depth push", { min: -2, max: 2, step: 0.1, value: model.get("push"),
    onchange: (v) => set({ push: v }), shown: (v) => `${v > 0 ? "+" : ""}${(+v).toFixed(1)} (${v > 0 ? "nearer" : v < 0 ? "farther" : "none"})` });
  const steps = slider("iwsc-esteps", "edited steps", { min: 1, max: model.get("steps"), value: model.get("edit_steps"),
    onchange: (v) => set({ edit_steps: v }), shown: (v) => `first ${v}` });
  const status = h("div", { class: "iwsc-status" }), scores = h("div", { class: "iwsc-score" });
  const reset = h("button", { onclick: () => set({ dx: 0, dy: 0, push: 0 }) }, "reset");
  const stop = h("button", { class: "iwsc-stop", onclick: () => request("cancel", {}, { signal }).catch((e) => news.fail(e)) },
    "stop");
  // the depth push regenerates as the slider moves (a newer value stops the generation under way)
  let pending = null;
  push.querySelector("input").addEventListener("input", (e) => {
    clearTimeout(pending);
    pending = setTimeout(() => set({ push: +e.target.value }), 250);
  });
  let base = null, offset = [model.get("dx"), model.get("dy")], shown = -1;
  const paintSource = () => {
    if (!base) return;
    const moved = shifted(base.mask, W, H, offset[0], offset[1]);
    paintRGB(src, base.final, W, H, { tint: moved, outlines: [[base.mask, [255, 255, 255]]] });
  };
  request("frames", { image: model.get("image"), layer: model.get("layer") }, { signal }).then((got) => {
    base = { final: decode(got.final).data, mask: decode(got.label_mask).data };
    paintSource();
  }).catch((err) => news.fail(err, "frames"));
  let drag = null;
  src.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, start: [...offset] }; src.setPointerCapture(e.pointerId); });
  src.addEventListener("pointermove", (e) => {
    if (!drag) return;
    offset = [drag.start[0] + Math.round((e.clientX - drag.x) / SCALE), drag.start[1] + Math.round((e.clientY - drag.y) / SCALE)];
    paintSource();
  });
  src.addEventListener("pointerup", () => { if (drag) { drag = null; set({ dx: offset[0], dy: offset[1] }); } });
  src.addEventListener("keydown", (e) => {
    const m = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
    if (!m) return;
    e.preventDefault();
    offset = [offset[0] + m[0], offset[1] + m[1]];
    paintSource();
    set({ dx: offset[0], dy: offset[1] });
  });
  const showStatus = () => {
    status.replaceChildren(model.get("editing")
      ? h("span", {}, "generating under the edit… ", h("progress", { max: 1, value: model.get("progress") }), stop)
      : h("span", {}, model.get("edit_scores").image === model.get("image") ? "done"
        : "no edit yet: drag the mask or move the depth push"));
  };
  const showEdit = () => {
    const n = model.get("edits"), s = model.get("edit_scores");
    // no edit of the image shown yet (another image clears the scores; until then they are the old image's)
    if (!n || n === shown || s.image !== model.get("image")) return;
    shown = n;
    el.dataset.drawn = "1"; // an edit to show: save_png waits for it
    delete el.dataset.painted;
    request("edited", { edits: n }, { signal }).then((got) => {
      if (got.edits !== model.get("edits")) return; // a newer edit has landed: its own request paints it
      const mask = (k) => decode(got[k]).data;
      paintRGB(before, decode(got.before).data, W, H, { outlines: [[mask("old_mask"), [255, 255, 255]]] });
      paintRGB(after, decode(got.after).data, W, H, { outlines: [[mask("target"), [230, 85, 13]], [mask("after_mask"), [255, 255, 255]]] });
      scores.textContent = `Moved by (${s.dx}, ${s.dy}) px, pushed ${fmt(s.push, 1)}, first ${s.steps} steps at ${s.layers.length} layers. `
        + `Object after the edit (estimator): Dice ${fmt(s.dice_target)} with the new mask, ${fmt(s.dice_old)} with the old; `
        + `disparity ${fmt(s.disparity_before)} → ${fmt(s.disparity_after)}; depth probe on the object ${fmt(s.probe_before)} → ${fmt(s.probe_after)}.`;
      el.dataset.painted = String(n);
    }).catch((err) => news.fail(err, "edited"));
  };
  const el = h("div", { class: "iwsc-edit" }, h("h4", {}, "Edit: move the salient object or push it nearer / farther"),
    h("div", { class: "iwsc-bar" }, push, steps, reset, status),
    h("div", { class: "iwsc-row" }, panel("drag the object (white: where it is)", src), panel("before", before, "white: the object"),
      panel("after", after, "orange: the target; white: the object now")), scores);
  showStatus();
  showEdit();
  return {
    el,
    update(names) {
      if (touches(names, ["image", "size", "steps"])) return false;
      if (names.has("push")) push.set(model.get("push"));
      if (names.has("edit_steps")) steps.set(model.get("edit_steps"));
      if (touches(names, ["dx", "dy"])) { offset = [model.get("dx"), model.get("dy")]; paintSource(); }
      if (touches(names, ["editing", "progress", "edits", "edit_scores"])) showStatus();
      if (names.has("edits")) showEdit();
      return true;
    },
  };
}

const FOLLOWED = ["prompts", "layers", "steps", "size", "image", "layer", "step", "dx", "dy", "push", "edit_steps", "editing",
  "progress", "edit_scores", "edits"];

function render(view) {
  const { body, set, request, news } = mount(view, "iwsc", CSS), ctx = { model: view.model, set, request, news };
  const parts = composeParts(body, view.model, [controls, frames, edit].map((part) => (signal) => part(ctx, signal)),
    { traits: FOLLOWED });
  return () => parts.destroy();
}

export default { render };
