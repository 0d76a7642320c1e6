// AttentionView (AttentionViz): every head's queries and keys embedded jointly. Matrix view: all heads
// as thumbnail scatters, sortable by statistics. Single head: a WebGL scatter (colour by query/key,
// position, token or label; hover, click a query for its attention lines, shift-drag to select, search).
// Sentence view: the head's attention lines over one text. Image view (ViT): attention from a patch.
// Data comes by request (meta once, thumbnails, one head's points); settings are model traits.
import { decode } from "../lib/array.js";
import { legend as swatches } from "../lib/chart.js";
import { coalesce, h, keepingFocus, select } from "../lib/dom.js";
import { linesView } from "../lib/lines.js";
import { mount } from "../lib/mount.js";
import { requestKey } from "../lib/request.js";
import { createScatter } from "../lib/scatter.js";
import { colours, drawThumb, imageCanvas, legend, metaFrom, sentenceHtml } from "./paint.js";
import { CSS, KEY, NAMES, QUERY } from "./style.js";

function render(view) {
  const { model } = view;
  const { life, news, body: root, set, request } = mount(view, "iwav", CSS);
  let meta = null, thumbs = null, scatter = null, points = null;
  let refetch = null, repaint = null;
  const total = () => model.get("n_layers") * model.get("n_heads");
  let asking = null;  // the request whose failure the banner shows, if any
  const ask = (method, args = {}) => {
    const key = requestKey(method, args);
    return request(method, args, { signal: life.signal }).then((r) => { news.clear(key); return r; },
      (err) => { asking = key; throw err; });
  };
  const showError = (err) => news.fail(err, asking);

  async function loadMeta() {
    if (!meta) meta = metaFrom(await ask("meta"));
    return meta;
  }

  // ------------------------------------------------------------------ toolbar
  function toolbar() {
    const bar = h("div", { class: "iwav-bar" });
    const views = [["matrix", "All heads"], ["head", "Single head"], ["sentence", "Sentence"]];
    if (model.get("grid").length) views.push(["image", "Image"]);
    for (const [name, label] of views) {
      bar.append(h("button", { class: model.get("view") === name ? "on" : "", "data-view": name,
        onclick: () => set({ view: name }) }, label));
    }
    const L = model.get("n_layers"), H = model.get("n_heads");
    if (model.get("view") !== "matrix") {
      bar.append(select("iwav-layer", [...Array(L).keys()].map((i) => [i, `layer ${i}`]), model.get("layer"),
        (v) => set({ layer: v, query: -1 }), true));
      bar.append(select("iwav-headsel", [...Array(H).keys()].map((i) => [i, `head ${i}`]), model.get("head"),
        (v) => set({ head: v, query: -1 }), true));
    }
    if (model.get("view") === "matrix" || model.get("view") === "head") {
      bar.append(select("iwav-projection", Object.entries(NAMES), model.get("projection"), (v) => set({ projection: v })));
      bar.append(select("iwav-dim", [[2, "2-D"], [3, "3-D"]], model.get("dim"), (v) => set({ dim: v }), true));
      bar.append(select("iwav-normalize", [["norms", "normalized (equal key norms)"], ["centroid", "normalized (centroids)"],
        ["none", "raw q, k"]], model.get("normalize"), (v) => set({ normalize: v })));
      const ready = model.get("ready"), proj = model.get("projection");
      if (ready < total()) {
        bar.append(h("span", { class: "iwav-progress iwav-job" }, h("progress", { max: total(), value: ready }),
          h("span", {}, ` ${NAMES[proj]}: ${ready}/${total()} heads (PCA shown meanwhile)`)));
      }
    }
    return bar;
  }

  // ------------------------------------------------------------------ matrix view: every head
  function matrixView() {
    const L = model.get("n_layers"), H = model.get("n_heads"), sortBy = model.get("sort_by");
    const stats = model.get("stats"), help = model.get("stat_help");
    const wrap = h("div");
    const sorter = select("iwav-sort", [["layer", "layer order"], ...Object.keys(stats).map((k) => [k, `sorted by ${k}`])],
      sortBy, (v) => set({ sort_by: v }));
    wrap.append(h("div", { class: "iwav-bar" }, sorter, swatches([[`rgb(${QUERY})`, "queries"], [`rgb(${KEY})`, "keys"]]),
      h("span", { class: "iwav-progress" }, sortBy === "layer" ? "click a head to open it"
        : `${help[sortBy]}; click a head to open it`)));
    const grid = h("div", { class: "iwav-grid" });
    const cells = [];
    for (let i = 0; i < L; i++) for (let j = 0; j < H; j++) cells.push([i, j]);
    if (sortBy !== "layer") {
      grid.style.gridTemplateColumns = `repeat(${Math.min(H, 12)}, 70px)`;
      const value = ([i, j]) => stats[sortBy][i][j] ?? Infinity;  // no value (null): last
      cells.sort((a, b) => value(a) - value(b));
    } else {
      grid.style.gridTemplateColumns = `28px repeat(${H}, 70px)`;
    }
    const canvases = [];
    cells.forEach(([i, j]) => {
      if (sortBy === "layer" && j === 0) grid.append(h("div", { class: "iwav-lab" }, `L${i}`));
      const c = h("canvas", { "data-layer": i, "data-head": j, title: `layer ${i}, head ${j}` });
      c.dataset.drawn = "1";
      const v = sortBy === "layer" ? null : stats[sortBy][i][j];
      const label = sortBy === "layer" ? `H${j}` : `L${i}H${j} ${v === null ? "n/a" : v.toFixed(2)}`;
      const cell = h("div", { class: "iwav-thumb", onclick: () => set({ layer: i, head: j, view: "head", query: -1 }) }, c,
        h("span", {}, label));
      if (i === model.get("layer") && j === model.get("head")) cell.classList.add("sel");
      grid.append(cell);
      canvases.push([c, i, j]);
    });
    wrap.append(grid);
    const paintAll = () => {
      const coords = decode(thumbs.coords), ready = decode(thumbs.ready).data;
      const [, Hh, m] = coords.shape;
      for (const [c, i, j] of canvases) drawThumb(c, coords.data, (i * Hh + j) * m * 2, m, ready[i * Hh + j]);
    };
    repaint = () => ask("thumbs").then((t) => { thumbs = t; paintAll(); }).catch(showError);
    if (thumbs) paintAll();
    else repaint();
    return wrap;
  }

  function headView() {
    const layer = model.get("layer"), head = model.get("head");
    const plot = h("div", { class: "iwav-plot" });
    const card = h("div", { class: "iwav-card" }, "Hover a point to read its token; click a query to see the keys it attends to; shift-drag to select.");
    const info = h("div", { class: "iwav-card iwav-selection" });
    const search = h("input", { class: "iwav-search", type: "search", placeholder: "search a token", value: model.get("search"), "aria-label": "search a token" });
    search.addEventListener("input", () => set({ search: search.value }));
    const colourBy = select("iwav-color", [["type", "colour: query / key"], ["position", "colour: position"],
      ["token", "colour: token"], ...(model.get("label_names").length ? [["label", "colour: label"]] : [])],
      model.get("color_by"), (v) => set({ color_by: v }));
    const side = h("div", { class: "iwav-side" }, h("div", {}, `layer ${layer}, head ${head}`), colourBy, search,
      h("div", { class: "iwav-legend-box" }), card, h("div", { class: "iwav-card iwav-attends" }, "Click a query to name the keys it attends to."), info);
    if (model.get("grid").length) {
      const box = h("input", { type: "checkbox", class: "iwav-patches" });
      box.addEventListener("change", () => { sprites(box.checked); });
      side.append(h("label", {}, box, " show points as image patches"));
    }
    const wrap = h("div", { class: "iwav-head" }, plot, side);
    let hoverTimer = null;
    scatter?.destroy();
    scatter = createScatter(plot, {
      width: 560, height: 560, pointSize: 4,
      onHover: (i) => {
        if (i < 0 || !meta) { card.textContent = "Hover a point to read its token."; return; }
        const t = i % meta.n;
        card.innerHTML = "";
        card.append(h("div", {}, `${i < meta.n ? "query" : "key"} `, h("b", {}, meta.vocab[meta.token[t]]),
          ` · text ${meta.unit[t]}, position ${meta.position[t]}`), sentenceHtml(meta, t));
        clearTimeout(hoverTimer);
        hoverTimer = setTimeout(() => set({ hovered: i }), 80);
      },
      onClick: (i) => {
        if (i < 0) { set({ query: -1, selected_points: [] }); return; }
        set(i < meta.n ? { query: i, selected_points: [i] } : { selected_points: [i] });
      },
      onSelect: (idx) => set({ selected_points: Array.from(idx), query: -1 }),  // a brush replaces a clicked query
    });
    const s = scatter;
    plot.scatter = s;  // for tests and for users poking at the page from the console
    Promise.all([loadMeta(), ask("points", { layer, head })]).then(([m, p]) => {
      if (s !== scatter) return;  // the view changed meanwhile
      points = p;
      Object.assign(plot.dataset, { projection: model.get("projection"), ready: p.ready ? "1" : "0" });
      const c = decode(p.coords);
      s.setPoints(c.data, p.dim);
      s.setColors(colours(m, model.get("color_by")));
      side.querySelector(".iwav-legend-box").append(legend(m, model.get("color_by"), model.get("label_names")));
      applySearch();
      drawQuery();
      showSelection();
    }).catch(showError);

    function sprites(on) {
      if (!on || !meta?.images) { s.setSprites(null); return; }
      const [U, Hh, W] = meta.images.shape, [gr, gc] = model.get("grid");
      const atlas = document.createElement("canvas");
      atlas.width = W; atlas.height = Hh * U;
      const ctx = atlas.getContext("2d"), img = ctx.createImageData(W, Hh * U);
      const px = meta.images.data;
      for (let k = 0; k < U * Hh * W; k++) { img.data.set([px[3 * k], px[3 * k + 1], px[3 * k + 2], 255], 4 * k); }
      ctx.putImageData(img, 0, 0);
      const rects = new Float32Array(2 * meta.n * 4), ph = Hh / gr, pw = W / gc;
      for (let r = 0; r < 2 * meta.n; r++) {
        const i = r % meta.n, u = meta.unit[i], p = i - meta.starts[u];
        rects.set(p === 0 ? [0, u * Hh, W, Hh] : [((p - 1) % gc) * pw, u * Hh + Math.floor((p - 1) / gc) * ph, pw, ph], 4 * r);
      }
      s.setSprites(atlas, rects, 16);
    }
    return wrap;
  }

  function applySearch() {
    if (!scatter || !meta) return;
    const q = model.get("search").trim().toLowerCase();
    const box = root.querySelector(".iwav-search-count");
    if (!q) {  // no search: a brushed selection stands out, if there is one
      const sel = model.get("selected_points");
      scatter.setHighlight(sel.length > 1 ? sel : null);
      box?.remove();
      return;
    }
    const hits = [];
    for (let r = 0; r < 2 * meta.n; r++) {
      if (meta.vocab[meta.token[r % meta.n]].toLowerCase().replace(/^(##|ġ|▁)/, "").includes(q)) hits.push(r);
    }
    scatter.setHighlight(hits);
    const text = `${hits.length / 2} tokens match “${q}”`;
    if (box) box.textContent = text;
    else root.querySelector(".iwav-search")?.after(h("div", { class: "iwav-search-count" }, text));
  }

  function drawQuery() {
    if (!scatter || !meta) return;
    const row = model.get("query");
    if (row < 0 || row >= meta.n) { scatter.setLines(null); applySearch(); return; }
    ask("attends", { row, layer: model.get("layer"), head: model.get("head") }).then((a) => {
      if (row !== model.get("query") || !scatter) return;
      const keys = decode(a.keys).data, weights = decode(a.weights).data;
      scatter.setLines(row, keys, weights);
      scatter.setHighlight([row, ...keys]);  // the query and its keys stand out; the rest fade
      const box = root.querySelector(".iwav-attends");
      if (box && keys.length) {  // name what the query attends to, not only draw it
        const t = (r) => meta.vocab[meta.token[r % meta.n]];
        box.replaceChildren(h("div", {}, "query ", h("b", {}, t(row)), ` (position ${meta.position[row]}) attends most to:`),
          ...[...keys].slice(0, 5).map((k, i) => h("div", {}, `key `, h("b", {}, t(k)), ` (position ${meta.position[k % meta.n]}): ${weights[i].toFixed(3)}`)));
      }
    }).catch(showError);
  }

  function showSelection() {
    const box = root.querySelector(".iwav-selection");
    if (!box || !meta) return;
    const sel = model.get("selected_points");
    box.innerHTML = "";
    if (!sel.length) {
      box.textContent = "No points selected.";
      if (model.get("query") < 0) applySearch();  // a cleared brush no longer stands out
      return;
    }
    box.append(h("div", {}, h("b", {}, `${sel.length} selected`), " (view.selected in Python)"));
    if (model.get("query") < 0) applySearch();  // a brushed selection stands out
    for (const r of sel.slice(0, 6)) {
      const i = r % meta.n;
      box.append(h("div", {}, `${r < meta.n ? "q" : "k"} ${meta.vocab[meta.token[i]]} · text ${meta.unit[i]}`));
    }
  }

  // ------------------------------------------------------------------ sentence and image views
  function unitPicker() {
    const n = model.get("n_units");
    const opts = [];
    for (let u = 0; u < n; u++) opts.push([u, `text ${u}: ${meta ? meta.tokensOfUnit(u).slice(0, 8).join(" ") + "…" : ""}`]);
    return select("iwav-unit", opts, model.get("unit"), (v) => set({ unit: v, query: -1 }), true);
  }

  function sentenceView() {
    const holder = h("div");
    holder.dataset.drawn = "1";
    const wrap = h("div", {}, h("div", { class: "iwav-bar" }), holder);
    loadMeta().then((m) => {
      const unit = model.get("unit"), layer = model.get("layer"), head = model.get("head");
      wrap.firstChild.append(unitPicker(), h("span", { class: "iwav-progress" },
        `layer ${layer}, head ${head}: each token (left) to the tokens it attends to (right)`));
      return ask("pattern", { unit, layer, head }).then((p) => {
        const toks = m.tokensOfUnit(unit), q = model.get("query");
        const focus = q >= 0 && m.unit[q] === unit ? q - m.starts[unit] : -1;
        holder.append(linesView(toks, toks, decode(p.pattern).data, {
          focus, onQuery: (i) => set({ hovered: i < 0 ? -1 : m.starts[unit] + i }) }));
        holder.dataset.painted = "1";
      });
    }).catch(showError);
    return wrap;
  }

  function imageView() {
    const big = h("canvas", { class: "big" });
    big.dataset.drawn = "1";
    const strip = h("div", { class: "iwav-strip" });
    const note = h("div", { class: "iwav-card" });
    const wrap = h("div", { class: "iwav-image" }, big, h("div", { class: "iwav-image-side" }, note, strip));
    loadMeta().then(async (m) => {
      const unit = model.get("unit"), layer = model.get("layer"), head = model.get("head"), [gr, gc] = model.get("grid");
      for (let u = 0; u < m.images.shape[0]; u++) {
        const c = imageCanvas(m, u);
        if (u === unit) c.classList.add("sel");
        c.addEventListener("click", () => set({ unit: u, query: -1 }));
        strip.append(c);
      }
      const base = imageCanvas(m, unit), [, Hh, W] = m.images.shape;
      const q = model.get("query"), from = q >= 0 && m.unit[q] === unit ? q - m.starts[unit] : 0;
      const p = decode((await ask("pattern", { unit, layer, head })).pattern);
      const row = p.data.subarray(from * p.shape[1], (from + 1) * p.shape[1]);
      let vmax = 1e-9;
      for (let k = 1; k < row.length; k++) vmax = Math.max(vmax, row[k]);
      big.width = W * 4; big.height = Hh * 4;
      const ctx = big.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(base, 0, 0, big.width, big.height);
      const ph = big.height / gr, pw = big.width / gc;
      for (let k = 1; k < row.length; k++) {  // dim the patches that get little attention
        const r = Math.floor((k - 1) / gc), c = (k - 1) % gc;
        ctx.fillStyle = `rgba(0,0,0,${(0.85 * (1 - row[k] / vmax)).toFixed(3)})`;
        ctx.fillRect(c * pw, r * ph, pw, ph);
      }
      if (from > 0) {
        ctx.strokeStyle = "#e6550d"; ctx.lineWidth = 3;
        ctx.strokeRect(((from - 1) % gc) * pw, Math.floor((from - 1) / gc) * ph, pw, ph);
      }
      note.textContent = `layer ${layer}, head ${head}: attention from ${from === 0 ? "[CLS]" : `patch ${Math.floor((from - 1) / gc)},${(from - 1) % gc}`}`
        + ` (bright = attended; [CLS] gets ${(row[0] * 100).toFixed(1)}%). Click a patch to look from there.`;
      big.onclick = (e) => {
        const rect = big.getBoundingClientRect();
        const r = Math.floor(((e.clientY - rect.top) / rect.height) * gr), c = Math.floor(((e.clientX - rect.left) / rect.width) * gc);
        set({ query: m.starts[unit] + 1 + r * gc + c });
      };
      big.dataset.painted = "1";
    }).catch(showError);
    return wrap;
  }

  // ------------------------------------------------------------------ wiring
  function draw() {
    scatter?.destroy();
    scatter = repaint = points = null;
    const view = model.get("view");
    keepingFocus(root, () => root.replaceChildren(
      ...(model.get("notice") ? [h("div", { class: "iwav-notice" }, model.get("notice"))] : []), toolbar(),
      view === "head" ? headView() : view === "sentence" ? sentenceView()
        : view === "image" && model.get("grid").length ? imageView() : matrixView()));
  }

  const redraw = coalesce(draw);
  const redrawSettings = () => { thumbs = null; redraw(); };
  draw();
  for (const t of ["view", "layer", "head", "sort_by", "notice", "unit"]) model.on(`change:${t}`, redraw);
  for (const t of ["projection", "dim", "normalize"]) model.on(`change:${t}`, redrawSettings);
  model.on("change:query", () => { const v = model.get("view"); if (v === "head") drawQuery(); else if (v !== "matrix") redraw(); });
  model.on("change:color_by", () => {
    if (!scatter || !meta) return;
    scatter.setColors(colours(meta, model.get("color_by")));
    const box = root.querySelector(".iwav-legend-box");
    if (box) box.replaceChildren(legend(meta, model.get("color_by"), model.get("label_names")));
  });
  model.on("change:search", applySearch);
  model.on("change:selected_points", showSelection);
  model.on("change:ready", () => {  // background projections arriving
    const ready = model.get("ready"), job = root.querySelector(".iwav-job");
    if (job) {  // the bar moves at once; the views refresh at most twice a second
      job.querySelector("progress").value = ready;
      job.querySelector("span").textContent = ` ${NAMES[model.get("projection")]}: ${ready}/${total()} heads (PCA shown meanwhile)`;
      if (ready >= total()) job.remove();
    } else if (ready < total() && ["matrix", "head"].includes(model.get("view"))) {
      root.querySelector(".iwav-bar")?.replaceWith(toolbar());  // a new job began after the bar was drawn
    }
    clearTimeout(refetch);
    refetch = setTimeout(() => {
      const v = model.get("view");
      if (v === "matrix") repaint?.();  // in place: the grid keeps its scroll position
      else if (v === "head" && points && !points.ready) draw();
    }, 500);
  });
  return () => { scatter?.destroy(); clearTimeout(refetch); life.abort(); };
}

export default { render };
