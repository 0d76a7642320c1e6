// A token strip: a text's tokens in a row, one of them marked (the focus), and, given weights, each token
// shaded by its weight on the Blues scale. The weight is in each token's tooltip too, and the focus has
// an outline, so nothing is said by colour alone.
import { h } from "./dom.js";
import { cssColour } from "./heatmap.js";

export const TOKENS_CSS = `
.iw-tokens { line-height: 1.9; }
.iw-tokens span { display: inline-block; white-space: nowrap; padding: 0 3px; margin: 1px 2px 1px 0; border-radius: 2px; }
.iw-tokens span.focus { outline: 2px solid #e6550d; font-weight: 600; }
.iw-tokens span.dark { color: #fff; }
`;

/** A strip of `tokens`: `focus` (an index) outlined; `weights` (one per token) shaded from 0 to their
 * maximum, `what` naming them in the tooltips. */
export function tokenStrip(tokens, { focus = -1, weights = null, what = "weight" } = {}) {
  const strip = h("div", { class: "iw-tokens" });
  let top = 1e-9;
  if (weights) for (const w of weights) top = Math.max(top, w);
  tokens.forEach((t, i) => {
    const span = h("span", {}, t);
    if (i === focus) span.classList.add("focus");
    if (weights) {
      span.style.background = cssColour(weights[i], top);
      if (weights[i] / top > 0.6) span.classList.add("dark");
      span.title = `${t}: ${what} ${weights[i].toFixed(3)}`;
    }
    strip.append(span);
  });
  return strip;
}
