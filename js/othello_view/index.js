// OthelloView's board panel: the game (discs, the legal moves, the model's next-move probabilities on the
// squares; a click on a legal square plays it), the board a probe reads from the residual stream at the
// chosen layer (its wrong squares marked; a click on a disc flips it in the model's board), the model's
// next move under the flips (the flipped board's legal moves outlined), and latent saliency on demand.
// Parts: the controls, the boards, the legend; each follows the traits it shows.
import { BANNER_CSS } from "../lib/banner.js";
import { h, select, slider, svgEl } from "../lib/dom.js";
import { blues, colourBar, cssColour, redBlue } from "../lib/heatmap.js";
import { mount } from "../lib/mount.js";
import { composeParts, NOTICE_CSS, touches } from "../lib/parts.js";

const CSS = `
.iwoth { font: 13px/1.4 system-ui, sans-serif; color: #222; max-width: 1180px; }
.iwoth-bar { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin: 4px 0 10px; }
.iwoth-bar label { display: flex; gap: 6px; align-items: center; }
.iwoth-bar button { font-size: 13px; padding: 1px 8px; }
.iwoth-boards { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.iwoth-board figcaption { font-size: 12px; font-weight: 600; color: #333; margin-bottom: 3px; max-width: 360px; }
.iwoth-board .sub { font-weight: 400; color: #555; }
.iwoth-board { margin: 0; }
.iwoth-cell { cursor: default; }
.iwoth-cell.click { cursor: pointer; }
.iwoth-cell:focus { outline: none; }
.iwoth-cell:focus > rect { stroke: #fd8d3c; stroke-width: 3; }
.iwoth-status { font-size: 12px; color: #555; display: flex; gap: 8px; align-items: center; }
.iwoth-status progress { width: 120px; }
.iwoth-legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 11px; color: #333; margin-top: 6px; align-items: center; }
` + BANNER_CSS + NOTICE_CSS;

const CELL = 38, PAD = 20;
const ROWS = "ABCDEFGH";
const NAME = (s) => `${ROWS[Math.floor(s / 8)]}${(s % 8) + 1}`;
const GREEN = "#2e7d4f", FLIP = "#fd8d3c", WRONG = "#e41a1c";
const pct = (p) => (p >= 0.995 ? "99%" : p >= 0.01 ? `${Math.round(p * 100)}%` : p > 0 ? "<1%" : "");

/** Colour of a disc of class `cls` in `encoding`, for the player `player` (0 black, 1 white) to move. */
function discColour(cls, encoding, player) {
  if (cls === 0) return null;
  if (encoding === "colour") return cls === 1 ? "black" : "white";
  const mine = player === 0 ? "black" : "white", theirs = player === 0 ? "white" : "black";
  return cls === 1 ? mine : theirs;
}

/**
 * An 8x8 board as SVG. cells(s) -> {fill, disc, ring, dot, text, textColour, label, click, outline, cross}.
 */
function boardSvg(id, title, cells, onClick) {
  const size = PAD + 8 * CELL + 2;
  const svg = svgEl("svg", { width: size, height: size, class: `iwoth-svg iwoth-${id}`, role: "group", "aria-label": title });
  for (let c = 0; c < 8; c++) svg.append(svgEl("text", { x: PAD + c * CELL + CELL / 2, y: 13, "text-anchor": "middle", "font-size": 11, fill: "#444" }, String(c + 1)));
  for (let r = 0; r < 8; r++) svg.append(svgEl("text", { x: 7, y: PAD + r * CELL + CELL / 2 + 4, "text-anchor": "middle", "font-size": 11, fill: "#444" }, ROWS[r]));
  for (let s = 0; s < 64; s++) {
    const r = Math.floor(s / 8), c = s % 8, x = PAD + c * CELL, y = PAD + r * CELL, o = cells(s);
    const g = svgEl("g", { class: `iwoth-cell${o.click ? " click" : ""}`, "data-square": s, "data-name": NAME(s),
      role: o.click ? "button" : "img", tabindex: o.click ? 0 : -1, "aria-label": `${NAME(s)}: ${o.label}` });
    g.append(svgEl("rect", { x, y, width: CELL, height: CELL, fill: o.fill || GREEN, stroke: "#1b4d2e", "stroke-width": 1 }));
    if (o.outline) g.append(svgEl("rect", { x: x + 2.5, y: y + 2.5, width: CELL - 5, height: CELL - 5, fill: "none", stroke: o.outline, "stroke-width": 2.5, class: "iwoth-outline" }));
    if (o.disc) g.append(svgEl("circle", { cx: x + CELL / 2, cy: y + CELL / 2, r: CELL * 0.38, fill: o.disc, stroke: "#333", "stroke-width": 1, "fill-opacity": o.opacity ?? 1, class: "iwoth-disc" }));
    if (o.ring) g.append(svgEl("circle", { cx: x + CELL / 2, cy: y + CELL / 2, r: CELL * 0.44, fill: "none", stroke: o.ring, "stroke-width": 3, class: "iwoth-ring" }));
    if (o.cross) {
      g.append(svgEl("path", { d: `M${x + 5},${y + 5}L${x + CELL - 5},${y + CELL - 5}M${x + CELL - 5},${y + 5}L${x + 5},${y + CELL - 5}`,
        stroke: WRONG, "stroke-width": 2.5, class: "iwoth-wrong" }));
    }
    if (o.dot) g.append(svgEl("circle", { cx: x + CELL / 2, cy: y + CELL / 2, r: 3, fill: o.dot }));
    if (o.text) g.append(svgEl("text", { x: x + CELL / 2, y: y + CELL / 2 + 4, "text-anchor": "middle", "font-size": 11, "font-weight": 600, fill: o.textColour || "#111", class: "iwoth-prob" }, o.text));
    if (o.click) {
      g.addEventListener("click", () => onClick(s));
      g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onClick(s); } });
    }
    svg.append(g);
  }
  return svg;
}

const probMax = (probs) => Math.max(0.05, ...probs.filter((p) => p !== null));

/** Probability shading of an empty square (blues, on a scale up to the largest probability shown). */
function probCell(p, vmax) {
  if (p === null || p === undefined || p < 0.005) return {};
  const v = Math.min(1, p / vmax);
  return { fill: cssColour(v, 1, blues), text: pct(p), textColour: v > 0.6 ? "#fff" : "#08306b" };
}

function controls({ model, set, view }) {
  const n = model.get("moves").length, cursor = model.get("cursor");
  const go = (c) => set({ cursor: Math.max(0, Math.min(model.get("moves").length, c)) });
  const nav = [["«", "first position", () => go(0)], ["‹", "one move back", () => go(model.get("cursor") - 1)],
    ["›", "one move forward", () => go(model.get("cursor") + 1)], ["»", "last position", () => go(model.get("moves").length)]]
    .map(([t, label, fn]) => h("button", { class: `iwoth-nav`, "aria-label": label, title: label, onclick: fn }, t));
  const where = h("span", { class: "iwoth-where" }, `move ${cursor} of ${n}`);
  const layer = slider("iwoth-layer", "probe layer", { min: 0, max: model.get("n_layers") - 1, value: model.get("layer"),
    onchange: (v) => set({ layer: v }) });
  const encodings = model.get("encodings").length ? model.get("encodings") : ["relative", "colour"];
  const names = { relative: "mine / theirs", colour: "black / white" };
  const enc = select("iwoth-encoding", encodings.map((e) => [e, names[e] || e]), model.get("encoding"), (v) => set({ encoding: v }), false, "encoding");
  const method = select("iwoth-method", [["gradient", "gradient steps"], ["vector", "probe direction"]], model.get("method"),
    (v) => set({ method: v }), false, "flip method");
  const opp = select("iwoth-opponent", [["none", "you play both"], ["white", "model plays white"], ["black", "model plays black"]],
    model.get("opponent"), (v) => set({ opponent: v }), false, "opponent");
  const sal = h("button", { class: "iwoth-saliency-run", onclick: () => view.request("saliency").catch((e) => view.news.fail(e, "saliency")) }, "latent saliency");
  const status = h("span", { class: "iwoth-status" });
  const showStatus = () => {
    const busy = model.get("busy");
    status.replaceChildren(...(busy ? [h("span", {}, `${busy}…`), h("progress", { max: 1, value: model.get("progress") })] : []));
  };
  showStatus();
  return {
    el: h("div", {}, h("div", { class: "iwoth-bar" }, ...nav, where, opp, status),
      h("div", { class: "iwoth-bar" }, layer, h("label", {}, "encoding", enc), h("label", {}, "flip by", method), sal)),
    update(names) {
      if (touches(names, ["moves", "cursor", "encodings", "n_layers"])) return false;
      if (names.has("layer")) layer.set(model.get("layer"));
      if (names.has("encoding")) enc.value = model.get("encoding");
      if (names.has("method")) method.value = model.get("method");
      if (names.has("opponent")) opp.value = model.get("opponent");
      if (touches(names, ["busy", "progress"])) showStatus();
      return true;
    },
  };
}

/** The state every board figure reads, from the model's traits. */
function boardState(model) {
  return { board: model.get("board"), player: model.get("player"), legal: new Set(model.get("legal")),
    probs: model.get("probs"), enc: model.get("encoding"), decoded: model.get("decoded"), truth: model.get("truth"),
    conf: model.get("confidence"), flips: new Set(model.get("flips")), layer: model.get("layer"),
    edited: model.get("edited_probs"), editedLegal: new Set(model.get("edited_legal")), sal: model.get("saliency"),
    over: model.get("over"), cursor: model.get("cursor") };
}

const discOf = (v) => (v === 1 ? "black" : v === -1 ? "white" : null);
const figure = (caption, ...body) => h("figure", { class: "iwoth-board" }, caption, ...body);

/** The game: discs, legal moves outlined, the model's probabilities on the empty squares; a click plays. */
function gameFigure(st, play) {
  const vmax = st.probs.length ? probMax(st.probs) : 1;
  const svg = boardSvg("game", "the game", (s) => {
    const disc = discOf(st.board[s]);
    if (disc) return { disc, label: `${disc} disc`, click: true };
    const p = st.probs.length ? st.probs[s] : null, isLegal = st.legal.has(s);
    return { ...probCell(p, vmax), outline: isLegal ? "#ffd92f" : null, click: true,
      label: `empty${isLegal ? ", legal" : ""}${p ? `, model ${pct(p)}` : ""}` };
  }, play);
  const head = st.over ? "game over" : `${st.player === 0 ? "black" : "white"} to move`;
  const counts = st.board.reduce((a, v) => [a[0] + (v === 1), a[1] + (v === -1)], [0, 0]);
  const fig = figure(h("figcaption", {}, `The game: ${head} `,
    h("span", { class: "sub" }, `(black ${counts[0]}, white ${counts[1]}); shading: the model's P(next move)`)), svg);
  const bar = st.probs.length ? colourBar("P(next move)", { vmin: 0, vmax: +vmax.toFixed(2), lut: blues, height: 8 * CELL - 20 }) : h("span");
  return [fig, bar];
}

/** The board the probe reads at the layer, its wrong squares crossed; a click on a disc flips it. */
function probeFigure(st, flip) {
  if (!st.decoded.length) {
    return figure(h("figcaption", {}, st.cursor ? "The probe's board: waiting for the probes…"
      : "The probe's board: play a move (the model reads moves; before the first it holds nothing)"));
  }
  const wrong = st.decoded.filter((d, s) => d !== st.truth[s]).length;
  const svg = boardSvg("probe", `the board the probe reads at layer ${st.layer}`, (s) => {
    const disc = discColour(st.decoded[s], st.enc, st.player), isWrong = st.decoded[s] !== st.truth[s];
    const flipped = st.flips.has(s);
    const label = `${disc ? `${disc} disc` : "empty"} (probe ${pct(st.conf[s])})${isWrong ? ", wrong" : ""}${flipped ? ", flipped" : ""}`;
    return { disc: flipped && disc ? (disc === "black" ? "white" : "black") : disc, opacity: 0.35 + 0.65 * st.conf[s],
      cross: isWrong, ring: flipped ? FLIP : null, click: st.board[s] !== 0, label };
  }, flip);
  return figure(h("figcaption", {}, `The probe's board at layer ${st.layer} `,
    h("span", { class: "sub" }, `(${st.enc === "relative" ? "mine/theirs" : "black/white"} linear probe; ${wrong} of 64 squares `
      + "wrong, ✗; click a disc to flip it in the model)")), svg);
}

/** The model's next move with the flips made in its board; the flipped board's legal moves outlined. */
function editedFigure(st) {
  if (!st.flips.size) return figure(h("figcaption", { class: "sub" }, "Flip a disc on the probe's board to see the model's moves change."));
  const flipped = st.board.map((v, s) => (st.flips.has(s) ? -v : v));
  const ready = st.edited.length > 0, vmax = ready ? probMax(st.edited) : 1;
  const svg = boardSvg("edited", "the model's next move after the flip", (s) => {
    const disc = discOf(flipped[s]);
    if (disc) return { disc, ring: st.flips.has(s) ? FLIP : null, label: `${disc} disc${st.flips.has(s) ? ", flipped" : ""}` };
    const p = ready ? st.edited[s] : null, isLegal = st.editedLegal.has(s);
    return { ...probCell(p, vmax), outline: isLegal ? "#ffd92f" : null,
      label: `empty${isLegal ? ", legal on the flipped board" : ""}${p ? `, model ${pct(p)}` : ""}` };
  });
  return figure(h("figcaption", {}, "After the flip: ", h("span", { class: "sub" }, ready
    ? `the model's P(next move) with ${[...st.flips].map(NAME).join(", ")} flipped; outlined: the legal moves of the flipped board`
    : "editing…")), svg);
}

/** Latent saliency: per disc, the drop in the predicted move's logit when it is flipped in the model. */
function saliencyFigure(st) {
  const sal = st.sal;
  if (!sal || !sal.values) return null;
  const m = Math.max(1e-6, ...sal.values.filter((v) => v !== null).map(Math.abs));
  const svg = boardSvg("saliency", "latent saliency", (s) => {
    const v = sal.values[s];
    if (v === null) return { fill: "#f4f4f4", label: "empty", outline: s === sal.move ? "#111" : null };
    return { fill: cssColour(0.5 + v / (2 * m), 1, redBlue), text: v.toFixed(2), textColour: "#111",
      label: `flipping it lowers the logit of ${NAME(sal.move)} by ${v.toFixed(3)}` };
  });
  const bar = colourBar("drop in the move's logit", { vmin: -m, vmax: m, lut: redBlue, height: 8 * CELL - 20,
    map: (v) => 0.5 + v / (2 * m), ticks: [-m, 0, m].map((t) => +t.toPrecision(2)) });
  return figure(h("figcaption", {}, `Latent saliency of ${NAME(sal.move)} `,
    h("span", { class: "sub" }, "(how much its logit drops when each disc is flipped in the model's board)")),
  h("div", { style: "display:flex;gap:4px" }, svg, bar));
}

function boards({ model, view }) {
  const st = boardState(model);
  const ask = (method) => (s) => view.request(method, { square: s }).then(() => view.news.clear(method))
    .catch((e) => view.news.fail(e, method));
  const figs = [...gameFigure(st, ask("play")), probeFigure(st, ask("flip")), editedFigure(st), saliencyFigure(st)];
  return { el: h("div", { class: "iwoth-boards" }, ...figs.filter(Boolean)), update: () => false };
}

function key() {
  const item = (svg, text) => h("span", {}, svg, ` ${text}`);
  const sw = (attrs) => { const s = svgEl("svg", { width: 18, height: 18 }); s.append(svgEl(attrs.tag, attrs)); return s; };
  return {
    el: h("div", { class: "iwoth-legend" },
      item(sw({ tag: "rect", x: 2, y: 2, width: 14, height: 14, fill: "none", stroke: "#ffd92f", "stroke-width": 2.5 }), "legal move"),
      item(sw({ tag: "circle", cx: 9, cy: 9, r: 7, fill: "none", stroke: FLIP, "stroke-width": 3 }), "flipped in the model"),
      item(sw({ tag: "path", d: "M3,3L15,15M15,3L3,15", stroke: WRONG, "stroke-width": 2.5 }), "probe reads it wrong"),
      h("span", {}, "faded disc: the probe is unsure (opacity = its probability)")),
    update: () => true,
  };
}

const FOLLOWED = ["moves", "cursor", "board", "player", "legal", "over", "probs", "layer", "n_layers", "encoding",
  "encodings", "truth", "decoded", "confidence", "method", "flips", "edited_probs", "edited_legal", "saliency",
  "opponent", "busy", "progress"];
const BOARD_TRAITS = FOLLOWED.filter((t) => !["method", "opponent", "busy", "progress", "n_layers", "encodings"].includes(t));

function render(view) {
  const { body, set, news, request } = mount(view, "iwoth", CSS);
  const ctx = { model: view.model, set, view: { request, news } };
  const parts = composeParts(body, view.model, [
    () => controls(ctx),
    () => { const p = boards(ctx); return { el: p.el, update: (names) => !touches(names, BOARD_TRAITS) }; },
    () => key(),
  ], { traits: FOLLOWED, notice: true });
  return () => parts.destroy();
}

export default { render };
