// A tiny element builder: h("div", { class: "x", onclick: fn }, child, "text").

export const SVG = "http://www.w3.org/2000/svg";

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

/** A labelled <select>; `onchange` gets the chosen value (numbers stay numbers when `numeric`). */
export function select(cls, options, value, onchange, numeric = false) {
  const s = h("select", { class: cls, onchange: (e) => onchange(numeric ? +e.target.value : e.target.value) });
  for (const [v, label] of options) s.append(new Option(label, v));
  s.value = value;
  return s;
}
