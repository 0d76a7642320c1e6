"""OthelloView in JupyterLab, on the shipped Othello-GPT: both views draw the game and the probe's board
with the kernel's numbers; a click on a legal square in one view plays the move (the kernel's game
follows, and both views redraw); a click on an occupied square is refused with a message; the layer
slider moves the probe; a click on a disc of the probe's board flips it in the model and both views draw
the edited predictions with the flipped board's legal moves outlined; latent saliency runs from its
button; the plotly chart draws the probes' accuracy by layer."""

import pytest
from lab import jupyterlab, kernel_state, move_slider, run_notebook

pytestmark = pytest.mark.slow

OTHELLO_VIEW = [
    """import json
from pathlib import Path
import interpwidgets as iw
from interpwidgets.worlds import othello
view = iw.OthelloView(othello.load(), "d3 c5 f6", probe_games=80, edit_settings={"steps": 200, "lr": 1e-2})
b = view.board
TRAITS = ["moves", "cursor", "board", "legal", "probs", "layer", "decoded", "truth", "flips", "edited_probs",
          "edited_legal", "saliency", "accuracy", "busy", "error"]
def report(change=None):
    Path("othello_state.json").write_text(json.dumps({k: getattr(b, k) for k in TRAITS}))
b.observe(report, names=TRAITS)
report()
view""",
    "view  # a second view of the same widget",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jupyterlab(tmp_path_factory.mktemp("lab-othello"), {"othello_view": OTHELLO_VIEW}) as lab:
        yield {**lab, "url": lab["url_of"]("othello_view")}


def _pct(p):
    return "99%" if p >= 0.995 else f"{round(p * 100)}%" if p >= 0.01 else "<1%" if p > 0 else ""


def test_othello_view_round_trips(lab, browser):
    page = run_notebook(browser, lab["url"], height=1900)
    state = lambda until, timeout=60: kernel_state(lab["root"], until, timeout, "othello_state.json")  # noqa: E731
    s = state(lambda s: s["accuracy"] and s["decoded"] and not s["busy"], 180)
    assert s["error"] == ""
    page.wait_for_function("document.querySelectorAll('.iwoth-probe').length === 2", timeout=60000)
    view = [page.locator(".iwoth").nth(i) for i in (0, 1)]
    # the numbers shown are the kernel's: the model's most probable move, as a percentage on its square
    top = max(range(64), key=lambda i: s["probs"][i] or 0)
    for v in view:
        cell = v.locator(f".iwoth-game [data-square='{top}'] .iwoth-prob")
        assert cell.text_content() == _pct(s["probs"][top])
        assert v.locator(".iwoth-game .iwoth-disc").count() == sum(x != 0 for x in s["board"])
        wrong = sum(d != t for d, t in zip(s["decoded"], s["truth"], strict=True))
        assert v.locator(".iwoth-probe .iwoth-wrong").count() == wrong
    # a click on a legal square of view 2 plays it: the kernel's game has the move, and both views redraw
    move = s["legal"][0]
    view[1].locator(f".iwoth-game [data-square='{move}']").click()
    s = state(lambda s: s["cursor"] == 4 and s["moves"][-1] == move)
    for v in view:
        v.locator(".iwoth-where", has_text="move 4 of 4").wait_for(timeout=20000)
        v.locator(".iwoth-game .iwoth-disc").nth(sum(x != 0 for x in s["board"]) - 1).wait_for(timeout=20000)
    # an occupied square is refused, with a message that says so
    occupied = next(i for i in range(64) if s["board"][i] != 0)
    view[0].locator(f".iwoth-game [data-square='{occupied}']").click()
    view[0].locator(".iw-banner:not([hidden])", has_text="is occupied").wait_for(timeout=20000)
    s = state(lambda s: "is occupied" in s["error"])
    assert s["cursor"] == 4  # nothing moved
    # a legal move (in view 1) clears the message in both views
    view[0].locator(f".iwoth-game [data-square='{s['legal'][0]}']").click()
    s = state(lambda s: s["cursor"] == 5 and s["error"] == "")
    page.wait_for_function("document.querySelectorAll('.iw-banner:not([hidden])').length === 0", timeout=20000)
    occupied = next(i for i in range(64) if s["board"][i] != 0)
    # the layer slider of view 1 moves the probe in the kernel, and both views follow
    move_slider(page, ".iwoth >> nth=0 >> .iwoth-layer", 1)
    state(lambda s: s["layer"] == 1)
    for v in view:
        v.locator("figcaption", has_text="The probe's board at layer 1").wait_for(timeout=20000)
    # a click on a disc of view 2's probe board flips it in the model; both views draw the edit
    view[1].locator(f".iwoth-probe [data-square='{occupied}']").click()
    s = state(lambda s: s["flips"] == [occupied] and s["edited_probs"] and not s["busy"], 120)
    for v in view:
        edited = v.locator(".iwoth-edited")
        edited.wait_for(timeout=30000)
        v.locator("figcaption", has_text="the model's P(next move) with").wait_for(timeout=30000)
        assert edited.locator(".iwoth-outline").count() == len(s["edited_legal"])
        assert v.locator(".iwoth-probe .iwoth-ring").count() == 1
    # latent saliency from view 1's button: both views draw it, one value per disc
    view[0].locator(".iwoth-saliency-run").click()
    s = state(lambda s: bool(s["saliency"]) and not s["busy"], 120)
    for v in view:
        v.locator("svg.iwoth-saliency").wait_for(timeout=30000)
        drawn = v.locator("svg.iwoth-saliency .iwoth-prob").count()
        assert drawn == sum(x is not None for x in s["saliency"]["values"])
    # the plotly chart: the probes' held-out accuracy by layer
    page.locator(".js-plotly-plot .legendtext", has_text="linear, mine/theirs").first.wait_for(timeout=30000)
    page.wait_for_timeout(500)
    assert s["error"] == "" and page.locator(".iw-banner:not([hidden])").count() == 0
    page.screenshot(path=str(lab["root"] / "othello_view.png"), full_page=True)
    page.close()
