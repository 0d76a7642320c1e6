// A view made of parts. A part is {el, update(names), destroy()}: update gets the set of traits that
// changed in one burst, follows them in place, and returns false when it must be built again (its
// whole content is what changed). Names in `rebuildAll` (the view, say) build every part again. With
// `notice`, the model's notice trait shows in a line above the parts.
import { h, keepingFocus, onChanges } from "./dom.js";

export const NOTICE_CSS = `
.iw-notice { background: #fff7e0; border: 1px solid #f0c36d; padding: 4px 8px; margin-bottom: 8px; }
`;

/** Build the parts `makers` make into `root`, and keep them following `traits`. Returns
 * {rebuild(i): build part i again, destroy()}. `before(names)` runs first on each burst. */
export function composeParts(root, model, makers, { traits, rebuildAll = [], notice = false, before = null }) {
  const line = h("div", { class: "iw-notice" });
  const showNotice = () => { line.textContent = model.get("notice"); line.hidden = !model.get("notice"); };
  let parts = [];
  const build = () => {
    for (const p of parts) p.destroy?.();
    parts = makers.map((make) => make());
    if (notice) showNotice();
    keepingFocus(root, () => root.replaceChildren(...(notice ? [line] : []), ...parts.map((p) => p.el)));
  };
  const rebuild = (i) => {
    parts[i].destroy?.();
    const old = parts[i].el;
    parts[i] = makers[i]();
    keepingFocus(root, () => old.replaceWith(parts[i].el));
  };
  onChanges(model, notice ? [...traits, "notice"] : traits, (names) => {
    before?.(names);
    if (rebuildAll.some((t) => names.has(t))) { build(); return; }
    if (names.has("notice")) showNotice();
    parts.forEach((p, i) => { if (p.update(names) === false) rebuild(i); });
  });
  build();
  return { rebuild, destroy: () => { for (const p of parts) p.destroy?.(); } };
}
