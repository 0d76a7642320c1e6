// ProbeDashboard: a rows x cols grid (layers x heads) of probe accuracy that fills in as probes train,
// with its colour scale, the top K outlined (K slider), and, for a clicked cell, how its probe separates
// the classes on the training and validation splits (histograms of the probe's score). Parts: the toolbar
// (here), the grid (grid.js) and the side panel (side.js), each following the traits it shows.
import { h, select, slider } from "../lib/dom.js";
import { mount } from "../lib/mount.js";
import { composeParts } from "../lib/parts.js";
import { gridPart } from "./grid.js";
import { sidePart } from "./side.js";
import { CSS } from "./style.js";

const FOLLOWED = ["grid", "metric", "metrics", "top", "k", "row", "col", "progress", "shape"];

function toolbar({ model, set }) {
  const [rows, cols] = model.get("shape");
  const bar = h("div", { class: "iwpd-bar" }), metrics = model.get("metrics");
  const metric = select("iwpd-metric", metrics.map((m) => [m, m]), model.get("metric"), (v) => set({ metric: v }), false, "metric");
  if (metrics.length) bar.append(metric);
  const k = slider("iwpd-k", "top K ", { min: 1, max: rows * cols, value: model.get("k"), onchange: (v) => set({ k: v }) });
  const meter = h("progress", { max: 1 }), label = h("span"), job = h("span", { class: "iwpd-progress" }, meter, label);
  bar.append(k);
  const showProgress = () => {
    const p = model.get("progress");
    if (p >= 1) { job.remove(); return; }
    meter.value = p;
    label.textContent = ` fitting: ${Math.round(p * 100)}%`;
    if (job.parentNode !== bar) bar.append(job);
  };
  showProgress();
  return {
    el: bar,
    update(names) {
      if (names.has("metrics")) return false;
      if (names.has("metric")) metric.value = model.get("metric");
      if (names.has("k")) k.set(model.get("k"));
      if (names.has("progress")) showProgress();
      return true;
    },
  };
}

function main(ctx) {
  const grid = gridPart(ctx), side = sidePart(ctx);
  return {
    el: h("div", { class: "iwpd-main" }, grid.el, side.el),
    update(names) { grid.update(names); side.update(names); return true; },
  };
}

function render(view) {
  const { life, news, body, set, request } = mount(view, "iwpd", CSS);
  const ctx = { model: view.model, set, request, news, signal: life.signal };
  const parts = composeParts(body, view.model, [() => toolbar(ctx), () => main(ctx)], { traits: FOLLOWED, rebuildAll: ["shape"] });
  return () => { parts.destroy(); life.abort(); };
}

export default { render };
