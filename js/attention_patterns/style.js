// AttentionPatterns' look.
import { BANNER_CSS } from "../lib/banner.js";
import { LINES_CSS } from "../lib/lines.js";
import { NOTICE_CSS } from "../lib/parts.js";

export const CSS = `
.iwap { font: 13px/1.4 system-ui, sans-serif; color: #222; }
.iwap-bar { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.iwap-bar button { border: 1px solid #bbb; background: #f6f6f6; padding: 3px 10px; border-radius: 4px; cursor: pointer; }
.iwap-bar button.on { background: #08306b; color: #fff; border-color: #08306b; }
.iwap-models { display: flex; gap: 10px; align-items: flex-start; }
.iwap-grid { display: grid; gap: 3px; align-items: center; max-height: 560px; overflow: auto; }
.iwap-grid canvas { width: 52px; height: 52px; border: 1px solid #ddd; cursor: pointer; background: #fafafa; }
.iwap-grid canvas:hover, .iwap-grid canvas:focus, .iwap-grid canvas.sel { outline: 2px solid #e6550d; }
.iwap-lab { font-size: 11px; color: #666; text-align: center; }
.iwap-axis { font-size: 11px; color: #444; }
.iwap-matrix { display: grid; grid-template-columns: auto auto auto auto; justify-content: start; gap: 4px; align-items: start; }
.iwap-matrix .iwap-xtitle { text-align: center; }
.iwap-matrix .iwap-ytitle { writing-mode: vertical-rl; transform: rotate(180deg); text-align: center; align-self: center; }
.iwap-scroll { position: relative; }
.iwap-matrix canvas { border: 1px solid #ccc; cursor: crosshair; display: block; }
.iwap-mark { position: absolute; border: 2px solid #e6550d; pointer-events: none; box-sizing: border-box; }
.iwap-ytok, .iwap-xtok { font-size: 11px; color: #333; overflow: hidden; }
.iwap-ytok div { text-align: right; padding-right: 4px; white-space: nowrap; overflow: hidden; }
.iwap-xtok { position: relative; }
.iwap-xtok div { position: absolute; transform: rotate(-60deg); transform-origin: left bottom; white-space: nowrap; }
.iwap-readout { min-height: 1.4em; margin-top: 6px; color: #333; }
.iwap-missing { color: #8a1f1f; font-size: 12px; padding: 8px; }
` + NOTICE_CSS + LINES_CSS + BANNER_CSS;

export const WEIGHT = "attention weight (0-1)";
