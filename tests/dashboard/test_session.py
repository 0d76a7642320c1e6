"""ChatSession (tiny models): turns, readouts and pins, comparison, files, errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from interpwidgets.dashboard import ChatProbes, ChatSession
from interpwidgets.widgets.jobs import Cancelled
from interpwidgets.worlds import personas
from tests.dashboard.test_method import SES, TOKENIZER, data, tiny_gpt2
from tests.models import assert_engine_clean, gpt2

TURN = "Hi! Money is tight this month. Can you suggest a gift?"


@pytest.fixture(scope="module")
def setup():
    model = tiny_gpt2()
    probes = ChatProbes.fit(model, TOKENIZER, data(80), [SES, personas.attribute("persona")])
    return model, probes


def session(setup, **kw):
    model, probes = setup
    return ChatSession(model, TOKENIZER, probes, max_new_tokens=6, **kw)


def test_turns_are_read_out_and_the_reply_streams(setup):
    s = session(setup)
    s.say(TURN)
    seen = []
    reply = s.generate(on_tokens=seen.append)
    assert [m["role"] for m in s.messages] == ["user", "assistant"] and s.messages[1]["content"] == reply
    assert [r["after"] for r in s.readouts] == ["user", "assistant"] and s.readouts[0]["turn"] == 1
    assert seen and "".join(seen[-1]).strip() == reply
    assert set(s.readouts[0]["values"]) == {"socioeconomic status", "persona"}
    with pytest.raises(ValueError, match="replies to a user's turn"):
        s.generate()


def test_readouts_read_the_conversation_without_the_pins(setup):
    """A readout is the same with a pin on; so is one taken between two tokens of a pinned reply (on a thread
    the reply's pins do not reach), where a read on the reply's own thread would be edited."""
    model, probes = setup
    mine = ChatProbes(dict(probes.reading), probes.control, band=[1])
    mine.reading["socioeconomic status"] = replace(probes.reading["socioeconomic status"], layer=2)  # after the band
    s = ChatSession(model, TOKENIZER, mine, max_new_tokens=4)
    s.say(TURN)
    plain = s.read()
    s.pin("socioeconomic status", "high", 30.0)
    assert s.read() == plain
    during = []
    reply = s.generate(on_readout=during.append)
    assert len(during) >= 1
    s.undo()
    assert during[-1] == mine.readout(model, TOKENIZER, s.messages, reply=reply)
    with mine.steer(model, s.pins):  # what the same read on the reply's thread would have shown
        edited = mine.readout(model, TOKENIZER, s.messages, reply=reply)
    assert edited["socioeconomic status"] != during[-1]["socioeconomic status"]
    assert_engine_clean(model)


def test_compare_writes_both_replies_and_leaves_the_conversation(setup):
    s = session(setup)
    s.say(TURN)
    s.pin("persona", "pirate", 20.0)
    before = json.dumps(s.export())
    both = s.compare()
    assert json.dumps(s.export()) == before
    reply = s.generate()
    assert both["steered"] == reply and both["pins"] == {"persona": ["pirate", 20.0]}
    s.undo()
    s.unpin()
    assert both["plain"] == s.generate()


def test_export_and_restore_and_a_bad_file_changes_nothing(setup, tmp_path):
    s = session(setup)
    s.say(TURN)
    s.generate()
    s.pin("persona", "formal", 3.0)
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(s.export()))
    other = session(setup)
    other.restore(path)
    assert other.export() == s.export()
    state = other.export()
    more = state["messages"] + [{"role": "user", "content": "and one more thing"}]  # a partial take would show
    for bad in ({"format": "x"}, {**state, "messages": more, "pins": {"persona": ["robot", 1.0]}},
                {**state, "messages": more, "pins": {"persona": "pirate"}},
                {**state, "messages": [{"role": "king", "content": "hi"}]},
                {**state, "messages": more, "max_new_tokens": "lots"},
                {**state, "messages": more, "readouts": [{"values": {"wealth": {}}}]},
                {**state, "messages": more, "readouts": [{"after": "user", "values": {"persona": {}}}]}):
        with pytest.raises(ValueError):
            other.restore(bad)
        assert other.export() == state


def test_a_long_chat_is_cut_and_says_so():
    model = gpt2(vocab_size=len(TOKENIZER), n_positions=64, n_layer=3)
    probes = ChatProbes.fit(model, TOKENIZER, data(40, 7), [SES])
    s = ChatSession(model, TOKENIZER, probes, max_new_tokens=8)
    s.say(TURN * 4)
    s.generate()
    assert s.truncated > 0


def test_a_stopped_generation_ends_at_once(setup):
    s = session(setup)
    s.say(TURN)

    def stop():
        raise Cancelled

    with pytest.raises(Cancelled):
        s.generate(check=stop)
    assert [m["role"] for m in s.messages] == ["user"]
    assert_engine_clean(setup[0])


def test_bad_pins_and_turns_are_refused(setup):
    s = session(setup)
    with pytest.raises(ValueError, match="between -64 and 64"):
        s.pin("persona", "pirate", 65)
    with pytest.raises(ValueError, match="needs some text"):
        s.say("   ")
    with pytest.raises(ValueError, match="pins can set"):
        ChatSession(setup[0], TOKENIZER, setup[1], pins={"age": ("child", 1.0)})
    assert s.pins == {}
