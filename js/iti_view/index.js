// ITIView: alpha, K and direction controls; the prompt's continuation without and with the edit (the
// edited one streams in token by token); the truth / cross-entropy / KL curves with alpha marked.
import { h, select } from "../lib/dom.js";

const CSS = `
.iwiti { font: 13px/1.4 system-ui, sans-serif; color: #222; max-width: 980px; }
.iwiti-bar { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin-bottom: 10px; }
.iwiti-bar label { display: flex; gap: 6px; align-items: center; }
.iwiti-error { background: #fde8e8; border: 1px solid #e08080; color: #8a1f1f; padding: 4px 8px; margin-bottom: 8px; white-space: pre-wrap; }
.iwiti-cols { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.iwiti-col { border: 1px solid #ddd; border-radius: 4px; padding: 8px 10px; min-height: 4em; }
.iwiti-col h4 { margin: 0 0 6px; font-size: 12px; color: #555; font-weight: 600; }
.iwiti-prompt { color: #777; }
.iwiti-edited .iwiti-gen { color: #08306b; }
.iwiti-cursor { display: inline-block; width: 7px; height: 1em; background: #08306b; vertical-align: -2px; animation: iwblink 1s steps(2) infinite; }
@keyframes iwblink { 50% { opacity: 0; } }
.iwiti-heads { font-size: 11px; color: #555; margin-top: 8px; }
.iwiti-curves { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 12px; }
.iwiti-curves text { font-size: 10px; fill: #444; }
`;
const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs, text) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

/** One curve (y against alpha) with the current alpha as a vertical line. */
function chart(title, xs, ys, alpha, colour) {
  const W = 300, H = 150, L = 42, B = 24, T = 18;
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - 8);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0 || 1)) * (H - T - B);
  const svg = svgEl("svg", { width: W, height: H, class: "iwiti-chart" });
  svg.append(svgEl("text", { x: L, y: 11 }, title));
  svg.append(svgEl("line", { x1: L, x2: W - 8, y1: H - B, y2: H - B, stroke: "#999" }));
  svg.append(svgEl("line", { x1: L, x2: L, y1: T, y2: H - B, stroke: "#999" }));
  for (const y of [y0, y1]) svg.append(svgEl("text", { x: L - 4, y: sy(y) + 3, "text-anchor": "end" }, y.toFixed(y1 - y0 < 0.1 ? 3 : 2)));
  for (const x of [x0, x1]) svg.append(svgEl("text", { x: sx(x), y: H - B + 13, "text-anchor": "middle" }, x));
  svg.append(svgEl("text", { x: (L + W) / 2, y: H - 2, "text-anchor": "middle" }, "alpha"));
  svg.append(svgEl("polyline", { points: xs.map((x, i) => `${sx(x)},${sy(ys[i])}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
  xs.forEach((x, i) => svg.append(svgEl("circle", { cx: sx(x), cy: sy(ys[i]), r: 2.5, fill: colour })));
  if (alpha >= x0 && alpha <= x1) {
    svg.append(svgEl("line", { class: "iwiti-marker", x1: sx(alpha), x2: sx(alpha), y1: T, y2: H - B, stroke: "#e6550d", "stroke-dasharray": "4,3" }));
  }
  return svg;
}

function render({ model, el }) {
  const root = h("div", { class: "iwiti" });
  el.append(h("style", {}, CSS), root);
  const set = (changes) => { for (const [k, v] of Object.entries(changes)) model.set(k, v); model.save_changes(); };

  function slider(cls, label, min, max, step, trait) {
    const input = h("input", { type: "range", class: cls, min, max, step, value: model.get(trait) });
    const out = h("b", {}, String(model.get(trait)));
    input.addEventListener("input", () => { out.textContent = input.value; });
    input.addEventListener("change", () => set({ [trait]: +input.value }));  // on release: one regeneration
    return h("label", {}, label, input, out);
  }

  function text(tokens, prompt, cls, title, streaming) {
    const col = h("div", { class: `iwiti-col ${cls}` }, h("h4", {}, title), h("span", { class: "iwiti-prompt" }, prompt),
      h("span", { class: "iwiti-gen" }, tokens.join("")));
    if (streaming) col.append(h("span", { class: "iwiti-cursor" }));
    return col;
  }

  function draw() {
    root.innerHTML = "";
    if (model.get("error")) root.append(h("div", { class: "iwiti-error" }, model.get("error")));
    const prompts = model.get("prompts");
    const bar = h("div", { class: "iwiti-bar" },
      slider("iwiti-alpha", "alpha", -30, 30, 0.5, "alpha"),
      slider("iwiti-k", "heads K", 1, model.get("n_heads_total"), 1, "k"),
      select("iwiti-kind", [["mass_mean", "mass-mean direction"], ["probe", "probe weights"], ["random", "random (control)"]],
        model.get("kind"), (v) => set({ kind: v })));
    if (prompts.length > 1) {
      bar.append(select("iwiti-prompt-sel", prompts.map((p, i) => [i, p.length > 60 ? `${p.slice(0, 60)}…` : p]),
        model.get("prompt_index"), (v) => set({ prompt_index: v }), true));
    }
    root.append(bar);
    const prompt = prompts[model.get("prompt_index")];
    const edited = text(model.get("edited_tokens"), prompt, "iwiti-edited", `with ITI (alpha ${model.get("alpha")})`, model.get("generating"));
    edited.dataset.drawn = "1";
    if (!model.get("generating")) edited.dataset.painted = "1";
    root.append(h("div", { class: "iwiti-cols" }, text(model.get("plain_tokens"), prompt, "iwiti-plain", "without ITI", false), edited));
    const heads = model.get("heads");
    root.append(h("div", { class: "iwiti-heads" }, `${heads.length} heads edited (layer, head): ` + heads.map(([l, hd]) => `(${l}, ${hd})`).join(" ")));
    const c = model.get("curves");
    if (c.alpha && c.alpha.length > 1) {
      const box = h("div", { class: "iwiti-curves" });
      if (c.truth) box.append(chart("share of true answers", c.alpha, c.truth, model.get("alpha"), "#2171b5"));
      box.append(chart("cross-entropy on plain text (nats)", c.alpha, c.cross_entropy, model.get("alpha"), "#6a51a3"));
      box.append(chart("KL from the unedited model (nats)", c.alpha, c.kl, model.get("alpha"), "#e6550d"));
      root.append(box);
    }
  }

  draw();
  for (const t of ["alpha", "k", "kind", "heads", "prompts", "prompt_index", "plain_tokens", "generating", "curves", "error"]) {
    model.on(`change:${t}`, draw);
  }
  model.on("change:edited_tokens", () => {  // streaming: only the generated text changes
    const gen = root.querySelector(".iwiti-edited .iwiti-gen");
    if (gen) gen.textContent = model.get("edited_tokens").join(""); else draw();
  });
}

export default { render };
