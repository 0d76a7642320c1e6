// One place for what went wrong: the widget's `error` trait (set by Python, with its traceback on
// demand) and this view's own failures (a request that timed out or was refused). A later success of
// the same thing clears it: Python clears `error`, and the view calls clear(key) for what works.
import { h } from "./dom.js";

export const BANNER_CSS = `
.iw-banner { background: #fde8e8; border: 1px solid #e08080; color: #8a1f1f; padding: 4px 8px; margin-bottom: 8px;
  white-space: pre-wrap; font-size: 12px; display: flex; gap: 8px; align-items: flex-start; }
.iw-banner[hidden] { display: none; }
.iw-banner .iw-banner-text { flex: 1; }
.iw-banner details pre { margin: 4px 0 0; font-size: 11px; max-height: 220px; overflow: auto; color: #5a1414; }
.iw-banner button { border: none; background: none; color: #8a1f1f; cursor: pointer; font-size: 14px; line-height: 1; }
`;

export function banner(model) {
  const el = h("div", { class: "iw-banner", role: "alert", hidden: "" });
  let local = null, localKey = null;  // this view's own failure (and what failed), if it is the latest news

  function show() {
    const message = local ? String(local.message || local) : model.get("error");
    const trace = local ? local.traceback : model.get("error_traceback");
    el.replaceChildren();
    if (!message) { el.hidden = true; return; }
    el.hidden = false;
    const text = h("div", { class: "iw-banner-text" }, message);
    if (trace) text.append(h("details", {}, h("summary", {}, "traceback"), h("pre", {}, trace)));
    el.append(text, h("button", { title: "dismiss", "aria-label": "dismiss the message", onclick: () => {
      local = null;
      el.hidden = true;
    } }, "×"));
  }

  model.on("change:error", () => { local = null; show(); });
  show();
  return {
    el,
    /** Show a failure of this view's `key` (AbortErrors are the view moving on, not failures). */
    fail(err, key = null) { if (err?.name === "AbortError") return; local = err; localKey = key; show(); },
    /** `key` works (now, or again from a cache): its failure, if it is the one shown, goes. */
    clear(key = null) { if (local && localKey === key) { local = null; show(); } },
  };
}
