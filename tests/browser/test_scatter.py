"""js/lib/scatter.js in Chromium: WebGL2 (SwiftShader) and Canvas2D rendering, picking, hover, click, selection,
zoom, pan, 3-D orbit and depth order, degenerate input, and the overlay (lines, highlight, sprites)."""

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

JS = Path(__file__).parents[2] / "js"

# Page helpers: make() builds a scatter whose callbacks record into window.events; painted() waits for a paint.
PRELUDE = """
window.events = [];
window.make = (opts = {}) => {
  window.s?.destroy();
  window.events = [];
  window.s = createScatter(document.getElementById("c"), {
    onHover: (i) => events.push(["hover", i]), onClick: (i) => events.push(["click", i]),
    onSelect: (ix) => events.push(["select", Array.from(ix)]), ...opts });
  return window.s;
};
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("scatter")
    entry = out / "entry.js"
    entry.write_text(f'import {{ createScatter }} from "{JS / "lib" / "scatter.js"}";\n'
                     "window.createScatter = createScatter;\n")
    subprocess.run([JS / "node_modules" / ".bin" / "esbuild", entry, "--bundle", "--format=iife",
                    f"--outfile={out / 'scatter.js'}", "--log-level=warning"], check=True)
    return (out / "scatter.js").read_text()


@pytest.fixture
def page(offline_page, bundle):
    offline_page.set_content(f'<html><body style="margin:0"><div id="c"></div>'
                             f"<script>{bundle}{PRELUDE}</script></body></html>")
    return offline_page


def painted(page):
    page.wait_for_function("document.querySelector('#c canvas').dataset.painted === '1'", timeout=10000)


def show(page, positions, dim=2, colors=None, **opts):
    """A new scatter of ``positions`` (n x dim), painted."""
    page.evaluate("([p, d, c, o]) => { const s = make(o); s.setPoints(new Float32Array(p), d);"
                  " if (c) s.setColors(new Uint8Array(c)); }",
                  [np.asarray(positions, float).ravel().tolist(), dim,
                   None if colors is None else np.asarray(colors).ravel().tolist(), opts])
    painted(page)


def project(page, i):
    return page.evaluate("(i) => s.project(i)", i)


def projections(page, n):
    return np.array(page.evaluate("(n) => Array.from({length: n}, (_, i) => s.project(i))", n))


def shot(page):
    """The page as an RGB array, indexed [y, x] in CSS px (device scale factor 1)."""
    painted(page)
    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)


def at(image, xy):
    return image[int(xy[1]), int(xy[0])]


def events(page, kind):
    return [e[1] for e in page.evaluate("events") if e[0] == kind]


def isolated(xy, i, reach=14.0):
    d = np.hypot(*(xy - xy[i]).T)
    d[i] = np.inf
    return d.min() > reach


def test_100k_points_render_and_pick(page):
    ms = page.evaluate("""async () => {
      const n = 100000, p = new Float32Array(2 * n), c = new Uint8Array(4 * n);
      let seed = 1;
      const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
      for (let i = 0; i < n; i++) {  // a disc of radius 4, blue
        const r = 4 * Math.sqrt(rand()), t = 2 * Math.PI * rand();
        p[2 * i] = r * Math.cos(t); p[2 * i + 1] = r * Math.sin(t);
        c.set([40, 90, 200, 255], 4 * i);
      }
      p.set([5, 5], 2 * 12345);  // one red point alone in the top-right corner
      c.set([255, 0, 0, 255], 4 * 12345);
      const t0 = performance.now();
      const s = make();
      s.setPoints(p, 2);
      s.setColors(c);
      await new Promise((done) => requestAnimationFrame(() => {
        const gl = s.canvas.getContext("webgl2");
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));  // waits for the GPU
        done();
      }));
      return performance.now() - t0;
    }""")
    print(f"\n100,000 points: first paint after {ms:.0f} ms")
    assert page.evaluate("s.canvas.getContext('webgl2') !== null")  # the WebGL path, not the fallback
    red, centre = project(page, 12345), project(page, 0)
    image = shot(page)
    r, g, b = at(image, red)
    assert r > 200 and g < 90 and b < 90, (r, g, b)
    assert tuple(at(image, (red[0] - 20, red[1]))) == (255, 255, 255)  # nothing drawn next to it
    assert tuple(at(image, (280, 280))) != (255, 255, 255)  # the disc is drawn
    assert page.evaluate("([x, y]) => s.pick(x, y)", red) == 12345
    assert page.evaluate("([x, y]) => s.pick(x + 4, y + 4)", red) == 12345  # within 6 px
    assert page.evaluate("([x, y]) => s.pick(x + 5, y + 5)", red) == -1  # 7 px away
    assert page.evaluate("([x, y]) => s.pick(x, y)", centre) >= 0
    assert page.errors == []


def test_hover_and_click_report_the_point_under_the_mouse(page):
    xy = np.random.default_rng(0).uniform(-1, 1, (300, 2))
    show(page, xy)
    screen = projections(page, len(xy))
    j = next(i for i in range(len(xy)) if isolated(screen, i))
    x, y = screen[j]
    page.mouse.move(x, y)
    page.mouse.move(x + 1, y)  # still the same point: no second call
    assert events(page, "hover") == [j]
    page.mouse.click(x, y)
    assert events(page, "click") == [j]
    page.mouse.move(2, 2)  # the corner is in the margin, far from every point
    assert events(page, "hover") == [j, -1]
    page.mouse.click(2, 2)
    assert events(page, "click") == [j, -1]


def test_shift_drag_selects_the_points_inside_the_rectangle(page):
    xy = np.random.default_rng(1).normal(size=(2000, 2))
    show(page, xy)
    # the view is affine in 2-D: recover it from two points and place every point in Python
    (x0, y0), (x1, y1) = project(page, 0), project(page, 1)
    sx, sy = (x1 - x0) / (xy[1, 0] - xy[0, 0]), (y1 - y0) / (xy[1, 1] - xy[0, 1])
    assert sx > 0 and sy < 0 and abs(sx + sy) < 1e-3 * sx  # y points up, same scale on both axes
    screen = np.column_stack([x0 + sx * (xy[:, 0] - xy[0, 0]), y0 + sy * (xy[:, 1] - xy[0, 1])])
    np.testing.assert_allclose(screen[:50], projections(page, 50), atol=1e-3)
    left, top, right, bottom = 200, 150, 330, 300
    page.keyboard.down("Shift")
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(260, 220, steps=3)
    painted(page)  # the rectangle is on the overlay while dragging
    assert page.evaluate("document.querySelectorAll('#c canvas')[1].getContext('2d').getImageData(230, 190, 1, 1)"
                         ".data[3]") > 0
    page.mouse.move(right, bottom, steps=3)
    page.mouse.up()
    page.keyboard.up("Shift")
    inside = (screen[:, 0] >= left) & (screen[:, 0] <= right) & (screen[:, 1] >= top) & (screen[:, 1] <= bottom)
    assert 20 < inside.sum() < 1500
    assert events(page, "select") == [list(np.flatnonzero(inside))]
    assert events(page, "click") == []  # a drag is not a click
    assert project(page, 0) == [x0, y0]  # a selection does not pan


def test_wheel_zooms_about_the_cursor_and_drag_pans(page):
    xy = np.random.default_rng(2).uniform(-1, 1, (500, 2))
    show(page, xy)
    i, k = 7, 8
    before, other = np.array(project(page, i)), np.array(project(page, k))
    page.mouse.move(*before)
    page.mouse.wheel(0, -400)
    painted(page)
    after, other_after = np.array(project(page, i)), np.array(project(page, k))
    assert np.abs(after - before).max() < 1
    assert np.hypot(*(other_after - after)) > 1.5 * np.hypot(*(other - before))  # zoomed in
    page.mouse.wheel(0, 300)
    painted(page)
    assert np.abs(np.array(project(page, i)) - before).max() < 1
    start = np.array(project(page, k))
    page.mouse.move(300, 300)
    page.mouse.down()
    page.mouse.move(340, 270, steps=5)
    page.mouse.move(357, 251, steps=2)
    page.mouse.up()
    painted(page)
    np.testing.assert_allclose(project(page, k), start + [57, -49], atol=1)
    assert events(page, "click") == []


def test_3d_drag_orbits_and_near_points_are_on_top(page):
    rng = np.random.default_rng(3)
    xyz = np.vstack([[[1.5, 1.5, 1], [1.5, 1.5, -1]], rng.uniform(-1, 1, (60, 3))])  # 0 and 1 apart from the rest
    colors = np.tile([120, 120, 120, 255], (len(xyz), 1))
    colors[0], colors[1] = [255, 0, 0, 255], [0, 0, 255, 255]  # red is near (z = 1), blue far, drawn after it
    show(page, xyz, 3, colors, pointSize=10)
    start = projections(page, len(xyz))
    r, g, b = at(shot(page), start[0])
    assert r > 200 and b < 60, (r, g, b)
    page.mouse.move(100, 300)
    page.mouse.down()
    page.mouse.move(100 + 100 * np.pi, 300, steps=8)  # 0.01 rad per px: half a turn about the vertical axis
    page.mouse.up()
    turned = projections(page, len(xyz))
    assert np.abs(turned - start).max() > 20
    np.testing.assert_allclose(turned[0], turned[1], atol=1)
    r, g, b = at(shot(page), turned[0])
    assert b > 200 and r < 60, (r, g, b)  # now blue is near
    for j in range(2, len(xyz)):
        if isolated(turned, j):
            assert page.evaluate("([x, y]) => s.pick(x, y)", turned[j].tolist()) == j
    j = next(j for j in range(2, len(xyz)) if isolated(turned, j))
    page.mouse.move(*turned[j])
    assert events(page, "hover")[-1] == j
    assert page.errors == []


def test_degenerate_input(page):
    for positions, dim in [([], 2), ([], 3), ([[1.5, -2]], 2), ([[1, 2, 3]], 3), ([[3, 3]] * 50, 2),
                           ([[3, 3, 3]] * 50, 3), ([[0, 0], [1, 1]], 2)]:
        show(page, positions, dim)
        screen = projections(page, len(positions))
        assert np.isfinite(screen).all(), (positions, screen)
        if len(positions):
            assert page.evaluate("([x, y]) => s.pick(x, y)", screen[0].tolist()) >= 0
        page.mouse.move(280, 280)
        page.mouse.wheel(0, -200)
        page.mouse.move(300, 300)
        page.mouse.down()
        page.mouse.move(320, 330, steps=3)
        page.mouse.up()
        painted(page)
        assert np.isfinite(projections(page, len(positions))).all()
    nan = float("nan")
    show(page, [[0, 0], [nan, 1], [1, nan], [1, 1], [float("inf"), 0]], 2)
    screen = projections(page, 5)
    assert np.isfinite(screen[[0, 3]]).all() and np.isnan(screen[[1, 2, 4]]).all()
    assert page.evaluate("([x, y]) => s.pick(x, y)", screen[3].tolist()) == 3
    show(page, [[nan, nan], [nan, 0]], 2)  # nothing finite at all
    show(page, [[0, 0, nan], [1, 1, 1], [2, 0, 1]], 3)
    hidden = project(page, 1)
    page.evaluate("s.setHighlight([0, 1]); s.setLines(0, [1, 2], [1, 1]); s.setSizes(new Float32Array([1, 0, 2]))")
    painted(page)
    assert page.evaluate("([x, y]) => s.pick(x, y)", hidden) == -1  # size 0: neither drawn nor picked
    assert page.evaluate("document.querySelector('#c canvas').dataset.drawn") == "1"
    assert page.errors == []


def _grid(n_side=5):
    """Points on a grid with wide gaps, so the middle of a segment is empty."""
    return np.array([[x, y] for y in range(n_side) for x in range(n_side)], float)


def test_highlight_lines_and_sprites_draw(page):
    xy = _grid()
    blue = np.tile([30, 80, 220, 255], (len(xy), 1))
    show(page, xy, 2, blue, pointSize=8)
    screen = projections(page, len(xy))
    plain = shot(page)
    # highlight point 12: the others fade, it grows and gets a dark rim
    page.evaluate("s.setHighlight([12])")
    lit = shot(page)
    assert at(lit, screen[0]).sum() > at(plain, screen[0]).sum() + 200  # faded towards white
    assert abs(at(lit, screen[12]) - at(plain, screen[12])).max() < 20  # the colour itself is kept
    x, y = screen[12].astype(int)
    darkest = [im[y - 9:y + 10, x - 9:x + 10].sum(axis=2).min() for im in (plain, lit)]
    assert darkest[0] == 330 and darkest[1] < 150  # the plain blue; then the highlighted point's dark rim
    page.evaluate("s.setHighlight(null)")
    np.testing.assert_array_equal(shot(page), plain)
    # lines from 0 to 6 and 7: the middle of each segment is empty space
    page.evaluate("s.setLines(0, [6, 7], [1, 0.3])")
    lined = shot(page)
    strong, weak = (screen[0] + screen[6]) / 2, (screen[0] + screen[7]) / 2
    assert tuple(at(plain, strong)) == tuple(at(plain, weak)) == (255, 255, 255)
    assert at(lined, strong).max() < 150
    assert at(lined, strong).sum() + 100 < at(lined, weak).sum() < 3 * 255 - 30  # the weaker line is lighter
    page.evaluate("s.setLines(null)")
    np.testing.assert_array_equal(shot(page), plain)
    # sprites: a 2-patch image, green for even points, magenta for odd ones, 20 px wide
    page.evaluate("""(n) => {
      const img = document.createElement("canvas");
      img.width = 32; img.height = 16;
      const g = img.getContext("2d");
      g.fillStyle = "#00c000"; g.fillRect(0, 0, 16, 16);
      g.fillStyle = "#ff00ff"; g.fillRect(16, 0, 16, 16);
      const rects = new Float32Array(4 * n);
      for (let i = 0; i < n; i++) rects.set([16 * (i % 2), 0, 16, 16], 4 * i);
      s.setSprites(img, rects, 20);
    }""", len(xy))
    sprited = shot(page)
    for i in (0, 1, 12):
        corner = at(sprited, screen[i] + [8, 8])  # inside the 20 px square, outside the 8 px disc
        assert tuple(corner) == ((0, 192, 0) if i % 2 == 0 else (255, 0, 255)), (i, corner)
    page.evaluate("s.setSprites(null)")
    np.testing.assert_array_equal(shot(page), plain)
    assert page.errors == []


@pytest.mark.parametrize("dim", [2, 3])
def test_canvas_fallback_renders_and_picks_the_same(page, dim):
    rng = np.random.default_rng(4)
    xy = rng.uniform(-1, 1, (3000, dim))
    colors = np.tile([40, 90, 200, 255], (len(xy), 1))
    xy[17] = [2, 2] + [0] * (dim - 2)
    colors[17] = [255, 0, 0, 255]
    show(page, xy, dim, colors)
    webgl = projections(page, len(xy))
    gl_image = shot(page)
    show(page, xy, dim, colors, renderer="canvas")
    assert page.evaluate("s.canvas.getContext('2d') !== null")  # the fallback really draws with Canvas2D
    np.testing.assert_allclose(projections(page, len(xy)), webgl, atol=1e-9)
    image = shot(page)
    r, g, b = at(image, webgl[17])
    assert r > 200 and g < 90 and b < 90, (r, g, b)
    assert np.mean(np.abs(image - gl_image) > 60) < 0.01  # the same picture, up to anti-aliasing
    assert page.evaluate("([x, y]) => s.pick(x, y)", webgl[17].tolist()) == 17
    page.mouse.click(*webgl[17])
    assert events(page, "hover") == [17] and events(page, "click") == [17]
    page.evaluate("s.setHighlight([17]); s.setLines(17, [0, 1], [1, 0.5])")
    painted(page)
    assert page.errors == []


def test_device_pixel_ratio_and_destroy(browser, bundle):
    page = browser.new_page(viewport={"width": 700, "height": 600}, device_scale_factor=2)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content(f'<html><body style="margin:0"><div id="c"></div><script>{bundle}{PRELUDE}</script></body></html>')
    show(page, [[0, 0], [1, 1]], 2, [[255, 0, 0, 255], [0, 0, 255, 255]], width=300, height=200, pointSize=6)
    assert page.evaluate("[s.canvas.width, s.canvas.height]") == [600, 400]
    image = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)
    x, y = project(page, 0)
    assert tuple(image[int(2 * y), int(2 * x)]) == (255, 0, 0)
    assert tuple(image[int(2 * y), int(2 * x) + 4]) == (255, 0, 0)  # 6 CSS px wide = 12 device px
    page.evaluate("s.resize(400, 300)")
    painted(page)
    assert page.evaluate("[s.canvas.width, s.canvas.height]") == [800, 600]
    page.evaluate("s.destroy(); window.s = null")
    assert page.evaluate("document.querySelectorAll('canvas').length") == 0
    assert errors == []
    page.close()
