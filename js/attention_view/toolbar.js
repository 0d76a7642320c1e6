// AttentionView's toolbar: the view buttons, the layer and head, the projection settings and the
// progress of a background projection. update(names) follows trait changes in place.
import { h, select } from "../lib/dom.js";
import { NAMES } from "./style.js";

export function toolbar({ model, set, total }) {
  const view = model.get("view");
  const bar = h("div", { class: "iwav-bar" });
  const views = [["matrix", "All heads"], ["head", "Single head"], ["sentence", "Sentence"]];
  if (model.get("grid").length) views.push(["image", "Image"]);
  for (const [name, label] of views) {
    bar.append(h("button", { class: view === name ? "on" : "", "data-view": name, "aria-pressed": String(view === name),
      onclick: () => set({ view: name }) }, label));
  }
  const selects = {};  // trait -> its <select>
  const numbers = (n, word) => [...Array(n).keys()].map((i) => [i, `${word} ${i}`]);
  if (view !== "matrix") {
    selects.layer = select("iwav-layer", numbers(model.get("n_layers"), "layer"), model.get("layer"),
      (v) => set({ layer: v, query: -1 }), true);
    selects.head = select("iwav-headsel", numbers(model.get("n_heads"), "head"), model.get("head"),
      (v) => set({ head: v, query: -1 }), true, "head");
  }
  const projected = view === "matrix" || view === "head";
  if (projected) {
    selects.projection = select("iwav-projection", Object.entries(NAMES), model.get("projection"), (v) => set({ projection: v }));
    selects.dim = select("iwav-dim", [[2, "2-D"], [3, "3-D"]], model.get("dim"), (v) => set({ dim: v }), true);
    selects.normalize = select("iwav-normalize", [["norms", "normalized (equal key norms)"],
      ["centroid", "normalized (centroids)"], ["none", "raw q, k"]], model.get("normalize"), (v) => set({ normalize: v }));
  }
  bar.append(...Object.values(selects));
  const meter = h("progress", { max: total() }), label = h("span");
  const job = h("span", { class: "iwav-progress iwav-job" }, meter, label);
  const showJob = () => {  // present while a background projection runs (the tests wait on it)
    const ready = model.get("ready");
    if (!projected || ready >= total()) { job.remove(); return; }
    meter.value = ready;
    label.textContent = ` ${NAMES[model.get("projection")]}: ${ready}/${total()} heads (PCA shown meanwhile)`;
    if (job.parentNode !== bar) bar.append(job);
  };
  showJob();
  return {
    el: bar,
    update(names) {
      for (const [trait, s] of Object.entries(selects)) if (names.has(trait)) s.value = model.get(trait);
      if (names.has("ready") || names.has("projection")) showJob();
    },
  };
}
