// ITIView: alpha, K and direction controls; the prompt's continuation without and with the edit (the
// edited one streams in token by token), each marked by the judge when there is one; the truth,
// cross-entropy and KL curves against alpha, each on its own axes, with the current alpha marked.
import { BANNER_CSS } from "../lib/banner.js";
import { frame, legend } from "../lib/chart.js";
import { coalesce, h, keepingFocus, select, slider, svgEl } from "../lib/dom.js";
import { mount } from "../lib/mount.js";

const CSS = `
.iwiti { font: 13px/1.4 system-ui, sans-serif; color: #222; max-width: 980px; }
.iwiti-bar { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin-bottom: 10px; }
.iwiti-bar label { display: flex; gap: 6px; align-items: center; }
.iwiti-cols { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.iwiti-col { border: 1px solid #ddd; border-radius: 4px; padding: 8px 10px; min-height: 4em; }
.iwiti-col h4 { margin: 0 0 6px; font-size: 12px; color: #555; font-weight: 600; display: flex; gap: 8px; align-items: center; }
.iwiti-prompt { color: #777; }
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

function render(view) {
  const { model } = view;
  const { body, set } = mount(view, "iwiti", CSS);

  function text(tokens, prompt, cls, title, verdict, streaming) {
    const head = h("h4", {}, title);
    if (verdict) head.append(h("span", { class: `iwiti-verdict ${verdict in MARK ? verdict : "other"}` }, MARK[verdict] || verdict));
    const col = h("div", { class: `iwiti-col ${cls}` }, head, h("span", { class: "iwiti-prompt" }, prompt),
      h("span", { class: "iwiti-gen" }, tokens.join("")));
    if (streaming) col.append(h("span", { class: "iwiti-cursor", "aria-label": "generating" }));
    return col;
  }

  function curves() {
    const c = model.get("curves");
    if (!c.alpha || c.alpha.length < 2) return null;
    const box = h("div", { class: "iwiti-curves" });
    if (c.truth) box.append(chart("Share of true answers", "share true", c.alpha, c.truth, model.get("alpha"), "#2171b5", { min: 0, max: 1 }));
    box.append(chart("Cross-entropy on plain text", "nats per token", c.alpha, c.cross_entropy, model.get("alpha"), "#6a51a3"));
    box.append(chart("KL from the unedited model", "nats per token", c.alpha, c.kl, model.get("alpha"), "#e6550d", { min: 0 }));
    const wrap = h("div", {}, box, legend([["#e6550d", "the current alpha", true]]));
    const same = c.kind === model.get("kind") && JSON.stringify(c.heads) === JSON.stringify(model.get("heads"));
    if (c.heads && !same) {
      wrap.prepend(h("div", { class: "iwiti-stale" }, `These curves were measured for ${KINDS[c.kind] || c.kind} on `
        + `${c.heads.length} heads; the controls now edit ${model.get("heads").length} heads with the `
        + `${KINDS[model.get("kind")] || model.get("kind")}: run view.sweep(...) again to measure them.`));
    }
    return wrap;
  }

  function draw() {
    const prompts = model.get("prompts"), verdicts = model.get("verdicts") || {};
    const bar = h("div", { class: "iwiti-bar" },
      slider("iwiti-alpha", "alpha", { min: -30, max: 30, step: 0.5, value: model.get("alpha"), onchange: (v) => set({ alpha: v }) }),
      slider("iwiti-k", "heads K", { min: 1, max: model.get("n_heads_total"), value: model.get("k"), onchange: (v) => set({ k: v }) }),
      select("iwiti-kind", Object.entries(KINDS), model.get("kind"), (v) => set({ kind: v }), false, "direction"));
    if (prompts.length > 1) {
      bar.append(select("iwiti-prompt-sel", prompts.map((p, i) => [i, p.length > 60 ? `${p.slice(0, 60)}…` : p]),
        model.get("prompt_index"), (v) => set({ prompt_index: v }), true, "prompt"));
    }
    const prompt = prompts[model.get("prompt_index")];
    const generating = model.get("generating");
    const edited = text(model.get("edited_tokens"), prompt, "iwiti-edited", `with ITI (alpha ${model.get("alpha")})`,
      generating ? null : verdicts.edited, generating);
    edited.dataset.drawn = "1";
    if (!generating) edited.dataset.painted = "1";
    const heads = model.get("heads");
    keepingFocus(body, () => body.replaceChildren(bar,
      h("div", { class: "iwiti-cols" }, text(model.get("plain_tokens"), prompt, "iwiti-plain", "without ITI", verdicts.plain, false), edited),
      h("div", { class: "iwiti-heads" }, `${heads.length} heads edited (layer, head): ` + heads.map(([l, hd]) => `(${l}, ${hd})`).join(" "))));
    const c = curves();
    if (c) body.append(c);
  }

  const redraw = coalesce(draw);
  draw();
  for (const t of ["alpha", "k", "kind", "heads", "prompts", "prompt_index", "plain_tokens", "generating", "curves", "verdicts"]) {
    model.on(`change:${t}`, redraw);
  }
  model.on("change:edited_tokens", () => {  // streaming: only the generated text changes
    const gen = body.querySelector(".iwiti-edited .iwiti-gen");
    if (gen) gen.textContent = model.get("edited_tokens").join(""); else redraw();
  });
}

export default { render };
