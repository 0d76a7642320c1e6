// A token strip: a text's tokens in a row, one of them marked (the focus), and, given weights, each token
// shaded by its weight on the Blues scale. The weight is in each token's tooltip too, and the focus has
// an outline, so nothing is said by colour alone.
import { h } from "./dom.js";
import { cssColour, redBlue } from "./heatmap.js";

export const TOKENS_CSS = `
.iw-tokens { line-height: 1.9; }
.iw-tokens span { display: inline-block; white-space: nowrap; padding: 0 3px; margin: 1px 2px 1px 0; border-radius: 2px; }
.iw-tokens span.focus { outline: 2px solid #e6550d; font-weight: 600; }
.iw-tokens span.dark { color: #fff; }
`;

/** A strip of `tokens`: `focus` (an index) outlined; `weights` (one per token) shaded from 0 to their
 * maximum, `what` naming them in the tooltips. `signed` weights go from blue (negative) through white to
 * red (positive), over +-`top` (default: their largest magnitude). */
export function tokenStrip(tokens, { focus = -1, weights = null, what = "weight", signed = false, top = null } = {}) {
  const strip = h("div", { class: "iw-tokens" });
  if (weights && top === null) {
    top = 1e-9;
    for (const w of weights) top = Math.max(top, signed ? Math.abs(w) : w);
  }
  tokens.forEach((t, i) => {
    const span = h("span", {}, t);
    if (i === focus) span.classList.add("focus");
    if (weights) {
      const share = weights[i] / top;
      span.style.background = signed ? cssColour((share + 1) / 2, 1, redBlue) : cssColour(weights[i], top);
      if (signed ? Math.abs(share) > 0.7 : share > 0.6) span.classList.add("dark");
      span.title = `${t}: ${what} ${weights[i].toFixed(3)}`;
    }
    strip.append(span);
  });
  return strip;
}
