// Pointer and wheel: hover, click, shift-drag selection, drag to pan (2-D) or orbit (3-D), wheel zoom.
// Pointer capture keeps a drag going outside the canvas without listeners on window.

import { inside, pick } from "./geometry.js";

const DRAG_PX = 3;       // a press that moves less than this is a click
const ZOOM = [0.05, 1e4];  // zoom limits relative to the fitted scale

function rotate(view, dx, dy) {  // about the screen's vertical axis for dx, horizontal for dy: R = Rx * Ry * R
  const a = dx * 0.01, b = dy * 0.01, [ca, sa, cb, sb] = [Math.cos(a), Math.sin(a), Math.cos(b), Math.sin(b)];
  const m = [ca, 0, sa, sb * sa, cb, -sb * ca, -cb * sa, sb, cb * ca], R = view.rot, out = new Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) out[3 * r + c] = m[3 * r] * R[c] + m[3 * r + 1] * R[3 + c] + m[3 * r + 2] * R[6 + c];
  }
  view.rot = out;
}

/** Listens on S.overlay; `redraw(false)` repaints the overlay alone, `changed()` follows a change of view.
 * Returns the function that stops listening. */
export function listen(S, { onHover, onClick, onSelect, redraw, changed }) {
  const { overlay, view } = S;
  const local = (e) => { const r = S.canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const hover = (i, e) => { if (i !== S.hovered) { S.hovered = i; onHover?.(i, e); } };
  const listeners = {
    pointerdown(e) {
      if (e.button !== 0) return;
      overlay.setPointerCapture(e.pointerId);
      const [x, y] = local(e);
      S.drag = { x0: x, y0: y, x, y, moved: false, select: e.shiftKey };
    },
    pointermove(e) {
      const [x, y] = local(e), { drag } = S;
      if (!drag) return hover(pick(S, x, y), e);
      if (!drag.moved && Math.hypot(x - drag.x0, y - drag.y0) < DRAG_PX) return;
      drag.moved = true;
      if (drag.select) {
        S.rect = [drag.x0, drag.y0, x, y];
        redraw(false);
      } else {
        if (S.dim === 3) rotate(view, x - drag.x, y - drag.y);
        else { view.ox += x - drag.x; view.oy += y - drag.y; }
        changed();
      }
      Object.assign(drag, { x, y });
    },
    pointerup(e) {
      const d = S.drag, [x, y] = local(e);
      S.drag = null;
      if (!d) return;
      if (!d.moved) onClick?.(pick(S, x, y), e);
      else if (d.select) {
        S.rect = null;
        redraw(false);
        onSelect?.(inside(S, d.x0, d.y0, x, y));
      }
    },
    pointercancel() { S.drag = S.rect = null; redraw(false); },
    pointerleave(e) { if (!S.drag) hover(-1, e); },
    wheel(e) {
      e.preventDefault();
      const [x, y] = local(e), step = e.deltaY * [1, 40, 800][e.deltaMode];  // pixels, lines, pages
      const s = Math.min(view.fit * ZOOM[1], Math.max(view.fit * ZOOM[0], view.scale * Math.exp(-step * 0.002)));
      const f = s / view.scale;
      view.ox = x - (x - view.ox) * f;  // the data point under the cursor stays there
      view.oy = y - (y - view.oy) * f;
      view.scale = s;
      changed();
    },
  };
  for (const [type, fn] of Object.entries(listeners)) overlay.addEventListener(type, fn, { passive: type !== "wheel" });
  return () => { for (const [type, fn] of Object.entries(listeners)) overlay.removeEventListener(type, fn); };
}
