"""ChatDashboard in Python (tiny models, no browser): turns and readouts reach the traits and the plotly
history, requests from the view, a refused pin that changes nothing, live readouts, a stopped reply's
notice, export and restore."""

from __future__ import annotations

import pytest

import interpwidgets as iw
from interpwidgets.dashboard import ChatProbes
from interpwidgets.widgets.jobs import Cancelled, Run
from interpwidgets.worlds import personas
from tests.dashboard.test_method import SES, TOKENIZER, data, tiny_gpt2

TURN = "Hi! Money is tight this month. Can you suggest a gift?"


@pytest.fixture(scope="module")
def setup():
    model = tiny_gpt2()
    return model, ChatProbes.fit(model, TOKENIZER, data(80), [SES, personas.attribute("persona")])


def board(setup, **kw):
    model, probes = setup
    return iw.ChatDashboard(model, TOKENIZER, probes, max_new_tokens=5, background=False, **kw)


def test_a_turn_reaches_the_traits_and_the_history(setup):
    b = board(setup)
    b.say(TURN)
    c = b.chat
    assert [m["role"] for m in c.messages] == ["user", "assistant"] and c.messages[0]["content"] == TURN
    assert [r["after"] for r in c.readouts] == ["user", "assistant"] and c.readout == c.readouts[-1]["values"]
    assert c.attributes[0]["name"] == "socioeconomic status" and c.attributes[0]["split"] == "choose"
    traces = {t.name: t for t in b.figure.data}
    assert set(traces) == {f"socioeconomic status: {v}" for v in SES.values} | \
        {f"persona: {v}" for v in personas.ATTRIBUTES["persona"]}
    assert list(traces["socioeconomic status: high"].y) == [r["values"]["socioeconomic status"]["high"]
                                                             for r in c.readouts]
    assert list(traces["persona: pirate"].x) == [1, 1.5]  # after the user's turn 1, after the reply to it


def test_the_views_requests_pin_and_a_refused_one_changes_nothing(setup):
    b = board(setup)
    c = b.chat
    reply, _ = c._respond("pin", {"attribute": "persona", "value": "pirate", "strength": 6.0})
    assert "error" not in reply and c.pins == {"persona": ["pirate", 6.0]}
    reply, _ = c._respond("pin", {"attribute": "persona", "value": "robot", "strength": 6.0})
    assert "not a value of 'persona'" in reply["error"] and "not a value" in c.error
    assert c.pins == {"persona": ["pirate", 6.0]}
    c._respond("pin", {"attribute": "persona", "value": "formal", "strength": 2.0})
    assert c.error == "" and c.pins == {"persona": ["formal", 2.0]}
    c._respond("unpin", {"attribute": "persona"})
    assert c.pins == {}


def test_compare_shows_both_replies_and_keeps_the_chat(setup):
    b = board(setup, pins={"persona": ("pirate", 20.0)})
    b.say(TURN)
    before = b.chat.messages
    b.chat._respond("compare", {})
    assert b.chat.messages == before and set(b.chat.compared) == {"plain", "steered", "pins", "turn"}
    assert b.chat.compared["steered"] == b.chat.session.compare()["steered"]


def test_live_readouts_follow_every_token(setup):
    for live in (False, True):
        b = board(setup, live=live)
        readouts, pieces = [], []
        b.chat.observe(lambda ch, seen=readouts: seen.append(ch["new"]), names=["readout"])
        b.chat.observe(lambda ch, seen=pieces: seen.append(ch["new"]) if ch["new"] else None, names=["reply"])
        b.say("Hi! Money is tight this month.")
        assert pieces  # the reply streamed
        assert len(readouts) == 2 + (len(pieces) if live else 0)  # after the turn, each token, the reply


def test_a_stopped_reply_says_so(setup):
    b = board(setup)
    b.chat.session.say(TURN)
    run = Run(b.chat._job)
    run.stop.set()
    with pytest.raises(Cancelled):
        b.chat._reply_work(run)
    assert "stopped" in b.chat.notice and not b.chat.generating
    b.chat.regenerate()
    assert b.chat.notice == "" and b.chat.messages[-1]["role"] == "assistant"


def test_export_restore_and_a_bad_file_is_refused_at_once(setup, tmp_path):
    b = board(setup, pins={"persona": ("formal", 3.0)})
    b.say(TURN)
    state = b.export(tmp_path / "chat.json")
    other = board(setup)
    other.restore(tmp_path / "chat.json")
    assert other.chat.messages == b.chat.messages and other.chat.pins == b.chat.pins
    assert other.chat.readouts == b.chat.readouts and len(other.figure.data[0].y) == 2
    with pytest.raises(ValueError, match="max_new_tokens"):
        other.restore({**state, "max_new_tokens": "lots"})
    assert other.export() == state
    with pytest.raises(ValueError, match="say something first"):
        board(setup).compare()
