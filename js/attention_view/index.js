// AttentionView (AttentionViz): every head's queries and keys embedded jointly. Matrix view: all heads as
// thumbnail scatters, sortable by statistics (matrix.js). Single head: a WebGL scatter with its side panel
// (head.js). Sentence and image views of one text (text.js). The toolbar (toolbar.js) sits above them.
// Data comes by request (meta once, thumbnails, one head's points); settings are model traits, and each
// trait change goes to the parts that show it: a part that cannot follow it in place is rebuilt.
import { mount } from "../lib/mount.js";
import { composeParts } from "../lib/parts.js";
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
    ask(method, args = {}) {
      const key = requestKey(method, args);
      return request(method, args, { signal: life.signal }).then((r) => { news.clear(key); return r; },
        (err) => { asking = key; throw err; });
    },
    showError: (err) => { if (err.name !== "AbortError") news.fail(err, asking); },
    async loadMeta() {
      if (!ctx.meta) ctx.meta = metaFrom(await ctx.ask("meta"));
      return ctx.meta;
    },
  };
  return ctx;
}

function bodyFor(ctx) {
  const view = ctx.model.get("view");
  if (view === "head") return headPart(ctx);
  if (view === "sentence") return sentencePart(ctx);
  if (view === "image" && ctx.model.get("grid").length) return imagePart(ctx);
  return matrixPart(ctx);
}

function render(view) {
  const mounted = mount(view, "iwav", CSS), ctx = context(view.model, mounted.set, mounted);
  const parts = composeParts(mounted.body, view.model, [() => toolbar(ctx), () => bodyFor(ctx)], {
    traits: FOLLOWED, rebuildAll: ["view"], notice: true,
    before: (names) => { if (STALE_THUMBS.some((t) => names.has(t))) ctx.thumbs = null; },
  });
  return () => { parts.destroy(); mounted.life.abort(); };
}

export default { render };
