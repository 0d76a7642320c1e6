// AttentionView's look: its CSS and the colours of queries, keys, tokens and labels.
import { BANNER_CSS } from "../lib/banner.js";
import { LINES_CSS } from "../lib/lines.js";
import { NOTICE_CSS } from "../lib/parts.js";
import { TOKENS_CSS } from "../lib/tokens.js";

export const CSS = `
.iwav { font: 13px/1.4 system-ui, sans-serif; color: #222; }
.iwav-bar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.iwav-bar button { border: 1px solid #bbb; background: #f6f6f6; padding: 3px 10px; border-radius: 4px; cursor: pointer; }
.iwav-bar button.on { background: #08306b; color: #fff; border-color: #08306b; }
.iwav-progress { color: #555; font-size: 12px; }
.iwav-grid { display: grid; gap: 4px; max-height: 600px; overflow: auto; align-items: start; }
.iwav-thumb { display: flex; flex-direction: column; align-items: center; cursor: pointer; }
.iwav-thumb canvas { width: 64px; height: 64px; border: 1px solid #ddd; background: #fff; }
.iwav-thumb:hover canvas, .iwav-thumb.sel canvas { outline: 2px solid #e6550d; }
.iwav-thumb span { font-size: 10px; color: #555; white-space: nowrap; }
.iwav-lab { font-size: 11px; color: #666; text-align: center; align-self: center; }
.iwav-head { display: flex; gap: 14px; align-items: flex-start; flex-wrap: wrap; }
.iwav-plot { border: 1px solid #ddd; position: relative; }
.iwav-side { width: 280px; display: flex; flex-direction: column; gap: 8px; }
.iwav-card { min-height: 3.2em; background: #f7f7f7; border-radius: 4px; padding: 6px 8px; font-size: 12px; }
.iwav-card b { color: #08306b; }
.iwav-card .iw-tokens { margin-top: 4px; }
.iwav-legend { display: flex; flex-wrap: wrap; gap: 4px 10px; font-size: 12px; }
.iwav-legend i { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; vertical-align: -1px; }
.iwav-ramp { height: 10px; border-radius: 2px; }
.iwav-image { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.iwav-image canvas.big { width: 320px; height: 320px; image-rendering: pixelated; cursor: crosshair; border: 1px solid #ccc; }
.iwav-image-side { width: 360px; display: flex; flex-direction: column; gap: 8px; }
.iwav-strip { display: flex; gap: 4px; flex-wrap: wrap; max-width: 340px; }
.iwav-strip canvas { width: 48px; height: 48px; cursor: pointer; border: 2px solid transparent; image-rendering: pixelated; }
.iwav-strip canvas.sel { border-color: #e6550d; }
` + NOTICE_CSS + LINES_CSS + TOKENS_CSS + BANNER_CSS;

export const QUERY = [27, 158, 119], KEY = [231, 41, 138];  // AttentionViz's green queries and pink keys
export const PALETTE = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
  [227, 119, 194], [188, 189, 34], [23, 190, 207], [127, 127, 127]];
export const OTHER = [205, 205, 205];
export const NAMES = { pca: "PCA", tsne: "t-SNE", umap: "UMAP" };
