// A tiny element builder: h("div", { class: "x", onclick: fn }, child, "text").

export const SVG = "http://www.w3.org/2000/svg";

/** An SVG element with attributes (and text). */
export function svgEl(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** set({trait: value, ...}): every change in one message to Python (and one redraw, with coalesce). */
export function setter(model) {
  return (changes) => { for (const [k, v] of Object.entries(changes)) model.set(k, v); model.save_changes(); };
}

export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

/** A <select> with an accessible name (`label`, else its class); `onchange` gets the chosen value
 * (numbers stay numbers when `numeric`). */
export function select(cls, options, value, onchange, numeric = false, label = null) {
  const s = h("select", { class: cls, "aria-label": label || cls.replace(/^iw[a-z]*-/, ""),
    onchange: (e) => onchange(numeric ? +e.target.value : e.target.value) });
  for (const [v, label] of options) s.append(new Option(label, v));
  s.value = value;
  return s;
}

const MOVES = { ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 0], ArrowUp: [-1, 0] };

/** Arrow keys on a rows x cols grid: the cell one step from (r, c), kept inside; null for other keys. */
export function gridKeys(e, r, c, rows, cols) {
  const m = MOVES[e.key];
  if (!m) return null;
  e.preventDefault();
  return [Math.min(rows - 1, Math.max(0, r + m[0])), Math.min(cols - 1, Math.max(0, c + m[1]))];
}

/** fn, run once after the current burst of trait changes (several model.set calls make one redraw). */
export function coalesce(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => { queued = false; fn(); });
  };
}

/** fn(names) once per burst of changes of `traits`, with the set of the traits that changed in it: a
 * view hands each name to the parts that show it. */
export function onChanges(model, traits, fn) {
  const changed = new Set();
  const run = coalesce(() => { const names = new Set(changed); changed.clear(); fn(names); });
  for (const t of traits) model.on(`change:${t}`, () => { changed.add(t); run(); });
}

const NAVIGATION = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown",
  "Enter", " "]);

/** A widget's root element. Keys that move its sliders, selects and grids stay inside it: JupyterLab
 * would take them for its own shortcuts (and cancel the slider's step). Modified keys (Shift+Enter
 * runs the cell) go on as usual. */
export function widgetRoot(cls, ...children) {
  const root = h("div", { class: cls, "data-lm-suppress-shortcuts": "true" }, ...children);
  root.addEventListener("keydown", (e) => {
    if (NAVIGATION.has(e.key) && !(e.shiftKey || e.ctrlKey || e.altKey || e.metaKey)) e.stopPropagation();
  });
  return root;
}

const STATES = new Set(["on", "sel", "focus"]);

/** Rebuild `container` with `rebuild()`, and give the focus back to the same control if it had it
 * (a keyboard user moving a slider keeps moving it after the redraw its move caused). */
export function keepingFocus(container, rebuild) {
  const a = document.activeElement;
  let key = null;
  if (a && a !== container && container.contains(a)) {
    const data = ["layer", "head", "row", "col", "view"].filter((k) => k in a.dataset).map((k) => `[data-${k}="${a.dataset[k]}"]`);
    const classes = [...a.classList].filter((c) => !STATES.has(c));  // what it is, not how it looks now
    key = a.tagName.toLowerCase() + classes.map((c) => `.${CSS.escape(c)}`).join("") + data.join("");
  }
  rebuild();
  if (key) container.querySelector(key)?.focus();
}

/**
 * A labelled range slider: the value shows as it moves, `onchange(value)` runs on release (or on each
 * arrow key), so one move is one change for Python. Keyboard: arrows, Home/End, PageUp/Down. The
 * returned <label> has set(value), for a value that changed elsewhere.
 */
export function slider(cls, label, { min, max, step = 1, value, onchange, shown = (v) => String(v) }) {
  const input = h("input", { type: "range", class: cls, min, max, step, value, "aria-label": label });
  const out = h("b", {}, shown(value));
  input.addEventListener("input", () => { out.textContent = shown(+input.value); });
  input.addEventListener("change", () => onchange(+input.value));
  const el = h("label", {}, label, input, out);
  el.set = (v) => { input.value = v; out.textContent = shown(v); };  // follow the model, not the hand
  return el;
}
