// The WebGL2 renderer: gl.POINTS drawn as anti-aliased discs, the highlighted ones again on top, outlined.

import { depthOrder, topOrder } from "./geometry.js";
import { FADE, HL_ADD, HL_GROW, HL_LINE } from "./style.js";

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

export function initGL(gl) {
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

/** Per-point data into buffer `key` ("color", "size"); nothing without WebGL. */
export function upload(S, key, data) {
  const { gl, G } = S;
  if (!gl) return;
  gl.bindBuffer(gl.ARRAY_BUFFER, G.buf[key]);
  gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
}

export function uploadPositions(S) {
  const { gl, G } = S;
  if (!gl) return;
  upload(S, "pos", S.pos);
  gl.bindVertexArray(G.vao);
  gl.vertexAttribPointer(0, S.dim, gl.FLOAT, false, 0, 0);  // z reads as 0 in 2-D
}

export function paintGL(S, dpr) {
  const { gl, G: { prog, u, vao, buf }, n, view } = S;
  gl.viewport(0, 0, S.canvas.width, S.canvas.height);
  gl.clearColor(0, 0, 0, 0);  // transparent: the wrapper's CSS background shows through
  gl.clear(gl.COLOR_BUFFER_BIT);
  if (!n || S.sprites) return;
  gl.useProgram(prog);
  gl.bindVertexArray(vao);
  gl.uniformMatrix3fv(u.rot, true, view.rot);
  gl.uniform3fv(u.centre, S.centre);
  gl.uniform2f(u.origin, view.ox, view.oy);
  gl.uniform2f(u.size, S.W, S.H);
  for (const [k, v] of [["scale", view.scale], ["dpr", dpr], ["px", S.pointSize]]) gl.uniform1f(u[k], v);
  const pass = (...v) => ["alpha", "grow", "add", "outline"].forEach((k, j) => gl.uniform1f(u[k], v[j]));
  pass(S.hl.length ? FADE : 1, 1, 0, 0);
  if (S.dim === 3) {
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, buf.order);
    if (S.orderSent !== S.stamp) gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, depthOrder(S), gl.DYNAMIC_DRAW);
    S.orderSent = S.stamp;
    gl.drawElements(gl.POINTS, n, gl.UNSIGNED_INT, 0);
  } else {
    gl.drawArrays(gl.POINTS, 0, n);
  }
  const top = topOrder(S);
  if (!top.length) return;
  pass(1, HL_GROW, HL_ADD, HL_LINE * dpr);
  gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, buf.top);
  gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, Uint32Array.from(top), gl.DYNAMIC_DRAW);
  gl.drawElements(gl.POINTS, top.length, gl.UNSIGNED_INT, 0);
}

export function freeGL({ gl, G }) {
  for (const b of Object.values(G.buf)) gl.deleteBuffer(b);
  gl.deleteVertexArray(G.vao);
  gl.deleteProgram(G.prog);
  gl.getExtension("WEBGL_lose_context")?.loseContext();  // browsers cap live contexts: free it now
}
