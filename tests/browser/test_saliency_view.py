"""SaliencyView in JupyterLab, on the shapes world's shipped CNN: both views draw the picture and every map,
the reveal slider of one view reaches the kernel and moves the other (which draws the newly revealed picture
and the model's top classes on it), the method switch reveals XRAI's regions, the gallery's thumbnail picks
the image, the sanity check runs from its button, and the plotly figure draws the PIC curves with their
AUCs."""

import pytest
from lab import jupyterlab, kernel_state, move_slider, run_notebook

pytestmark = pytest.mark.slow

SALIENCY_VIEW = [
    """import json
from pathlib import Path
import interpwidgets as iw
from interpwidgets.worlds import shapes
d = shapes.dataset(6, "test")
view = iw.SaliencyView(shapes.load(), d["images"], d["labels"], methods=("IG", "XRAI", "random"), steps=8)
p = view.panel
TRAITS = ["index", "method", "reveal", "layout_mode", "ready", "computing", "pic", "sanity", "explained", "error"]
def report(change=None):
    Path("saliency_state.json").write_text(json.dumps({k: getattr(p, k) for k in TRAITS}))
p.observe(report, names=TRAITS)
report()
view""",
    "view  # a second view of the same widget",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jupyterlab(tmp_path_factory.mktemp("lab-saliency"), {"saliency_view": SALIENCY_VIEW}) as lab:
        yield {**lab, "url": lab["url_of"]("saliency_view")}


def test_saliency_view_round_trips(lab, browser):
    page = run_notebook(browser, lab["url"], height=1600)
    state = lambda until, timeout=120: kernel_state(lab["root"], until, timeout, "saliency_state.json")  # noqa: E731
    s = state(lambda s: s["ready"] and s["pic"].get("table") and not s["computing"], 240)
    assert s["error"] == ""
    page.wait_for_function("document.querySelectorAll('.iwsal-single[data-painted=\"0|IG|100\"]').length === 2",
                           timeout=60000)
    view = [page.locator(".iwsal").nth(i) for i in (0, 1)]
    # the numbers shown are the kernel's: the class explained, and the top classes on the revealed picture
    target = s["explained"][0]["name"]
    view[0].locator(".iwsal-cap", has_text=f"explaining “{target}”").wait_for(timeout=10000)
    assert view[0].locator(".iwsal-top tr").count() == 4  # the world's four classes
    # the reveal slider of view 2 reaches the kernel, and view 1 follows and draws the new level
    move_slider(page, ".iwsal >> nth=1 >> .iwsal-level", 50)
    state(lambda s: s["reveal"] == 0.5)
    page.wait_for_function("document.querySelectorAll('.iwsal-single[data-painted=\"0|IG|500\"]').length === 2",
                           timeout=30000)
    assert view[0].locator(".iwsal-level").input_value() == "50"
    view[0].locator(".iwsal-cap", has_text="50.0% of the pixels shown by IG").wait_for(timeout=10000)
    # the method switch, in view 1: XRAI reveals whole regions, in both views
    view[0].locator("select.iwsal-method").select_option("XRAI")
    state(lambda s: s["method"] == "XRAI")
    page.wait_for_function("document.querySelectorAll('.iwsal-single[data-painted=\"0|XRAI|500\"]').length === 2",
                           timeout=30000)
    view[1].locator(".iwsal-cap", has_text="by XRAI (whole regions)").wait_for(timeout=10000)
    # the plotly figures draw the PIC curves, AUCs in the legend
    page.locator(".js-plotly-plot .legendtext", has_text="AUC").first.wait_for(timeout=30000)
    # the gallery, in view 2: the PIC table, and a thumbnail picks the image for both views
    view[1].locator("select.iwsal-layout").select_option("gallery")
    state(lambda s: s["layout_mode"] == "gallery")
    view[1].locator(".iwsal-gallery[data-painted='XRAI'] .iwsal-thumb").nth(3).click()
    state(lambda s: s["index"] == 3 and s["layout_mode"] == "single")
    page.wait_for_function("document.querySelectorAll('.iwsal-single[data-painted=\"3|XRAI|500\"]').length === 2",
                           timeout=30000)
    # the sanity check, from view 1's button: both views show the verdict
    view[0].locator(".iwsal-sanity-run").click()
    s = state(lambda s: bool(s["sanity"].get("stages")), 180)
    assert s["sanity"]["method"] == "XRAI" and s["sanity"]["spearman"][0] == 1.0
    for v in view:
        v.locator(".iwsal-flag").wait_for(timeout=30000)
    page.wait_for_timeout(1000)  # an error reply, had there been one, lands well within this
    assert page.locator(".iw-banner:not([hidden])").count() == 0
    page.screenshot(path=str(lab["root"] / "saliency_view.png"), full_page=True)
    page.close()


def test_text_mode_colours_every_token(tmp_path, browser):
    """The text mode's page (save_html, no kernel) shows each text's tokens, coloured, with the target."""
    import models
    import torch

    from interpwidgets.saliency.widget import SaliencyView

    def ids(text, **kw):  # a tokenizer of digits: the tiny GPT-2's vocabulary is numbers
        return {"input_ids": torch.tensor([[int(c) for c in text.split()]])}

    view = SaliencyView.text(models.gpt2(), ids, ["3 7 11 5", "2 9 4"], steps=8, baseline=0,
                             background=False)
    page_file = view.save_html(tmp_path / "text.html")
    page = browser.new_page()
    page.goto(page_file.as_uri())
    page.locator(".iwsal-texts[data-painted]").wait_for(timeout=30000)
    spans = page.locator(".iwsal-text .iw-tokens span")
    n_tokens = sum(len(t["tokens"]) for t in view.panel.texts)
    assert spans.count() == n_tokens
    colours = {spans.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") for i in range(n_tokens)}
    assert len(colours) > 2  # shaded by attribution, not one colour
    page.close()
