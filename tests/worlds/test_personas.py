"""The personas world: the generator's ground truth, the tokenizer and template, the training script."""

from __future__ import annotations

import json
import random

import pytest
import torch

from interpwidgets.worlds import personas
from interpwidgets.worlds.personas import data
from interpwidgets.worlds.personas.card import ideal_replies
from interpwidgets.worlds.personas.train import train


def test_conversations_are_seeded_and_end_with_the_user():
    a, b = personas.conversations(20, seed=3), personas.conversations(20, seed=3)
    assert [c.messages for c in a] == [c.messages for c in b]
    assert all(c.messages[-1]["role"] == "user" for c in a)
    assert [c.messages for c in personas.conversations(20, seed=4)] != [c.messages for c in a]


def test_the_halves_share_no_cue_and_a_conversation_keeps_to_one():
    def cues(half):
        return {c for v in data._CUES.values() for pair in v.values() for c in pair[half]} | \
            {n for pair in data._NAMES.values() for n in pair[half]}

    assert not cues(0) & cues(1)
    for half in (0, 1):
        text = " ".join(m["content"] for c in personas.conversations(200, seed=5, half=half) for m in c.messages)
        assert all(c not in text for c in cues(1 - half))
    for c in personas.conversations(100, seed=6):  # drawn half: the user keeps one name
        names = {n for pair in data._NAMES.values() for half in pair for n in half
                 if any(n in m["content"] for m in c.messages if m["role"] == "user")}
        assert len(names) <= 1


def test_a_shown_attribute_is_in_the_users_words():
    rng = random.Random(0)
    for _ in range(200):
        c = data.conversation(rng, turns=(1, 1), half=0, reading=False)
        text = c.messages[-1]["content"]
        for a in c.shown[0] - {"gender"}:
            assert any(cue in text for cue in data._CUES[a][c.labels[a]][0])
        if "gender" in c.shown[0]:
            assert any(n in text for n in data._NAMES[c.labels["gender"]][0])


def test_the_ideal_reply_shows_what_the_user_told_and_nothing_else():
    """Each attribute shows in its own words of the reply, from what the user told; neutral words elsewhere."""
    replies, shows = ideal_replies(400, seed=0)
    for text, show in zip(replies, shows, strict=True):
        ses, edu, age = show["socioeconomic status"], show["education"], show["age"]
        openers = data._OPENERS[edu] if edu != data.UNKNOWN else data._NEUTRAL["education"]
        assert any(text.startswith(o) for o in openers)
        prices = data._PRICES[ses] if ses != data.UNKNOWN else data._NEUTRAL["socioeconomic status"]
        assert any(f" {p} " in text for p in prices)
        items = [i for topic in data.TOPICS.values() for i in topic[1][age]] if age != data.UNKNOWN else \
            [i for pair in data._NEUTRAL["age"].values() for i in pair]
        assert any(i in text for i in items)
        assert any(text.endswith(s) for s in data._SIGN_OFFS[show["persona"]])
    assert {s["age"] for s in shows} == {*data.ATTRIBUTES["age"], data.UNKNOWN}


def test_a_reply_in_a_conversation_shows_only_what_was_told_before_it():
    rng = random.Random(2)
    for _ in range(300):
        c = data.conversation(rng, turns=(2, 3), reading=False)
        replies = [i for i, m in enumerate(c.messages) if m["role"] == "assistant"]
        for k, i in enumerate(replies):
            told = set().union(*c.shown[:k + 1])
            text = c.messages[i]["content"]
            if "socioeconomic status" not in told:
                assert not any(f" {p} " in text for pair in data._PRICES.values() for p in pair)


def test_reading_turns_state_the_truth_of_what_was_told():
    rng = random.Random(1)
    seen = 0
    for _ in range(200):
        c = data.conversation(rng, reading=True)
        last = c.messages[-1]
        if last["role"] != "assistant":  # nothing told yet: no reading turn
            assert not c.known and not c.told("persona")
            continue
        seen += 1
        name = next(a for a in data.ATTRIBUTES if last["content"].startswith(data.reading_phrase(a)))
        assert last["content"] == f"{data.reading_phrase(name)} {c.labels[name]}." and c.told(name)
    assert seen > 150


def test_the_tokenizer_knows_every_word_and_the_template_opens_the_reply():
    tok = personas.build_tokenizer()
    for c in personas.conversations(300, seed=7, reading=None):
        ids = tok(tok.apply_chat_template(c.messages, tokenize=False), add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
    text = tok.apply_chat_template([{"role": "user", "content": "Hi!"}], tokenize=False, add_generation_prompt=True)
    assert text == "<user> Hi! <eot> <assistant>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<user>", "hi", "!", "<eot>", "<assistant>"]
    assert tok.decode(ids, skip_special_tokens=True) == "hi!"
    assert tok("Zebras?", add_special_tokens=False)["input_ids"][0] == tok.unk_token_id


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="unknown attribute values"):
        data.conversation(random.Random(0), labels={"age": "toddler"})
    with pytest.raises(ValueError, match="no attribute 'wealth'"):
        personas.attribute("wealth")


def test_training_runs_resumes_and_refuses_another_recipe(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    state = train(None, work, recipe=dict(steps=4, batch=4, warmup=2), log_every=2, threads=1)
    assert state["step"] == 4 and len(state["losses"]) == 2
    with pytest.raises(ValueError, match="another recipe"):
        train(out, work, recipe=dict(steps=6, batch=4, warmup=2), threads=1)
    again = train(out, work, recipe=dict(steps=4, batch=4, warmup=2), threads=1)  # resumed, done: written out
    assert again["losses"] == state["losses"]
    model, tok = personas.load(out)
    assert json.loads((out / "training_state.json").read_text())["step"] == 4
    assert model.dtype == torch.float32 and tok.chat_template == personas.CHAT_TEMPLATE
