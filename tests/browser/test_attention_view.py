"""AttentionView in Chromium, from exported pages: every view renders and shows Python's numbers."""

from io import BytesIO

import models
import numpy as np
import pytest
import torch
from pages import open_exported
from PIL import Image

import interpwidgets as iw
from interpwidgets.attention.projection import ProjectionCache

TEXTS = iw.datasets.stdlib_sentences(40, seed=3)


@pytest.fixture(scope="module")
def view():
    v = iw.AttentionView(models.minilm("sdpa"), TEXTS, models.minilm_tokenizer(), cache=ProjectionCache(False))
    v.layer, v.head = 0, 2
    return v


def test_matrix_view_paints_every_head_and_sorts(view, tmp_path, offline_page):
    open_exported(offline_page, view, tmp_path / "m.html", view="matrix", sort_by="offset")
    offline_page.wait_for_function("document.querySelectorAll('.iwav-thumb canvas[data-painted]').length === 72",
                                   timeout=20000)
    first = offline_page.locator(".iwav-thumb span").first.inner_text()  # e.g. "L2H4 -7.49"
    offset = view.data.stats["offset"]
    layer, head = np.unravel_index(np.nanargmin(offset), offset.shape)
    assert first == f"L{layer}H{head} {offset[layer, head]:.2f}"
    # the thumbnail is drawn: green queries and pink keys on white
    png = offline_page.locator(".iwav-thumb canvas").first.screenshot()
    px = np.asarray(Image.open(BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)
    assert ((px[:, 1] > px[:, 0] + 40) & (px[:, 1] > px[:, 2])).sum() > 20  # green
    assert ((px[:, 0] > px[:, 1] + 60) & (px[:, 2] > px[:, 1] + 20)).sum() > 20  # pink
    assert offline_page.blocked == [] and offline_page.errors == []


def test_single_head_hover_reads_the_token_in_its_sentence(view, tmp_path, offline_page):
    open_exported(offline_page, view, tmp_path / "h.html", view="head")
    offline_page.locator(".iwav-plot canvas[data-painted]").first.wait_for(timeout=20000)
    coords = view.coords()[0]
    candidates = np.flatnonzero(view.data.unit == 4)[1:-1]  # queries of text 4; pick the most isolated one
    gap = [np.sort(np.abs(coords - coords[r]).sum(1))[1] for r in candidates]
    row = int(candidates[int(np.argmax(gap))])
    position = int(view.data.position[row])
    xy = offline_page.evaluate(f"document.querySelector('.iwav-plot').scatter.project({row})")
    box = offline_page.locator(".iwav-plot canvas").first.bounding_box()
    offline_page.mouse.move(box["x"] + xy[0], box["y"] + xy[1])
    card = offline_page.locator(".iwav-card").first
    card.filter(has_text="query").wait_for(timeout=5000)
    assert card.inner_text().startswith(f"query {view.data.tokens[row]} · text 4, position {position}")
    strip = card.locator(".iw-tokens span")  # its text, with this token marked (not another copy of it)
    marked = strip.evaluate_all("spans => spans.findIndex((s) => s.classList.contains('focus'))")
    start = int(np.flatnonzero(view.data.unit == 4)[0])
    assert marked == row - start and strip.nth(marked).inner_text() == view.data.tokens[row]


def _line_pixels(page, a, b, samples=40):
    """How many points along the segment a -> b (canvas pixels) are painted in the lines' dark blue."""
    box = page.locator(".iwav-plot canvas").first.bounding_box()
    img = np.asarray(Image.open(BytesIO(page.screenshot(clip=box))).convert("RGB")).astype(int)
    hits = 0
    for t in np.linspace(0.25, 0.75, samples):  # the middle of the segment, clear of both points
        x, y = (int(round(a[i] + t * (b[i] - a[i]))) for i in (0, 1))
        r, g, bl = img[y, x]
        hits += bl > r + 30 and bl > g + 10 and r < 140
    return hits


def test_query_lines_search_and_colours(view, tmp_path, offline_page):
    from interpwidgets.transport import decode

    row = 5
    attends = view._attends(row, view.layer, view.head)
    keys, weights = decode(attends["keys"]), decode(attends["weights"])
    top = int(keys[np.argmax(weights)])  # the key the query attends to most
    open_exported(offline_page, view, tmp_path / "q.html", view="head", query=row, color_by="token")
    offline_page.locator(".iwav-plot canvas[data-painted]").first.wait_for(timeout=20000)
    project = "(r) => document.querySelector('.iwav-plot').scatter.project(r)"
    q, k = offline_page.evaluate(project, row), offline_page.evaluate(project, top)
    assert np.hypot(q[0] - k[0], q[1] - k[1]) > 20  # far enough apart to see a line between them
    offline_page.wait_for_timeout(300)
    assert _line_pixels(offline_page, q, k) >= 30  # a line runs from the query to its top key
    legend = offline_page.locator(".iwav-legend span").all_inner_texts()
    tokens, counts = np.unique(view.data.tokens, return_counts=True)
    assert legend[0] == tokens[counts.argmax()] and legend[-1] == "other tokens"
    # a colour change repaints the points and the legend in place: the same scatter, the same plot
    offline_page.evaluate("document.querySelector('.iwav-plot').tag = 'kept'")
    offline_page.locator("select.iwav-color").select_option("position")
    offline_page.locator(".iwav-legend").filter(has_text="queries: first token").wait_for(timeout=5000)
    assert offline_page.evaluate("document.querySelector('.iwav-plot').tag") == "kept"
    offline_page.locator(".iwav-search").fill("the")
    expected = sum("the" in t.lower() for t in view.data.tokens)
    offline_page.locator(".iwav-search-count").filter(has_text=f"{expected} tokens match").wait_for(timeout=5000)
    # with no query clicked there is no line
    open_exported(offline_page, view, tmp_path / "none.html", view="head", query=-1, color_by="token")
    offline_page.locator(".iwav-plot canvas[data-painted]").first.wait_for(timeout=20000)
    offline_page.wait_for_timeout(300)
    assert _line_pixels(offline_page, q, k) <= 8


def test_a_new_head_loads_into_the_same_view(view, tmp_path, offline_page):
    """Another head: its points go into the same scatter, the title follows, and the clicked query's
    keys (of the old head) are no longer named."""
    open_exported(offline_page, view, tmp_path / "nh.html", also=[("points", {"layer": 0, "head": 3})],
                  view="head", query=5)
    attends = offline_page.locator(".iwav-attends")
    attends.filter(has_text="attends most to").wait_for(timeout=20000)
    offline_page.evaluate("document.querySelector('.iwav-plot').tag = 'kept'")
    offline_page.locator("select.iwav-headsel").select_option("3")
    offline_page.locator(".iwav-side").filter(has_text="layer 0, head 3").wait_for(timeout=10000)
    offline_page.wait_for_function("document.querySelector('.iwav-plot canvas').dataset.painted")
    assert offline_page.evaluate("document.querySelector('.iwav-plot').tag") == "kept"
    assert attends.inner_text() == "Click a query to name the keys it attends to."
    rows = list(range(0, 2 * view.n_tokens, 37))  # on screen: head 3's points, fitted (x right, y up)
    xy = np.array(offline_page.evaluate("rows => rows.map((r) => document.querySelector('.iwav-plot').scatter"
                                        ".project(r))", rows))
    for layer_head, want in (((0, 3), True), ((0, 2), False)):
        data = view.coords(*layer_head)[0][rows]
        fit = min(np.corrcoef(xy[:, 0], data[:, 0])[0, 1], np.corrcoef(-xy[:, 1], data[:, 1])[0, 1])
        assert (fit > 0.999) == want, (layer_head, fit)
    assert offline_page.locator(".iw-banner:not([hidden])").count() == 0 and offline_page.errors == []


def test_sentence_view_draws_the_heads_lines(view, tmp_path, offline_page):
    open_exported(offline_page, view, tmp_path / "s.html", view="sentence", unit=2)
    svg = offline_page.locator("svg.iw-lines")
    svg.wait_for(timeout=20000)
    p = view.patterns(2)[0, 2]
    assert svg.locator("line").count() == int((p >= 0.01).sum())
    rows = np.flatnonzero(view.data.unit == 2)
    assert svg.locator("text[data-side='q']").all_text_contents() == view.data.tokens[rows[0]:rows[-1] + 1]
    # another text, by keyboard: its lines replace these, and the picker keeps the focus
    open_exported(offline_page, view, tmp_path / "s3.html", also=[("pattern", {"unit": 3, "layer": 0, "head": 2})],
                  view="sentence", unit=2)
    offline_page.locator("svg.iw-lines").wait_for(timeout=20000)
    picker = offline_page.locator("select.iwav-unit")
    picker.focus()
    offline_page.keyboard.press("ArrowDown")  # text 3
    rows = np.flatnonzero(view.data.unit == 3)
    want = view.data.tokens[rows[0]:rows[-1] + 1]
    offline_page.wait_for_function("want => JSON.stringify([...document.querySelectorAll(\"text[data-side='q']\")]"
                                   ".map((t) => t.textContent)) === JSON.stringify(want)", arg=want, timeout=10000)
    assert offline_page.evaluate("document.activeElement.classList.contains('iwav-unit')")


def test_image_view_for_a_vit(tmp_path, offline_page):
    from sklearn.datasets import load_sample_images

    tiles = [im[y:y + 160, x:x + 160] for im in load_sample_images().images for y in (0, 200) for x in (0, 300)]
    torch.manual_seed(0)
    v = iw.AttentionView(models.vit(), tiles, cache=ProjectionCache(False))
    open_exported(offline_page, v, tmp_path / "i.html", view="image", unit=1, query=17 + 6)  # text 1, patch 1,1
    offline_page.locator("canvas.big[data-painted]").wait_for(timeout=20000)
    cls = v.patterns(1)[0, 0, 6, 0].item()
    assert f"attention from patch 1,1 (bright = attended; [CLS] gets {cls * 100:.1f}%)" in \
        offline_page.locator(".iwav-image-side .iwav-card").inner_text()
    assert offline_page.locator(".iwav-strip canvas").count() == 8
    # the single head's points drawn as the image patches they are (the exported page holds this head)
    offline_page.locator("button[data-view='head']").click()
    plot = offline_page.locator(".iwav-plot")
    plot.locator("canvas[data-painted]").first.wait_for(timeout=20000)
    dots = np.asarray(Image.open(BytesIO(plot.screenshot())).convert("RGB")).astype(int)
    offline_page.locator(".iwav-patches").check()
    offline_page.wait_for_timeout(300)
    patches = np.asarray(Image.open(BytesIO(plot.screenshot())).convert("RGB")).astype(int)
    colours = lambda img: len(np.unique(img.reshape(-1, 3) // 8, axis=0))  # noqa: E731
    assert colours(patches) > 2 * colours(dots)  # photographs have many more colours than two dot colours
    assert offline_page.errors == []
