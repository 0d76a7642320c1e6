"""AttentionPatterns in Chromium: offline export, both views, and the numbers a hover reads out."""

import models
import pytest
from pages import open_exported

import interpwidgets as iw
from interpwidgets.widgets import request_key


@pytest.fixture(scope="module")
def view():
    v = iw.AttentionPatterns(models.minilm("sdpa"), ["The cat sat on the mat because it was tired.",
                                                      "Attention is all you need."],
                             tokenizer=models.minilm_tokenizer())
    v.layer, v.head = 0, 2
    return v


def test_model_view_paints_every_head_offline(view, tmp_path, offline_page):
    offline_page.goto(view.save_html(tmp_path / "ap.html").as_uri())
    grid = offline_page.locator(".iwap-grid canvas")
    grid.first.wait_for(timeout=20000)
    assert grid.count() == 72
    offline_page.wait_for_function("document.querySelectorAll('canvas[data-painted]').length >= 72", timeout=10000)
    assert offline_page.locator("canvas.sel").get_attribute("title") == "layer 0, head 2"
    assert offline_page.blocked == [] and offline_page.errors == []


def test_matrix_view_reads_out_the_pythons_numbers(view, tmp_path, offline_page):
    open_exported(offline_page, view, tmp_path / "ap_matrix.html", view="matrix")
    canvas = offline_page.locator("canvas.iwap-canvas[data-painted]")
    canvas.wait_for(timeout=20000)
    assert "layer 0, head 2" in offline_page.locator(".iwap-title").inner_text()
    tokens = view.tokens[0]
    n = len(tokens)
    box = canvas.bounding_box()
    q, k = 6, 5  # "mat" attends to "the" in the previous-token head
    offline_page.mouse.move(box["x"] + (k + 0.5) * box["width"] / n, box["y"] + (q + 0.5) * box["height"] / n)
    readout = offline_page.locator(".iwap-readout")
    readout.filter(has_text="→").wait_for(timeout=5000)
    expected = view.pattern(0, 2, 0)[q, k].item()
    assert readout.inner_text() == f"{tokens[q]} (query {q}) → {tokens[k]} (key {k}): {expected:.3f}"


def test_clicking_a_thumbnail_opens_its_matrix(view, tmp_path, offline_page):
    offline_page.goto(view.save_html(tmp_path / "ap_click.html").as_uri())
    offline_page.locator("canvas[title='layer 0, head 2']").click(timeout=20000)
    offline_page.locator("canvas.iwap-canvas[data-painted]").wait_for(timeout=10000)
    assert offline_page.locator("button.on").inner_text() == "Matrix"
    assert offline_page.locator("select.iwap-head").input_value() == "2"


def test_save_png_waits_for_the_thumbnails(view, tmp_path):
    import numpy as np
    from PIL import Image

    png = view.save_png(tmp_path / "ap.png", width=760, height=200)
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert img.shape[0] > 350  # the page grew to the whole grid
    r, b = img[..., 0], img[..., 2]
    tints = img[(b > r + 10) & (img.sum(-1) < 740)]  # blue shades: painted cells, not grey text or white
    assert len(np.unique(tints, axis=0)) > 30


def test_lines_view_draws_the_weights_and_focuses_a_token(view, tmp_path, offline_page):
    open_exported(offline_page, view, tmp_path / "ap_lines.html", view="head", layer=2, head=1)
    pattern = view.pattern(layer=2, head=1)
    offline_page.locator("svg.iw-lines").wait_for(timeout=20000)
    lines = offline_page.locator("svg.iw-lines line")
    assert lines.count() == int((pattern >= 0.01).sum())
    first = lines.first
    q, k = int(first.get_attribute("data-q")), int(first.get_attribute("data-k"))
    assert float(first.get_attribute("stroke-opacity")) == round(min(1.0, pattern[q, k].item()), 3)
    offline_page.locator("svg.iw-lines text[data-side='q'][data-index='6']").hover()  # "mat"
    shown = offline_page.locator("svg.iw-lines line.on")
    assert shown.count() == int((pattern[6] >= 0.01).sum())
    assert {int(shown.nth(i).get_attribute("data-q")) for i in range(shown.count())} == {6}


def test_a_long_text_matrix_fits_and_zooms(tmp_path, offline_page):
    from transformers import AutoConfig, BertModel

    config = AutoConfig.from_pretrained(models.minilm_dir())
    config.num_hidden_layers, config.max_position_embeddings = 1, 1200
    long_view = iw.AttentionPatterns(BertModel(config).eval(), ["word " * 1100], tokenizer=models.minilm_tokenizer())
    long_view.view = "matrix"
    path = long_view.save_html(tmp_path / "long.html")
    carried = long_view._snapshot()[request_key("pattern", {"text": 0, "layer": 0, "head": 0})]
    assert carried["pattern"]["dtype"] == "float16" and carried["pattern"]["buffer"].nbytes == 1102 ** 2 * 2
    offline_page.goto(path.as_uri())
    canvas = offline_page.locator("canvas.iwap-canvas[data-painted]")
    canvas.wait_for(timeout=30000)
    assert canvas.evaluate("c => c.style.width") == "560px"  # 1102 tokens in 560 px; labels off, hover reads them
    assert offline_page.locator(".iwap-ytok div").count() == 0
    offline_page.locator("select.iwap-zoom").select_option("4")
    zoomed = offline_page.locator("canvas.iwap-canvas[data-painted]")
    zoomed.wait_for(timeout=10000)
    assert offline_page.locator(".iwap-canvas").evaluate("c => c.style.width") == "2240px"
    box = offline_page.locator(".iwap-scroll").bounding_box()
    assert box["width"] <= 581  # scrolled, not overflowing the page
    cell = 2240 / len(long_view.tokens[0])  # px per token at 4x
    offline_page.mouse.move(box["x"] + 1 + 10.5 * cell, box["y"] + 1 + 20.5 * cell)  # key 10, query 20
    offline_page.locator(".iwap-readout").filter(has_text="→").wait_for(timeout=5000)
    expected = long_view.pattern(0, 0)[20, 10].item()
    assert offline_page.locator(".iwap-readout").inner_text() == f"word (query 20) → word (key 10): {expected:.3f}"


def test_cross_attention_matrix_is_query_by_key(tmp_path, offline_page):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(models.minilm_dir())
    model = models.t5("sdpa")
    model.resize_token_embeddings(tok.vocab_size)
    cross = iw.AttentionPatterns(model, ["the cat sat on the mat"], tokenizer=tok, attention="cross",
                                 targets=["le chat"])
    cross.view = "matrix"
    offline_page.goto(cross.save_html(tmp_path / "cross.html").as_uri())
    canvas = offline_page.locator("canvas.iwap-canvas[data-painted]")
    canvas.wait_for(timeout=20000)
    n, m = len(cross.tokens[0]), len(cross.key_tokens[0])
    assert canvas.evaluate("c => [c.width, c.height]") == [m, n]
    assert offline_page.locator(".iwap-xtok div").all_inner_texts() == cross.key_tokens[0]
    assert offline_page.locator(".iwap-ytok div").all_inner_texts() == cross.tokens[0]
    box = canvas.bounding_box()
    offline_page.mouse.move(box["x"] + 1 + 5.5 * (box["width"] - 2) / m, box["y"] + 1 + 1.5 * (box["height"] - 2) / n)
    offline_page.locator(".iwap-readout").filter(has_text="→").wait_for(timeout=5000)
    expected = cross.pattern()[1, 5].item()
    assert offline_page.locator(".iwap-readout").inner_text() == \
        f"{cross.tokens[0][1]} (query 1) → {cross.key_tokens[0][5]} (key 5): {expected:.3f}"


def test_an_error_from_python_is_shown_in_the_view(view, tmp_path, offline_page):
    message = "IndexError: layer 9, head 0 out of range: 6 layers x 12 heads"
    open_exported(offline_page, view, tmp_path / "error.html", error=message)
    box = offline_page.locator(".iw-banner .iw-banner-text")
    box.wait_for(timeout=20000)
    assert box.inner_text() == message
    assert offline_page.locator(".iwap-grid canvas").count() == 72  # the rest of the view is still there
