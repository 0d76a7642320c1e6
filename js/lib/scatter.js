// A scatter plot that stays smooth with 100,000+ points: WebGL2 gl.POINTS (a Canvas2D fallback with the same API
// where WebGL2 is missing), 2-D (drag pans, wheel zooms about the cursor) or 3-D (drag orbits about the data centre).
// Lines, image sprites and the selection rectangle go on a 2-D overlay canvas: they are few, and need wide lines.
// Picking goes through a screen-space grid built lazily once the view has changed, so a mousemove is not O(n).

const PICK_PX = 6;       // hover and click reach, CSS px
const CELL = 8;          // picking grid cell, CSS px: at least PICK_PX, so the 3x3 cells about the pointer cover the reach
const DRAG_PX = 3;       // a press that moves less than this is a click
const FADE = 0.2;        // opacity of the other points while some are highlighted
const HL_GROW = 1.6, HL_ADD = 3, HL_LINE = 1.5;  // highlighted diameter = d * grow + add, with an outline (CSS px)
const OUTLINE = "#222", LINE = "rgb(8,48,107)", GREY = [136, 136, 136, 255];  // highlight rim, lines, default colour
const MARGIN = 0.04;     // of the smaller side, left around the data when the view is fitted
const ZOOM = [0.05, 1e4];  // zoom limits relative to the fitted scale
const BUCKETS = 1024;    // depth buckets of the back-to-front sort in 3-D

const VS = `#version 300 es
layout(location = 0) in vec3 a_pos;
layout(location = 1) in vec4 a_color;
layout(location = 2) in float a_size;
uniform mat3 u_rot;
uniform vec3 u_centre;
uniform vec2 u_origin, u_size;
uniform float u_scale, u_dpr, u_px, u_grow, u_add, u_alpha;
out vec4 v_color;
out float v_radius, v_span;
void main() {
  if (!(a_size > 0.0)) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 1.0; return; }  // hidden or NaN
  vec3 q = u_rot * (a_pos - u_centre);
  vec2 s = u_origin + u_scale * vec2(q.x, -q.y);  // CSS px, y down
  gl_Position = vec4(s.x / u_size.x * 2.0 - 1.0, 1.0 - s.y / u_size.y * 2.0, 0.0, 1.0);
  float d = (u_px * a_size * u_grow + u_add) * u_dpr;
  v_radius = d * 0.5;
  v_span = d + 2.0;  // room for the anti-aliased rim
  gl_PointSize = v_span;
  v_color = vec4(a_color.rgb, a_color.a * u_alpha);
}`;

const FS = `#version 300 es
precision highp float;
in vec4 v_color;
in float v_radius, v_span;
uniform float u_outline;  // rim width, device px
out vec4 o;
void main() {
  float r = length(gl_PointCoord - 0.5) * v_span;  // device px from the centre
  float cover = clamp(v_radius - r + 0.5, 0.0, 1.0);
  if (cover <= 0.0) discard;
  float rim = u_outline > 0.0 ? clamp(r - (v_radius - u_outline) + 0.5, 0.0, 1.0) : 0.0;
  vec3 c = mix(v_color.rgb, vec3(0.13), rim);
  float a = mix(v_color.a, 1.0, rim) * cover;
  o = vec4(c * a, a);  // premultiplied
}`;

function initGL(gl) {
  const prog = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, VS], [gl.FRAGMENT_SHADER, FS]]) {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`scatter shader: ${gl.getShaderInfoLog(s)}`);
    gl.attachShader(prog, s);
    gl.deleteShader(s);  // freed with the program
  }
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(`scatter program: ${gl.getProgramInfoLog(prog)}`);
  const u = Object.fromEntries(["rot", "centre", "origin", "size", "scale", "dpr", "px", "grow", "add", "alpha", "outline"]
    .map((k) => [k, gl.getUniformLocation(prog, `u_${k}`)]));
  const vao = gl.createVertexArray();
  gl.bindVertexArray(vao);
  const buf = Object.fromEntries(["pos", "color", "size", "order", "top"].map((k) => [k, gl.createBuffer()]));
  for (const loc of [0, 1, 2]) gl.enableVertexAttribArray(loc);
  gl.bindBuffer(gl.ARRAY_BUFFER, buf.color);
  gl.vertexAttribPointer(1, 4, gl.UNSIGNED_BYTE, true, 0, 0);
  gl.bindBuffer(gl.ARRAY_BUFFER, buf.size);
  gl.vertexAttribPointer(2, 1, gl.FLOAT, false, 0, 0);
  gl.enable(gl.BLEND);
  gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
  return { prog, u, vao, buf };
}

export function createScatter(container, {
  width = 560, height = 560, pointSize = 3, background = "#ffffff",
  onHover = null, onClick = null, onSelect = null, renderer = "webgl",
} = {}) {
  let W = width, H = height;
  const wrap = document.createElement("div");
  wrap.style.cssText = `position:relative;width:${W}px;height:${H}px;background:${background}`;
  const canvas = document.createElement("canvas"), overlay = document.createElement("canvas");
  for (const c of [canvas, overlay]) c.style.cssText = `position:absolute;left:0;top:0;width:${W}px;height:${H}px`;
  overlay.style.touchAction = "none";  // drags pan/orbit instead of scrolling on touch screens
  overlay.style.cursor = "crosshair";
  wrap.append(canvas, overlay);
  container.append(wrap);
  const gl = renderer === "webgl"
    ? canvas.getContext("webgl2", { antialias: false, depth: false, premultipliedAlpha: true }) : null;
  const ctx = gl ? null : canvas.getContext("2d");
  const octx = overlay.getContext("2d");
  const G = gl && initGL(gl);

  // Data. `vis` is each point's size multiplier, 0 for points that are not drawn (NaN coordinates, size 0).
  let n = 0, dim = 2, pos = new Float32Array(0), finite = new Uint8Array(0), vis = new Float32Array(0);
  let colors = new Uint8Array(0), scales = null, hl = new Int32Array(0), lines = null, sprites = null;
  let centre = [0, 0, 0], extent = [0, 0, 0], radius = 1;
  const view = { scale: 1, fit: 1, ox: W / 2, oy: H / 2, rot: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
  // Caches of what depends on where points land on screen; `stamp` changes whenever that does.
  let stamp = 0, proj = null, grid = null, order = null, orderSent = -1;
  let frame = 0, baseDirty = true, hovered = -1, drag = null, rect = null;

  function redraw(base = true) {
    baseDirty ||= base;
    delete canvas.dataset.painted;
    if (!frame) frame = requestAnimationFrame(paint);
  }
  function changed() { stamp++; redraw(); }

  function screen() {  // every point's CSS px position and depth (larger = nearer); NaN where not drawn
    if (proj?.stamp === stamp) return proj;
    const [x, y, z] = proj?.x.length === n ? [proj.x, proj.y, proj.z] : [1, 2, 3].map(() => new Float64Array(n));
    const [a, b, c, d, e, f, g, h, k] = view.rot, s = view.scale, [cx, cy, cz] = centre;
    for (let i = 0, j = 0; i < n; i++, j += dim) {
      if (!(vis[i] > 0)) { x[i] = y[i] = z[i] = NaN; continue; }
      const px = pos[j] - cx, py = pos[j + 1] - cy, pz = dim === 3 ? pos[j + 2] - cz : 0;
      x[i] = view.ox + s * (a * px + b * py + c * pz);
      y[i] = view.oy - s * (d * px + e * py + f * pz);
      z[i] = g * px + h * py + k * pz;
    }
    return (proj = { stamp, x, y, z });
  }

  function depthOrder() {  // 3-D: indices far to near by a bucket sort, O(n)
    if (order?.stamp === stamp) return order.idx;
    const { z } = screen(), count = new Uint32Array(BUCKETS + 1), bucket = new Uint16Array(n);
    const k = (BUCKETS - 1) / (2 * radius);
    for (let i = 0; i < n; i++) count[(bucket[i] = Math.min(BUCKETS - 1, Math.max(0, ((z[i] + radius) * k) | 0))) + 1]++;
    for (let b = 0; b < BUCKETS; b++) count[b + 1] += count[b];
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) idx[count[bucket[i]]++] = i;
    return (order = { stamp, idx }).idx;
  }

  function drawOrder() { return dim === 3 ? depthOrder() : null; }

  function topOrder() {  // the highlighted points that are drawn, far to near
    const { z } = screen(), top = Array.from(hl).filter((i) => vis[i] > 0);
    return dim === 3 ? top.sort((i, j) => z[i] - z[j]) : top;
  }

  function pickGrid() {  // counting sort of the on-screen points into CELL x CELL buckets
    if (grid?.stamp === stamp) return grid;
    const { x, y } = screen();
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
    return (grid = { stamp, cols, rows, start, items });
  }

  function pick(px, py) {
    const { cols, rows, start, items } = pickGrid(), { x, y, z } = screen();
    const gx = Math.floor((px + PICK_PX) / CELL), gy = Math.floor((py + PICK_PX) / CELL);
    let best = -1, bestD = PICK_PX * PICK_PX, bestZ = -Infinity;
    for (let cy = Math.max(0, gy - 1); cy <= Math.min(rows - 1, gy + 1); cy++) {
      for (let cx = Math.max(0, gx - 1); cx <= Math.min(cols - 1, gx + 1); cx++) {
        for (let k = start[cy * cols + cx]; k < start[cy * cols + cx + 1]; k++) {
          const i = items[k], d = (x[i] - px) ** 2 + (y[i] - py) ** 2;
          const depth = dim === 3 ? z[i] : i;  // on a tie, the point drawn on top wins
          if (d < bestD || (d === bestD && depth > bestZ)) { best = i; bestD = d; bestZ = depth; }
        }
      }
    }
    return best;
  }

  function inside(x0, y0, x1, y1) {
    const { x, y } = screen(), out = [];
    const [l, r, t, b] = [Math.min(x0, x1), Math.max(x0, x1), Math.min(y0, y1), Math.max(y0, y1)];
    for (let i = 0; i < n; i++) if (x[i] >= l && x[i] <= r && y[i] >= t && y[i] <= b) out.push(i);
    return Int32Array.from(out);
  }

  function upload(target, buffer, data) {
    if (!gl) return;
    gl.bindBuffer(target, buffer);
    gl.bufferData(target, data, gl.STATIC_DRAW);
  }

  function updateSizes() {
    vis = new Float32Array(n);
    for (let i = 0; i < n; i++) vis[i] = finite[i] ? (scales ? scales[i] : 1) : 0;
    upload(gl?.ARRAY_BUFFER, G?.buf.size, vis);
  }

  function resetView() {
    const m = MARGIN * Math.min(W, H) + pointSize;
    const fx = extent[0] > 0 ? Math.max(1, W - 2 * m) / extent[0] : Infinity;
    const fy = extent[1] > 0 ? Math.max(1, H - 2 * m) / extent[1] : Infinity;
    let fit = dim === 3 ? Math.max(1, Math.min(W, H) / 2 - m) / radius : Math.min(fx, fy);
    if (!Number.isFinite(fit) || fit <= 0) fit = Math.max(1, Math.min(W, H) / 2 - m);  // no spread: any scale
    Object.assign(view, { scale: fit, fit, ox: W / 2, oy: H / 2, rot: [1, 0, 0, 0, 1, 0, 0, 0, 1] });
    changed();
  }

  function paintGL(dpr) {
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0, 0, 0, 0);  // transparent: the wrapper's CSS background shows through
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!n || sprites) return;
    const { prog, u, vao, buf } = G;
    gl.useProgram(prog);
    gl.bindVertexArray(vao);
    gl.uniformMatrix3fv(u.rot, true, view.rot);
    gl.uniform3fv(u.centre, centre);
    gl.uniform2f(u.origin, view.ox, view.oy);
    gl.uniform2f(u.size, W, H);
    for (const [k, v] of [["scale", view.scale], ["dpr", dpr], ["px", pointSize]]) gl.uniform1f(u[k], v);
    const pass = (...v) => ["alpha", "grow", "add", "outline"].forEach((k, j) => gl.uniform1f(u[k], v[j]));
    pass(hl.length ? FADE : 1, 1, 0, 0);
    if (dim === 3) {
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, buf.order);
      if (orderSent !== stamp) gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, depthOrder(), gl.DYNAMIC_DRAW);
      orderSent = stamp;
      gl.drawElements(gl.POINTS, n, gl.UNSIGNED_INT, 0);
    } else {
      gl.drawArrays(gl.POINTS, 0, n);
    }
    const top = topOrder();
    if (!top.length) return;
    pass(1, HL_GROW, HL_ADD, HL_LINE * dpr);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, buf.top);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, Uint32Array.from(top), gl.DYNAMIC_DRAW);
    gl.drawElements(gl.POINTS, top.length, gl.UNSIGNED_INT, 0);
  }

  function paint2D() {
    ctx.clearRect(0, 0, W, H);
    if (!n || sprites) return;
    const { x, y } = screen(), idx = drawOrder(), tau = 2 * Math.PI;
    ctx.globalAlpha = hl.length ? FADE : 1;
    for (let k = 0; k < n; k++) {
      const i = idx ? idx[k] : k, r = (pointSize * vis[i]) / 2;
      if (!(r > 0) || x[i] < -r || x[i] > W + r || y[i] < -r || y[i] > H + r) continue;
      ctx.fillStyle = `rgba(${colors[4 * i]},${colors[4 * i + 1]},${colors[4 * i + 2]},${colors[4 * i + 3] / 255})`;
      ctx.beginPath(); ctx.arc(x[i], y[i], r, 0, tau); ctx.fill();
    }
    Object.assign(ctx, { globalAlpha: 1, strokeStyle: OUTLINE, lineWidth: HL_LINE });
    for (const i of topOrder()) {
      const r = (pointSize * vis[i] * HL_GROW + HL_ADD - HL_LINE) / 2;
      ctx.fillStyle = `rgb(${colors[4 * i]},${colors[4 * i + 1]},${colors[4 * i + 2]})`;
      ctx.beginPath(); ctx.arc(x[i], y[i], r, 0, tau); ctx.fill(); ctx.stroke();
    }
  }

  function paintOverlay() {
    octx.clearRect(0, 0, W, H);
    const { x, y } = sprites || lines ? screen() : {};  // no O(n) projection per frame when there is nothing here
    if (sprites && n) {
      const { image, rects, size } = sprites, idx = drawOrder(), on = new Uint8Array(n);
      for (const i of hl) on[i] = 1;
      octx.globalAlpha = hl.length ? FADE : 1;
      for (let k = 0; k < n; k++) {
        const i = idx ? idx[k] : k, s = size * vis[i];
        if (s > 0 && !on[i]) octx.drawImage(image, ...rects.subarray(4 * i, 4 * i + 4), x[i] - s / 2, y[i] - s / 2, s, s);
      }
      Object.assign(octx, { globalAlpha: 1, strokeStyle: OUTLINE, lineWidth: HL_LINE });
      for (const i of topOrder()) {
        const s = size * vis[i] * HL_GROW;
        octx.drawImage(image, ...rects.subarray(4 * i, 4 * i + 4), x[i] - s / 2, y[i] - s / 2, s, s);
        octx.strokeRect(x[i] - s / 2, y[i] - s / 2, s, s);
      }
    }
    if (lines && Number.isFinite(x[lines.from])) {
      const { from, to, weights } = lines;
      Object.assign(octx, { strokeStyle: LINE, lineCap: "round" });
      for (let k = 0; k < to.length; k++) {
        const i = to[k], w = Math.min(1, weights[k]);
        if (!(w > 0) || !Number.isFinite(x[i])) continue;
        octx.globalAlpha = 0.15 + 0.85 * w;
        octx.lineWidth = 0.5 + 3 * w;
        octx.beginPath(); octx.moveTo(x[from], y[from]); octx.lineTo(x[i], y[i]); octx.stroke();
      }
      octx.globalAlpha = 1;
    }
    if (rect) {
      const [x0, y0, x1, y1] = rect;
      Object.assign(octx, { fillStyle: "rgba(33,113,181,0.12)", strokeStyle: "rgb(33,113,181)", lineWidth: 1 });
      octx.fillRect(x0, y0, x1 - x0, y1 - y0);
      octx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
  }

  function paint() {
    frame = 0;
    const dpr = window.devicePixelRatio || 1, bw = Math.round(W * dpr), bh = Math.round(H * dpr);
    if (canvas.width !== bw || canvas.height !== bh) {  // also follows a browser zoom, at the next redraw
      for (const c of [canvas, overlay]) { c.width = bw; c.height = bh; }
      baseDirty = true;
    }
    for (const c of [ctx, octx]) c?.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (baseDirty) gl ? paintGL(dpr) : paint2D();
    baseDirty = false;
    paintOverlay();
    canvas.dataset.painted = "1";
  }

  // Pointer: pointer capture keeps a drag going outside the canvas without listeners on window.
  const local = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const hover = (i, e) => { if (i !== hovered) { hovered = i; onHover?.(i, e); } };

  function rotate(dx, dy) {  // about the screen's vertical axis for dx, horizontal for dy: R = Rx * Ry * R
    const a = dx * 0.01, b = dy * 0.01, [ca, sa, cb, sb] = [Math.cos(a), Math.sin(a), Math.cos(b), Math.sin(b)];
    const m = [ca, 0, sa, sb * sa, cb, -sb * ca, -cb * sa, sb, cb * ca], R = view.rot, out = new Array(9);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) out[3 * r + c] = m[3 * r] * R[c] + m[3 * r + 1] * R[3 + c] + m[3 * r + 2] * R[6 + c];
    }
    view.rot = out;
    changed();
  }

  const listeners = {
    pointerdown(e) {
      if (e.button !== 0) return;
      overlay.setPointerCapture(e.pointerId);
      const [x, y] = local(e);
      drag = { x0: x, y0: y, x, y, moved: false, select: e.shiftKey };
    },
    pointermove(e) {
      const [x, y] = local(e);
      if (!drag) return hover(pick(x, y), e);
      if (!drag.moved && Math.hypot(x - drag.x0, y - drag.y0) < DRAG_PX) return;
      drag.moved = true;
      if (drag.select) {
        rect = [drag.x0, drag.y0, x, y];
        redraw(false);
      } else if (dim === 3) {
        rotate(x - drag.x, y - drag.y);
      } else {
        view.ox += x - drag.x;
        view.oy += y - drag.y;
        changed();
      }
      Object.assign(drag, { x, y });
    },
    pointerup(e) {
      const d = drag, [x, y] = local(e);
      drag = null;
      if (!d) return;
      if (!d.moved) onClick?.(pick(x, y), e);
      else if (d.select) {
        rect = null;
        redraw(false);
        onSelect?.(inside(d.x0, d.y0, x, y));
      }
    },
    pointercancel() { drag = rect = null; redraw(false); },
    pointerleave(e) { if (!drag) hover(-1, e); },
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

  const need = (what, data, length) => {
    if (data.length !== length) throw new Error(`scatter ${what}: ${length} values expected, got ${data.length}`);
  };

  return {
    canvas,
    setPoints(positions, d) {
      if (d !== 2 && d !== 3) throw new Error(`scatter setPoints: dim must be 2 or 3, got ${d}`);
      const m = Math.floor(positions.length / d);
      if (m !== n) {  // per-point settings refer to the old points
        colors = new Uint8Array(4 * m).map((_, i) => GREY[i % 4]);
        upload(gl?.ARRAY_BUFFER, G?.buf.color, colors);
        scales = lines = sprites = null;
        hl = new Int32Array(0);
      }
      n = m;
      dim = d;
      pos = new Float32Array(positions).subarray(0, n * d);  // a copy: the caller may reuse its array
      finite = new Uint8Array(n);
      const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
      for (let i = 0; i < n; i++) {
        let ok = 1;
        for (let c = 0; c < d; c++) ok &= Number.isFinite(pos[i * d + c]);
        if (!(finite[i] = ok)) continue;
        for (let c = 0; c < d; c++) { lo[c] = Math.min(lo[c], pos[i * d + c]); hi[c] = Math.max(hi[c], pos[i * d + c]); }
      }
      const any = lo[0] <= hi[0];
      centre = [0, 1, 2].map((c) => (any && c < d ? (lo[c] + hi[c]) / 2 : 0));
      extent = [0, 1, 2].map((c) => (any && c < d ? hi[c] - lo[c] : 0));
      radius = 0;  // the farthest point from the centre: no rotation takes a point out of view, none wastes room
      for (let i = 0; i < n; i++) {
        if (!finite[i]) continue;
        let r2 = 0;
        for (let c = 0; c < d; c++) r2 += (pos[i * d + c] - centre[c]) ** 2;
        radius = Math.max(radius, r2);
      }
      radius = Math.sqrt(radius) || 1;
      upload(gl?.ARRAY_BUFFER, G?.buf.pos, pos);
      gl?.bindVertexArray(G.vao);
      gl?.vertexAttribPointer(0, d, gl.FLOAT, false, 0, 0);  // z reads as 0 in 2-D
      updateSizes();
      canvas.dataset.drawn = "1";
      resetView();
    },
    setColors(rgba) {
      need("setColors", rgba, 4 * n);
      colors = new Uint8Array(rgba);
      upload(gl?.ARRAY_BUFFER, G?.buf.color, colors);
      redraw();
    },
    setSizes(scale) {
      if (scale) need("setSizes", scale, n);
      scales = scale && Float32Array.from(scale);
      updateSizes();
      changed();  // points of size 0 are neither drawn nor picked
    },
    setHighlight(indices) {
      hl = Int32Array.from(indices ?? []).filter((i) => i >= 0 && i < n);
      redraw();
    },
    highlighted: () => Array.from(hl),
    setLines(from, to, weights) {
      if (from != null) need("setLines", weights, to.length);
      lines = from == null ? null : { from, to: Int32Array.from(to), weights: Float32Array.from(weights) };
      redraw(false);
    },
    setSprites(image, rects, sizePx = 14) {
      if (image) need("setSprites", rects, 4 * n);
      sprites = image ? { image, rects: Float32Array.from(rects), size: sizePx } : null;
      if (image instanceof HTMLImageElement && !image.complete) image.addEventListener("load", () => redraw(), { once: true });
      redraw();
    },
    resetView,
    resize(w, h) {
      view.ox += (w - W) / 2;  // the view's centre stays in the centre
      view.oy += (h - H) / 2;
      [W, H] = [w, h];
      for (const e of [wrap, canvas, overlay]) { e.style.width = `${W}px`; e.style.height = `${H}px`; }
      changed();
    },
    pick,
    project(i) {
      const { x, y } = screen();
      return i >= 0 && i < n ? [x[i], y[i]] : [NaN, NaN];
    },
    redraw,
    destroy() {
      cancelAnimationFrame(frame);
      for (const [type, fn] of Object.entries(listeners)) overlay.removeEventListener(type, fn);
      if (gl) {
        for (const b of Object.values(G.buf)) gl.deleteBuffer(b);
        gl.deleteVertexArray(G.vao);
        gl.deleteProgram(G.prog);
        gl.getExtension("WEBGL_lose_context")?.loseContext();  // browsers cap live contexts: free it now
      }
      wrap.remove();
    },
  };
}
