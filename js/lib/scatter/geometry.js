// Where the points land on screen, and which lie under the pointer. Every result is cached against `S.stamp`,
// which changes whenever the points or the view do.

const PICK_PX = 6;       // hover and click reach, CSS px
const CELL = 8;          // picking grid cell, CSS px: at least PICK_PX, so the 3x3 cells about the pointer cover the reach
const MARGIN = 0.04;     // of the smaller side, left around the data when the view is fitted
const BUCKETS = 1024;    // depth buckets of the back-to-front sort in 3-D

/** Which of the `d`-dimensional points in `pos` are finite, and their box's centre and extent. */
export function bounds(pos, d) {
  const n = pos.length / d, finite = new Uint8Array(n);
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    let ok = 1;
    for (let c = 0; c < d; c++) ok &= Number.isFinite(pos[i * d + c]);
    if (!(finite[i] = ok)) continue;
    for (let c = 0; c < d; c++) { lo[c] = Math.min(lo[c], pos[i * d + c]); hi[c] = Math.max(hi[c], pos[i * d + c]); }
  }
  const any = lo[0] <= hi[0];
  const centre = [0, 1, 2].map((c) => (any && c < d ? (lo[c] + hi[c]) / 2 : 0));
  const extent = [0, 1, 2].map((c) => (any && c < d ? hi[c] - lo[c] : 0));
  let radius = 0;  // the farthest point from the centre: no rotation takes a point out of view, none wastes room
  for (let i = 0; i < n; i++) {
    if (!finite[i]) continue;
    let r2 = 0;
    for (let c = 0; c < d; c++) r2 += (pos[i * d + c] - centre[c]) ** 2;
    radius = Math.max(radius, r2);
  }
  return { finite, centre, extent, radius: Math.sqrt(radius) || 1 };
}

/** S.view fitted to the data, unrotated. */
export function fitView(S) {
  const { W, H, extent, radius } = S, m = MARGIN * Math.min(W, H) + S.pointSize;
  const fx = extent[0] > 0 ? Math.max(1, W - 2 * m) / extent[0] : Infinity;
  const fy = extent[1] > 0 ? Math.max(1, H - 2 * m) / extent[1] : Infinity;
  let fit = S.dim === 3 ? Math.max(1, Math.min(W, H) / 2 - m) / radius : Math.min(fx, fy);
  if (!Number.isFinite(fit) || fit <= 0) fit = Math.max(1, Math.min(W, H) / 2 - m);  // no spread: any scale
  Object.assign(S.view, { scale: fit, fit, ox: W / 2, oy: H / 2, rot: [1, 0, 0, 0, 1, 0, 0, 0, 1] });
}

export function screen(S) {  // every point's CSS px position and depth (larger = nearer); NaN where not drawn
  const { n, dim, pos, vis, view, proj } = S;
  if (proj?.stamp === S.stamp) return proj;
  const [x, y, z] = proj?.x.length === n ? [proj.x, proj.y, proj.z] : [1, 2, 3].map(() => new Float64Array(n));
  const [a, b, c, d, e, f, g, h, k] = view.rot, s = view.scale, [cx, cy, cz] = S.centre;
  for (let i = 0, j = 0; i < n; i++, j += dim) {
    if (!(vis[i] > 0)) { x[i] = y[i] = z[i] = NaN; continue; }
    const px = pos[j] - cx, py = pos[j + 1] - cy, pz = dim === 3 ? pos[j + 2] - cz : 0;
    x[i] = view.ox + s * (a * px + b * py + c * pz);
    y[i] = view.oy - s * (d * px + e * py + f * pz);
    z[i] = g * px + h * py + k * pz;
  }
  return (S.proj = { stamp: S.stamp, x, y, z });
}

export function depthOrder(S) {  // 3-D: indices far to near by a bucket sort, O(n)
  const { n, radius } = S;
  if (S.order?.stamp === S.stamp) return S.order.idx;
  const { z } = screen(S), count = new Uint32Array(BUCKETS + 1), bucket = new Uint16Array(n);
  const k = (BUCKETS - 1) / (2 * radius);
  for (let i = 0; i < n; i++) count[(bucket[i] = Math.min(BUCKETS - 1, Math.max(0, ((z[i] + radius) * k) | 0))) + 1]++;
  for (let b = 0; b < BUCKETS; b++) count[b + 1] += count[b];
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[count[bucket[i]]++] = i;
  return (S.order = { stamp: S.stamp, idx }).idx;
}

export function drawOrder(S) { return S.dim === 3 ? depthOrder(S) : null; }

export function topOrder(S) {  // the highlighted points that are drawn, far to near
  const { z } = screen(S), top = Array.from(S.hl).filter((i) => S.vis[i] > 0);
  return S.dim === 3 ? top.sort((i, j) => z[i] - z[j]) : top;
}

function pickGrid(S) {  // counting sort of the on-screen points into CELL x CELL buckets
  const { n, W, H } = S;
  if (S.grid?.stamp === S.stamp) return S.grid;
  const { x, y } = screen(S);
  const cols = Math.ceil((W + 2 * PICK_PX) / CELL), rows = Math.ceil((H + 2 * PICK_PX) / CELL);
  const cell = new Int32Array(n), start = new Int32Array(cols * rows + 1);
  for (let i = 0; i < n; i++) {
    const gx = Math.floor((x[i] + PICK_PX) / CELL), gy = Math.floor((y[i] + PICK_PX) / CELL);
    cell[i] = gx >= 0 && gx < cols && gy >= 0 && gy < rows ? gy * cols + gx : -1;  // NaN fails every test
    if (cell[i] >= 0) start[cell[i] + 1]++;
  }
  for (let c = 0; c < cols * rows; c++) start[c + 1] += start[c];
  const items = new Int32Array(start[cols * rows]), fill = start.slice(0, -1);
  for (let i = 0; i < n; i++) if (cell[i] >= 0) items[fill[cell[i]]++] = i;
  return (S.grid = { stamp: S.stamp, cols, rows, start, items });
}

/** The nearest point within PICK_PX of (px, py), CSS px; -1 if none. */
export function pick(S, px, py) {
  const { cols, rows, start, items } = pickGrid(S), { x, y, z } = screen(S);
  const gx = Math.floor((px + PICK_PX) / CELL), gy = Math.floor((py + PICK_PX) / CELL);
  let best = -1, bestD = PICK_PX * PICK_PX, bestZ = -Infinity;
  for (let cy = Math.max(0, gy - 1); cy <= Math.min(rows - 1, gy + 1); cy++) {
    for (let cx = Math.max(0, gx - 1); cx <= Math.min(cols - 1, gx + 1); cx++) {
      for (let k = start[cy * cols + cx]; k < start[cy * cols + cx + 1]; k++) {
        const i = items[k], d = (x[i] - px) ** 2 + (y[i] - py) ** 2;
        const depth = S.dim === 3 ? z[i] : i;  // on a tie, the point drawn on top wins
        if (d < bestD || (d === bestD && depth > bestZ)) { best = i; bestD = d; bestZ = depth; }
      }
    }
  }
  return best;
}

/** The points inside the rectangle with corners (x0, y0) and (x1, y1), CSS px. */
export function inside(S, x0, y0, x1, y1) {
  const { x, y } = screen(S), out = [];
  const [l, r, t, b] = [Math.min(x0, x1), Math.max(x0, x1), Math.min(y0, y1), Math.max(y0, y1)];
  for (let i = 0; i < S.n; i++) if (x[i] >= l && x[i] <= r && y[i] >= t && y[i] <= b) out.push(i);
  return Int32Array.from(out);
}
