// A view made of parts. A part is {el, update(names), destroy()}: update gets the set of traits that
// changed in one burst, follows them in place, and returns false when it must be built again (its
// whole content is what changed). Names in `rebuildAll` (the view, say) build every part again. With
// `notice`, the model's notice trait shows in a line above the parts. Each part is made with an abort
// signal of its own, aborted when the part goes: its requests to Python stop with it.
import { h, keepingFocus, onChanges } from "./dom.js";

export const NOTICE_CSS = `
.iw-notice { background: #fff7e0; border: 1px solid #f0c36d; padding: 4px 8px; margin-bottom: 8px; }
`;

/** Does this burst of changes touch any of `traits`? */
export const touches = (names, traits) => traits.some((t) => names.has(t));

/** Build the parts `makers` make (`maker(signal)`) into `root`, and keep them following `traits`.
 * Returns {rebuild(i): build part i again, destroy()}. `before(names)` runs first on each burst. */
export function composeParts(root, model, makers, { traits, rebuildAll = [], notice = false, before = null }) {
  const line = h("div", { class: "iw-notice" });
  const showNotice = () => { line.textContent = model.get("notice"); line.hidden = !model.get("notice"); };
  let parts = [], dead = false;
  const make = (i) => {
    const abort = new AbortController();
    return Object.assign(makers[i](abort.signal), { abort });
  };
  const drop = (p) => { p.destroy?.(); p.abort.abort(); };
  const build = () => {
    parts.forEach(drop);
    parts = makers.map((_, i) => make(i));
    if (notice) showNotice();
    keepingFocus(root, () => root.replaceChildren(...(notice ? [line] : []), ...parts.map((p) => p.el)));
  };
  const rebuild = (i) => {
    drop(parts[i]);
    const old = parts[i].el;
    parts[i] = make(i);
    keepingFocus(root, () => old.replaceWith(parts[i].el));
  };
  onChanges(model, notice ? [...traits, "notice"] : traits, (names) => {
    if (dead) return;  // a burst queued before the view went
    before?.(names);
    if (touches(names, rebuildAll)) { build(); return; }
    if (names.has("notice")) showNotice();
    parts.forEach((p, i) => { if (p.update(names) === false) rebuild(i); });
  });
  build();
  return { rebuild, destroy: () => { dead = true; parts.forEach(drop); } };
}
