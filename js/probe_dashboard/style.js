// ProbeDashboard's look: its CSS and colours.
import { BANNER_CSS } from "../lib/banner.js";

export const CSS = `
.iwpd { font: 13px/1.4 system-ui, sans-serif; color: #222; }
.iwpd-bar { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.iwpd-main { display: flex; gap: 18px; align-items: flex-start; flex-wrap: wrap; }
.iwpd-plot { display: flex; gap: 6px; align-items: flex-start; }
.iwpd-grid canvas { cursor: pointer; }
.iwpd-grid canvas:focus { outline: 2px solid #08306b; }
.iwpd-readout { min-height: 1.4em; color: #333; margin-top: 4px; }
.iwpd-side { width: 340px; display: flex; flex-direction: column; gap: 6px; }
.iwpd-top { font-family: ui-monospace, monospace; font-size: 11px; width: 100%; height: 3.2em; }
.iwpd-note { font-size: 11px; color: #555; }
` + BANNER_CSS;
export const PENDING = "#eeeeee";
export const TRUE = "#2171b5", FALSE = "#e6550d";
