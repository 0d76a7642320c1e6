// The host of an exported page (save_html): what a Jupyter widget manager does for a live widget, for
// the one widget the page carries, in a few dozen lines instead of @jupyter-widgets/html-manager's
// 3.6 MB. It reads the page's widget state (ipywidgets' embed format: state, base64 buffers), gives
// the widget's ESM (anywidget's _esm and _css) a model with get/set/on/off/save_changes, and renders
// it into the page's view element. There is no kernel: our views answer requests from the snapshot the
// state carries (lib/request.js), and what the reader changes stays in the page.
const STATE = 'script[type="application/vnd.jupyter.widget-state+json"]';

function bytes(base64) {
  const text = atob(base64), out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return new DataView(out.buffer);  // what a live widget gets for a binary buffer
}

/** A model over `values` with Backbone's events: change:<name> for each changed value, then change. */
function pageModel(values) {
  const handlers = new Map();
  const fire = (name, ...args) => { for (const fn of [...(handlers.get(name) || [])]) fn(...args); };
  const model = {
    get: (name) => values[name],
    set(name, value) {
      const changes = typeof name === "object" ? name : { [name]: value };
      const changed = Object.keys(changes).filter((k) => values[k] !== changes[k]);  // objects: always news
      for (const k of changed) values[k] = changes[k];
      for (const k of changed) fire(`change:${k}`, model, values[k]);
      if (changed.length) fire("change", model);
    },
    on(names, fn) {
      if (typeof names === "object") { for (const [n, f] of Object.entries(names)) model.on(n, f); return; }
      for (const n of names.split(/\s+/)) handlers.set(n, [...(handlers.get(n) || []), fn]);
    },
    off(names, fn) {
      for (const n of (names ? names.split(/\s+/) : [...handlers.keys()])) {
        handlers.set(n, fn ? (handlers.get(n) || []).filter((f) => f !== fn) : []);
      }
    },
    save_changes() {},
    send() {},
    widget_manager: { get_model: async () => { throw new Error("an exported page holds one widget: no others to get"); } },
  };
  return model;
}

const experimental = {
  invoke: async (name) => { throw new Error(`this exported page has no kernel to answer ${name}`); },
};

async function show(el, entry) {
  const values = { ...entry.state };
  for (const { path, data } of entry.buffers || []) {
    let target = values;
    for (const key of path.slice(0, -1)) target = target[key];
    target[path[path.length - 1]] = bytes(data);
  }
  const model = pageModel(values);
  if (values._css) document.head.append(Object.assign(document.createElement("style"), { textContent: values._css }));
  const source = values._esm;
  const url = /^https?:\/\//.test(source) ? source : URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const mod = await import(url);
  let widget = mod.default ?? mod;  // a default export, or named render / initialize
  if (typeof widget === "function") widget = await widget();  // anywidget's factory form
  const signal = new AbortController().signal;  // the page never takes the view away
  await widget.initialize?.({ model, experimental, signal });
  await widget.render?.({ model, el, experimental, signal });
}

const manager = JSON.parse(document.querySelector(STATE).textContent);
for (const el of document.querySelectorAll("[data-iw-model]")) {
  show(el, manager.state[el.dataset.iwModel]).catch((err) => {
    el.append(Object.assign(document.createElement("pre"), { className: "iw-export-error",
      textContent: `this page could not show its widget: ${err.stack || err}` }));
  });
}
