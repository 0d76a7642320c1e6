// ITIView: alpha, K and direction controls; the prompt's continuation without and with the edit (the
// edited one streams in token by token), each marked by the judge when there is one; the truth,
// cross-entropy and KL curves against alpha, each on its own axes, with the current alpha marked. Four
// parts (controls, texts, heads, curves), each following the traits it shows; the streamed text changes
// in place.
import { BANNER_CSS } from "../lib/banner.js";
import { frame, legend } from "../lib/chart.js";
import { h, select, slider, svgEl } from "../lib/dom.js";
import { mount } from "../lib/mount.js";
import { composeParts, touches } from "../lib/parts.js";

const CSS = `
.iwiti { font: 13px/1.4 system-ui, sans-serif; color: #222; max-width: 980px; }
.iwiti-bar { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin-bottom: 10px; }
.iwiti-bar label { display: flex; gap: 6px; align-items: center; }
.iwiti-cols { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.iwiti-col { border: 1px solid #ddd; border-radius: 4px; padding: 8px 10px; min-height: 4em; }
.iwiti-col h4 { margin: 0 0 6px; font-size: 12px; color: #555; font-weight: 600; display: flex; gap: 8px; align-items: center; }
.iwiti-prompt { color: #777; }
.iwiti-prompt, .iwiti-gen { white-space: pre-wrap; }  /* a chat's answer starts on its own line */
.iwiti-edited .iwiti-gen { color: #08306b; }
.iwiti-verdict { font-size: 11px; font-weight: 600; padding: 0 6px; border-radius: 8px; border: 1px solid; }
.iwiti-verdict.true { color: #1b6e2a; border-color: #1b6e2a; background: #e8f5e9; }
.iwiti-verdict.misconception { color: #a3260b; border-color: #a3260b; background: #fdecea; }
.iwiti-verdict.other { color: #555; border-color: #999; background: #f4f4f4; }
.iwiti-cursor { display: inline-block; width: 7px; height: 1em; background: #08306b; vertical-align: -2px; animation: iwblink 1s steps(2) infinite; }
@keyframes iwblink { 50% { opacity: 0; } }
.iwiti-heads { font-size: 11px; color: #555; margin-top: 8px; }
.iwiti-curves { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 12px; }
.iwiti-stale { background: #fff7e0; border: 1px solid #f0c36d; padding: 3px 8px; font-size: 12px; margin-top: 10px; }
` + BANNER_CSS;
const KINDS = { mass_mean: "mass-mean direction", probe: "probe weights", random: "random (control)" };
const MARK = { true: "✓ true", misconception: "✗ misconception", other: "? other" };

/** y against alpha, on its own axes, with the current alpha as a labelled dashed line. */
function chart(title, yTitle, xs, ys, alpha, colour, { min = null, max = null } = {}) {
  const lo = Math.min(...xs, alpha), hi = Math.max(...xs, alpha);
  const y0 = min ?? Math.min(...ys), y1 = max ?? Math.max(...ys, y0 + 1e-3);
  const f = frame({ width: 300, height: 170, title, x: { min: lo, max: hi, title: "alpha (edit strength)" },
    y: { min: y0, max: y1, title: yTitle } });
  f.svg.append(svgEl("polyline", { points: xs.map((x, i) => `${f.x(x)},${f.y(ys[i])}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
  xs.forEach((x, i) => f.svg.append(svgEl("circle", { cx: f.x(x), cy: f.y(ys[i]), r: 2.5, fill: colour })));
  const ax = f.x(alpha);
  f.svg.append(svgEl("line", { class: "iwiti-marker", x1: ax, x2: ax, y1: f.area.top, y2: f.area.bottom, stroke: "#e6550d", "stroke-dasharray": "4,3" }),
    svgEl("text", { x: ax + 3, y: f.area.top + 9, "font-size": 10, fill: "#e6550d" }, `alpha ${alpha}`));
  return f.svg;
}

function controls({ model, set }) {
  const alpha = slider("iwiti-alpha", "alpha", { min: -30, max: 30, step: 0.5, value: model.get("alpha"), onchange: (v) => set({ alpha: v }) });
  const k = slider("iwiti-k", "heads K", { min: 1, max: model.get("n_heads_total"), value: model.get("k"), onchange: (v) => set({ k: v }) });
  const kind = select("iwiti-kind", Object.entries(KINDS), model.get("kind"), (v) => set({ kind: v }), false, "direction");
  const bar = h("div", { class: "iwiti-bar" }, alpha, k, kind), prompts = model.get("prompts");
  const prompt = select("iwiti-prompt-sel", prompts.map((p, i) => [i, p.length > 60 ? `${p.slice(0, 60)}…` : p]),
    model.get("prompt_index"), (v) => set({ prompt_index: v }), true, "prompt");
  if (prompts.length > 1) bar.append(prompt);
  return {
    el: bar,
    update(names) {
      if (touches(names, ["prompts", "n_heads_total"])) return false;
      if (names.has("alpha")) alpha.set(model.get("alpha"));
      if (names.has("k")) k.set(model.get("k"));
      if (names.has("kind")) kind.value = model.get("kind");
      if (names.has("prompt_index")) prompt.value = model.get("prompt_index");
      return true;
    },
  };
}

function column(tokens, prompt, cls, title, verdict, streaming) {
  const head = h("h4", {}, title);
  if (verdict) head.append(h("span", { class: `iwiti-verdict ${verdict in MARK ? verdict : "other"}` }, MARK[verdict] || verdict));
  const col = h("div", { class: `iwiti-col ${cls}` }, head, h("span", { class: "iwiti-prompt" }, prompt),
    h("span", { class: "iwiti-gen" }, tokens.join("")));
  if (streaming) col.append(h("span", { class: "iwiti-cursor", "aria-label": "generating" }));
  return col;
}

/** The continuation without and with the edit; the edited one follows the stream in place. */
function texts({ model }) {
  const prompt = model.get("prompts")[model.get("prompt_index")], verdicts = model.get("verdicts") || {};
  const generating = model.get("generating");
  const edited = column(model.get("edited_tokens"), prompt, "iwiti-edited", `with ITI (alpha ${model.get("alpha")})`,
    generating ? null : verdicts.edited, generating);
  edited.dataset.drawn = "1";
  if (!generating) edited.dataset.painted = "1";
  const plain = column(model.get("plain_tokens"), prompt, "iwiti-plain", "without ITI", verdicts.plain, false);
  return {
    el: h("div", { class: "iwiti-cols" }, plain, edited),
    update(names) {
      if (touches(names, ["prompts", "prompt_index", "plain_tokens", "generating", "verdicts", "alpha"])) return false;
      if (names.has("edited_tokens")) edited.querySelector(".iwiti-gen").textContent = model.get("edited_tokens").join("");
      return true;
    },
  };
}

function headsLine({ model }) {
  const line = h("div", { class: "iwiti-heads" });
  const show = () => {
    const heads = model.get("heads");
    line.textContent = `${heads.length} heads edited (layer, head): ` + heads.map(([l, hd]) => `(${l}, ${hd})`).join(" ");
  };
  show();
  return { el: line, update(names) { if (names.has("heads")) show(); return true; } };
}

/** The curves measured by view.sweep(), and a notice when the controls have moved off what they measured. */
function curves({ model }) {
  const wrap = h("div"), c = model.get("curves");
  if (c.alpha && c.alpha.length >= 2) {
    const box = h("div", { class: "iwiti-curves" });
    if (c.truth) box.append(chart("Share of true answers", "share true", c.alpha, c.truth, model.get("alpha"), "#2171b5", { min: 0, max: 1 }));
    box.append(chart("Cross-entropy on plain text", "nats per token", c.alpha, c.cross_entropy, model.get("alpha"), "#6a51a3"));
    box.append(chart("KL from the unedited model", "nats per token", c.alpha, c.kl, model.get("alpha"), "#e6550d", { min: 0 }));
    wrap.append(box, legend([["#e6550d", "the current alpha", true]]));
    const same = c.kind === model.get("kind") && JSON.stringify(c.heads) === JSON.stringify(model.get("heads"));
    if (c.heads && !same) {
      wrap.prepend(h("div", { class: "iwiti-stale" }, `These curves were measured for ${KINDS[c.kind] || c.kind} on `
        + `${c.heads.length} heads; the controls now edit ${model.get("heads").length} heads with the `
        + `${KINDS[model.get("kind")] || model.get("kind")}: run view.sweep(...) again to measure them.`));
    }
  }
  return { el: wrap, update: (names) => !touches(names, ["curves", "alpha", "kind", "heads"]) };
}

const FOLLOWED = ["alpha", "k", "kind", "heads", "prompts", "prompt_index", "plain_tokens", "generating", "curves",
  "verdicts", "edited_tokens", "n_heads_total"];

function render(view) {
  const { body, set } = mount(view, "iwiti", CSS), ctx = { model: view.model, set };
  const parts = composeParts(body, view.model, [controls, texts, headsLine, curves].map((part) => () => part(ctx)),
    { traits: FOLLOWED });
  return () => parts.destroy();
}

export default { render };
