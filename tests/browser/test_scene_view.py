"""SceneProbeView in JupyterLab, on the scenes world's shipped pipeline and estimator: the timeline draws
every panel, the plotly heatmap's click picks the layer and step, the step slider and play move both
views, and dragging the object's mask or moving the depth push generates the image again, shown in both
views with the measured change."""

import pytest
from lab import jupyterlab, kernel_state, move_slider, run_notebook

pytestmark = pytest.mark.slow

SCENE_VIEW = [
    """import json, os
from pathlib import Path
os.environ["HF_HUB_OFFLINE"] = "1"
import interpwidgets as iw
from interpwidgets.worlds import scenes
pipe, estimator = scenes.load()
prompts = [f"a {c} sphere near on the {side}" for c in ("red", "blue", "green") for side in ("left", "right")]
view = iw.SceneProbeView(pipe, prompts, **scenes.estimators(estimator), steps=3, epochs=2, iters=10,
                         progress=False)
t = view.timeline
def report(change=None):
    Path("scene_state.json").write_text(json.dumps({k: getattr(t, k) for k in (
        "image", "layer", "step", "dx", "dy", "push", "edits", "editing", "edit_scores", "error")}))
t.observe(report, names=["image", "layer", "step", "dx", "dy", "push", "edits", "editing", "edit_scores", "error"])
report()
view""",
    "view  # a second view of the same widget",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jupyterlab(tmp_path_factory.mktemp("lab-scenes"), {"scene_view": SCENE_VIEW}) as lab:
        yield {**lab, "url": lab["url_of"]("scene_view")}


def _click_heatmap(page, view: int, row: int, col: int, rows: int, cols: int) -> None:
    """Click the Dice heatmap's cell (row = layer, from the top; col = step) in view ``view``."""
    box = page.locator(".js-plotly-plot").nth(view).locator(".nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + (col + 0.5) / cols * box["width"], box["y"] + (row + 0.5) / rows * box["height"])


def test_scene_view_round_trips(lab, browser):
    page = run_notebook(browser, lab["url"], height=1400)
    state = lambda until, timeout=120: kernel_state(lab["root"], until, timeout, "scene_state.json")  # noqa: E731
    page.wait_for_function("document.querySelectorAll('.iwsc-frames[data-painted]').length === 2", timeout=180000)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .nsewdrag').length >= 4", timeout=60000)
    first = state(lambda s: True)
    assert first["error"] == ""
    # the heatmap picks what the timeline shows: layer 1 (second row), step 2
    _click_heatmap(page, 0, 1, 2, rows=7, cols=3)
    state(lambda s: s["layer"] == "layers.1.attn.out" and s["step"] == 2)
    for i in (0, 1):  # both timelines follow, and draw the new layer's frames
        view = page.locator(".iwsc").nth(i)
        view.locator(".iwsc-score", has_text="layers.1.attn.out, step 2").wait_for(timeout=30000)
    # the step slider of view 2 moves view 1's
    move_slider(page, ".iwsc >> nth=1 >> .iwsc-step", 0)
    state(lambda s: s["step"] == 0)
    page.wait_for_function("document.querySelector('.iwsc .iwsc-step').value === '0'", timeout=30000)
    # play runs the steps to the last one
    page.locator(".iwsc").nth(0).locator(".iwsc-play").click()
    state(lambda s: s["step"] == 2, 30)
    # drag the object's mask 3 image pixels right (4 screen pixels each) in view 1
    box = page.locator(".iwsc").nth(0).locator(".iwsc-drag").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 6, y, steps=3)
    page.mouse.move(x + 12, y, steps=3)
    page.mouse.up()
    s = state(lambda s: s["dx"] == 3 and s["edits"] == 1 and not s["editing"], 240)
    assert {"dice_target", "dice_old"} <= set(s["edit_scores"]) and s["edit_scores"]["dx"] == 3
    for i in (0, 1):
        page.locator(".iwsc").nth(i).locator(".iwsc-edit[data-painted='1'] .iwsc-score",
                                             has_text="with the new mask").wait_for(timeout=60000)
    # the depth push, from view 2
    move_slider(page, ".iwsc >> nth=1 >> .iwsc-push", 1.5)
    s = state(lambda s: s["push"] == 1.5 and s["edits"] == 2 and not s["editing"], 240)
    assert s["edit_scores"]["push"] == 1.5
    page.locator(".iwsc").nth(0).locator(".iwsc-edit[data-painted='2']").wait_for(timeout=60000)
    # another image, from view 2: both edit panels start clean, and the old image's edit is not asked for
    # (it is gone: asking would put an error on screen)
    other = (s["image"] + 1) % 6
    page.locator(".iwsc").nth(1).locator("select.iwsc-image").select_option(str(other))
    state(lambda s: s["image"] == other and s["edit_scores"] == {} and s["dx"] == 0)
    for i in (0, 1):
        page.locator(".iwsc").nth(i).locator(".iwsc-edit", has_text="no edit yet").wait_for(timeout=30000)
    page.wait_for_timeout(1000)  # an error reply, had there been a request, lands well within this
    assert page.locator(".iw-banner:not([hidden])").count() == 0
    page.screenshot(path=str(lab["root"] / "scene_view.png"), full_page=True)
    page.close()


def test_save_png_waits_for_the_frames_and_the_edit(tmp_path):
    """save_png of the timeline after an edit: the page is shot once the frames and the edit are painted (each
    part marks data-drawn, then data-painted), not before and not never."""
    import models
    import numpy as np
    from PIL import Image

    from interpwidgets.scenes.widget import SceneProbeView

    def bright(images):
        b = images.mean(-1)
        return b > np.median(b, axis=(1, 2), keepdims=True)

    view = SceneProbeView(models.sd_pipeline(), [f"a red car {i}" for i in range(6)], depth=lambda x: x.mean(-1),
                          saliency=bright, steps=3, epochs=1, iters=3, progress=False, background=False)
    view.timeline.dx = 2  # an edit, generated at once (background=False)
    assert view.timeline.edits == 1
    png = view.timeline.save_png(tmp_path / "scenes.png", width=900, height=600)
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    tints = img[(np.ptp(img, -1) > 20)]  # coloured pixels: the painted images and maps, not grey text
    assert len(np.unique(tints, axis=0)) > 100
