"""ChatDashboard in JupyterLab, on the personas world's chat LM: a turn written in one view reaches the kernel
and both views show the conversation, the reply and the kernel's readout percentages; a pin set in the other
view reaches the kernel and both views outline the pinned value (the bars keep reading the conversation); the
comparison runs from a button and both views show the two replies; a request that cannot be served shows the
kernel's message, and the next success clears it; the plotly chart draws the readouts' history."""

import pytest
from lab import jupyterlab, kernel_state, move_slider, run_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

CHAT_DASHBOARD = [
    """import json
from pathlib import Path
import interpwidgets as iw
from interpwidgets.worlds import personas
model, tokenizer = personas.load()
probes = iw.ChatProbes.fit(model, tokenizer, personas.conversations(240, seed=personas.SPLIT_SEEDS["fit"]),
                           personas.attributes())
board = iw.ChatDashboard(model, tokenizer, probes, max_new_tokens=20)
c = board.chat
TRAITS = ["messages", "readout", "readouts", "pins", "compared", "generating", "busy", "error"]
def report(change=None):
    Path("chat_state.json").write_text(json.dumps({k: getattr(c, k) for k in TRAITS}))
c.observe(report, names=TRAITS)
report()
board""",
    "board  # a second view of the same widget",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jupyterlab(tmp_path_factory.mktemp("lab-chat"), {"chat_dashboard": CHAT_DASHBOARD}) as lab:
        yield {**lab, "url": lab["url_of"]("chat_dashboard")}


def _pct(p):
    return f"{round(p * 100)}%"


def test_chat_dashboard_round_trips(lab, browser):
    page = run_notebook(browser, lab["url"], height=2200)
    state = lambda until, timeout=60: kernel_state(lab["root"], until, timeout, "chat_state.json")  # noqa: E731
    state(lambda s: s["error"] == "", 120)
    page.wait_for_function("document.querySelectorAll('.iwchat').length === 2", timeout=90000)
    view = [page.locator(".iwchat").nth(i) for i in (0, 1)]
    # a turn written in view 1 reaches the kernel; both views show it, the reply, and the kernel's numbers
    turn = "Hi! Money is tight this month. I'm in third grade. Can you suggest a gift?"
    view[0].locator(".iwchat-input").fill(turn)
    view[0].locator(".iwchat-input").press("Enter")
    s = state(lambda s: len(s["messages"]) == 2 and len(s["readouts"]) == 2 and not s["busy"], 120)
    assert s["messages"][0] == {"role": "user", "content": turn} and s["messages"][1]["role"] == "assistant"
    for v in view:
        v.locator(".iwchat-msg.assistant", has_text=s["messages"][1]["content"]).wait_for(timeout=20000)
        for name, probs in s["readouts"][-1]["values"].items():  # the readout after the reply
            for value, p in probs.items():
                row = v.locator(f".iwchat-attr[data-attribute='{name}'] .iwchat-row[data-value='{value}']")
                expect(row.locator(".iwchat-pct")).to_have_text(_pct(p), timeout=20000)  # the last readout arrives
    # a pin set in view 2 (strength first, then the value) reaches the kernel; both views outline it
    card = view[1].locator(".iwchat-attr[data-attribute='socioeconomic status']")
    move_slider(page, ".iwchat >> nth=1 >> .iwchat-attr[data-attribute='socioeconomic status'] >> .iwchat-strength", 6)
    card.locator(".iwchat-pin-value").select_option("high")
    s = state(lambda s: s["pins"] == {"socioeconomic status": ["high", 6.0]})
    for v in view:
        pinned = v.locator(".iwchat-attr[data-attribute='socioeconomic status'] .iwchat-row.pinned")
        pinned.wait_for(timeout=20000)
        assert pinned.get_attribute("data-value") == "high"
        assert v.locator(".iwchat-attr.pinned").count() == 1
        menu = v.locator(".iwchat-attr[data-attribute='socioeconomic status'] .iwchat-pin-value")
        assert menu.input_value() == "high"
    # the comparison, from view 1's button: both replies, in both views
    view[0].locator(".iwchat-compare-btn").click()
    s = state(lambda s: bool(s["compared"]) and not s["busy"], 120)
    for v in view:
        v.locator(".iwchat-plain", has_text=s["compared"]["plain"]).wait_for(timeout=20000)
        v.locator(".iwchat-steered", has_text="socioeconomic status = high").wait_for(timeout=20000)
    # a new chat, then "regenerate" with nothing to regenerate: the kernel's message shows; a turn clears it
    view[1].locator(".iwchat-reset").click()
    state(lambda s: s["messages"] == [] and not s["busy"])
    view[1].locator(".iwchat-regenerate").click()
    view[1].locator(".iw-banner:not([hidden])", has_text="say something first").wait_for(timeout=20000)
    s = state(lambda s: "say something first" in s["error"])
    view[1].locator(".iwchat-input").fill("Can you suggest a book?")
    view[1].locator(".iwchat-send").click()
    s = state(lambda s: len(s["messages"]) == 2 and s["error"] == "" and not s["busy"], 120)
    page.wait_for_function("document.querySelectorAll('.iw-banner:not([hidden])').length === 0", timeout=20000)
    # the plotly chart: the history of the readouts
    page.locator(".js-plotly-plot .legendtext", has_text="age: child").first.wait_for(timeout=30000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(lab["root"] / "chat_dashboard.png"), full_page=True)
    page.close()
