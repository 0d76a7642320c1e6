// AttentionView's single-head view: the head's queries and keys in one WebGL scatter, and a side panel
// (colour mode and its legend, token search, the hovered token in its text, what a clicked query attends
// to, the brushed selection). A new layer, head or projection loads new points into the same scatter;
// colour, search, query and selection changes touch only their own parts.
import { decode } from "../lib/array.js";
import { h, select } from "../lib/dom.js";
import { touches } from "../lib/parts.js";
import { createScatter } from "../lib/scatter.js";
import { tokenStrip } from "../lib/tokens.js";
import { colours, legend, patchSprites } from "./paint.js";

const RELOAD = ["layer", "head", "projection", "dim", "normalize"];
const ATTENDS_HINT = "Click a query to name the keys it attends to.";
const HOVER_HINT = "Hover a point to read its token; click a query to see the keys it attends to; shift-drag to select.";

function sidePanel({ model, set }, onPatches) {
  const s = {
    title: h("div"),
    legend: h("div", { class: "iwav-legend-box" }),
    hover: h("div", { class: "iwav-card" }, HOVER_HINT),
    attends: h("div", { class: "iwav-card iwav-attends" }, ATTENDS_HINT),
    selection: h("div", { class: "iwav-card iwav-selection" }),
    search: h("input", { class: "iwav-search", type: "search", placeholder: "search a token", value: model.get("search"),
      "aria-label": "search a token" }),
    count: h("div", { class: "iwav-search-count" }),
  };
  s.search.addEventListener("input", () => set({ search: s.search.value }));
  const colourBy = select("iwav-color", [["type", "colour: query / key"], ["position", "colour: position"],
    ["token", "colour: token"], ...(model.get("label_names").length ? [["label", "colour: label"]] : [])],
  model.get("color_by"), (v) => set({ color_by: v }), false, "colour points by");
  s.el = h("div", { class: "iwav-side" }, s.title, colourBy, s.search, s.legend, s.hover, s.attends, s.selection);
  if (model.get("grid").length) {
    const box = h("input", { type: "checkbox", class: "iwav-patches" });
    box.addEventListener("change", () => onPatches(box.checked));
    s.el.append(h("label", {}, box, " show points as image patches"));
  }
  s.colourBy = colourBy;
  return s;
}

const tokenOf = (m, r) => m.vocab[m.token[r % m.n]];

function hovered(p, i) {
  const { meta: m, set } = p.ctx, card = p.side.hover;
  if (i < 0 || !m) { card.textContent = HOVER_HINT; return; }
  const t = i % m.n, u = m.unit[t];
  card.replaceChildren(h("div", {}, `${i < m.n ? "query" : "key"} `, h("b", {}, tokenOf(m, i)),
    ` · text ${u}, position ${m.position[t]}`), tokenStrip(m.tokensOfUnit(u), { focus: t - m.starts[u] }));
  clearTimeout(p.hoverTimer);
  p.hoverTimer = setTimeout(() => set({ hovered: i }), 80);
}

function load(p) {
  const { ctx } = p, { model } = ctx, layer = model.get("layer"), head = model.get("head"), ticket = ++p.ticket;
  p.side.title.textContent = `layer ${layer}, head ${head}`;
  Promise.all([ctx.loadMeta(), ctx.ask("points", { layer, head }, p.signal)]).then(([, points]) => {
    if (ticket !== p.ticket) return;  // another layer or head was asked for meanwhile
    p.points = points;
    Object.assign(p.plot.dataset, { projection: model.get("projection"), ready: points.ready ? "1" : "0" });
    p.scatter.setPoints(decode(points.coords).data, points.dim);
    paintColours(p);
    drawQuery(p);
    showSelection(p);
  }).catch(ctx.showError);
}

function paintColours(p) {
  const { meta, model } = p.ctx;
  if (!meta || !p.points) return;
  p.scatter.setColors(colours(meta, model.get("color_by")));
  p.side.legend.replaceChildren(legend(meta, model.get("color_by"), model.get("label_names")));
  p.side.colourBy.value = model.get("color_by");
}

/** The search's matches stand out; with no search, a brushed selection does. */
function applySearch(p) {
  const { meta: m, model } = p.ctx, { count, search } = p.side;
  if (!m || !p.points) return;
  const q = model.get("search").trim().toLowerCase();
  if (search.value.trim().toLowerCase() !== q) search.value = model.get("search");
  if (!q) {
    const sel = model.get("selected_points");
    p.scatter.setHighlight(sel.length > 1 ? sel : null);
    count.remove();
    return;
  }
  const hits = [];
  for (let r = 0; r < 2 * m.n; r++) if (tokenOf(m, r).toLowerCase().replace(/^(##|ġ|▁)/, "").includes(q)) hits.push(r);
  p.scatter.setHighlight(hits);
  count.textContent = `${hits.length / 2} tokens match “${q}”`;
  search.after(count);
}

/** A clicked query: lines to the keys it attends to most, those keys named, and its text shaded by them. */
function drawQuery(p) {
  const { meta: m, model, ask, showError } = p.ctx, row = model.get("query");
  if (!m || !p.points) return;
  if (row < 0 || row >= m.n) { p.scatter.setLines(null); p.side.attends.textContent = ATTENDS_HINT; applySearch(p); return; }
  const layer = model.get("layer"), head = model.get("head");
  ask("attends", { row, layer, head }, p.signal).then((a) => {
    if (row !== model.get("query") || layer !== model.get("layer") || head !== model.get("head")) return;
    const keys = decode(a.keys).data, weights = decode(a.weights).data;
    p.scatter.setLines(row, keys, weights);
    p.scatter.setHighlight([row, ...keys]);  // the query and its keys stand out; the rest fade
    if (!keys.length) { p.side.attends.textContent = `query ${tokenOf(m, row)}: no key gets 2% of its attention`; return; }
    const u = m.unit[row], start = m.starts[u], toks = m.tokensOfUnit(u), shade = new Float32Array(toks.length);
    keys.forEach((k, i) => { shade[(k % m.n) - start] = weights[i]; });
    p.side.attends.replaceChildren(
      h("div", {}, "query ", h("b", {}, tokenOf(m, row)), ` (position ${m.position[row]}) attends most to:`),
      ...[...keys].slice(0, 5).map((k, i) => h("div", {}, "key ", h("b", {}, tokenOf(m, k)),
        ` (position ${m.position[k % m.n]}): ${weights[i].toFixed(3)}`)),
      tokenStrip(toks, { focus: row - start, weights: shade, what: "attention" }));
  }).catch(showError);
}

function showSelection(p) {
  const { meta: m, model } = p.ctx, box = p.side.selection, sel = model.get("selected_points");
  if (!m || !p.points) return;
  if (model.get("query") < 0) applySearch(p);  // a brush stands out, a cleared one no longer does
  if (!sel.length) { box.textContent = "No points selected."; return; }
  box.replaceChildren(h("div", {}, h("b", {}, `${sel.length} selected`), " (view.selected in Python)"),
    ...sel.slice(0, 6).map((r) => h("div", {}, `${r < m.n ? "q" : "k"} ${tokenOf(m, r)} · text ${m.unit[r % m.n]}`)));
}

export function headPart(ctx, signal) {
  const { model, set } = ctx;
  const plot = h("div", { class: "iwav-plot" });
  const p = { ctx, plot, signal, points: null, ticket: 0, timer: null, hoverTimer: null };
  p.side = sidePanel(ctx, (on) => {
    if (on && ctx.meta?.images) p.scatter.setSprites(...patchSprites(ctx.meta, model.get("grid")), 16);
    else p.scatter.setSprites(null);
  });
  p.scatter = createScatter(plot, {
    width: 560, height: 560, pointSize: 4,
    onHover: (i) => hovered(p, i),
    onClick: (i) => {
      if (i < 0) set({ query: -1, selected_points: [] });
      else set(i < ctx.meta.n ? { query: i, selected_points: [i] } : { selected_points: [i] });
    },
    onSelect: (idx) => set({ selected_points: Array.from(idx), query: -1 }),  // a brush replaces a clicked query
  });
  plot.scatter = p.scatter;  // for tests, and for users poking at the page from the console
  load(p);
  return {
    el: h("div", { class: "iwav-head" }, plot, p.side.el),
    update(names) {
      if (touches(names, RELOAD)) { load(p); return true; }
      if (names.has("ready")) {  // this head's better projection may have arrived: look when a burst pauses
        clearTimeout(p.timer);
        p.timer = setTimeout(() => { if (p.points && !p.points.ready) load(p); }, 500);
      }
      if (names.has("color_by")) paintColours(p);
      if (names.has("query")) drawQuery(p);
      if (names.has("selected_points")) showSelection(p);
      if (names.has("search")) applySearch(p);
      return true;
    },
    destroy() { clearTimeout(p.timer); clearTimeout(p.hoverTimer); p.scatter.destroy(); },
  };
}
