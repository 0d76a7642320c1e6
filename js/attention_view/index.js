// AttentionView (AttentionViz): every head's queries and keys embedded jointly. Matrix view: all heads as
// thumbnail scatters, sortable by statistics (matrix.js). Single head: a WebGL scatter with its side panel
// (head.js). Sentence and image views of one text (text.js). The toolbar (toolbar.js) sits above them.
// Data comes by request (meta once, thumbnails, one head's points); settings are model traits, and each
// trait change goes to the parts that show it: a part that cannot follow it in place is rebuilt.
import { mount } from "../lib/mount.js";
import { composeParts, touches } from "../lib/parts.js";
import { requestKey } from "../lib/request.js";
import { headPart } from "./head.js";
import { matrixPart } from "./matrix.js";
import { metaFrom } from "./paint.js";
import { CSS } from "./style.js";
import { imagePart, sentencePart } from "./text.js";
import { toolbar } from "./toolbar.js";

const FOLLOWED = ["view", "layer", "head", "sort_by", "stats", "unit", "projection", "dim", "normalize", "query",
  "color_by", "search", "selected_points", "ready"];
const STALE_THUMBS = ["projection", "dim", "normalize", "ready"];  // what makes the kept thumbnails out of date

function context(model, set, { life, news, request }) {
  let asking = null;  // the request whose failure the banner shows, if any
  const ctx = {
    model, set, meta: null,
    thumbs: null,  // the matrix view's thumbnails, kept while the view changes
    total: () => model.get("n_layers") * model.get("n_heads"),
    /** Ask Python; `signal` (a part's) stops the request when that part goes, as the view's does. */
    ask(method, args = {}, signal = null) {
      const key = requestKey(method, args);
      const both = signal ? AbortSignal.any([life.signal, signal]) : life.signal;
      return request(method, args, { signal: both }).then((r) => { news.clear(key); return r; },
        (err) => { asking = key; throw err; });
    },
    showError: (err) => news.fail(err, asking),
    async loadMeta() {  // (the view's signal only: the metadata is kept for every part)
      if (!ctx.meta) ctx.meta = metaFrom(await ctx.ask("meta"));
      return ctx.meta;
    },
  };
  return ctx;
}

function bodyFor(ctx, signal) {
  const view = ctx.model.get("view");
  if (view === "head") return headPart(ctx, signal);
  if (view === "sentence") return sentencePart(ctx, signal);
  if (view === "image" && ctx.model.get("grid").length) return imagePart(ctx, signal);
  return matrixPart(ctx, signal);
}

function render(view) {
  const mounted = mount(view, "iwav", CSS), ctx = context(view.model, mounted.set, mounted);
  const parts = composeParts(mounted.body, view.model, [() => toolbar(ctx), (signal) => bodyFor(ctx, signal)], {
    traits: FOLLOWED, rebuildAll: ["view"], notice: true,
    before: (names) => { if (touches(names, STALE_THUMBS)) ctx.thumbs = null; },
  });
  return () => { parts.destroy(); mounted.life.abort(); };
}

export default { render };
