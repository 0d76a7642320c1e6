"""The dashboard's method on tiny models built from configs: texts, probes, readouts, pins, files, errors."""

from __future__ import annotations

import pytest
import torch

import interpwidgets as iw
from interpwidgets.dashboard import Attribute, ChatProbes, ReplyJudge, middle_band
from interpwidgets.dashboard.chat import chat_text, prompt_ids
from interpwidgets.dashboard.method import features
from interpwidgets.worlds import personas
from tests.models import assert_engine_clean, gpt2, llama

TOKENIZER = personas.build_tokenizer()
SES = personas.attribute("socioeconomic status")


def tiny_gpt2():
    return gpt2(vocab_size=len(TOKENIZER), n_positions=256, n_layer=3, pad_token_id=TOKENIZER.pad_token_id)


def tiny_llama():
    return llama(vocab_size=len(TOKENIZER), max_position_embeddings=256, num_hidden_layers=3, hidden_size=48,
                 num_attention_heads=4, num_key_value_heads=2, pad_token_id=TOKENIZER.pad_token_id)


def data(n=60, seed=0):
    return personas.conversations(n, seed=seed)


def test_reading_text_appends_the_phrase_after_the_opened_turn_and_control_ends_at_it():
    chat = data(1)[0].messages
    control = chat_text(TOKENIZER, chat)
    reading = chat_text(TOKENIZER, chat, reading=SES.phrase)
    assert control.endswith("<assistant>")
    assert reading == control + " I think the socioeconomic status of this user is"
    assert personas.attribute("persona").phrase == "I think the persona of this assistant is"


def test_the_probes_read_where_they_say():
    """The reading probe's features are the residual at the phrase's last token, the control probe's at the
    opened turn: equal to a plain forward's at those tokens."""
    model = tiny_gpt2()
    chat = data(1)[0].messages
    texts = {"reading": chat_text(TOKENIZER, chat, reading=SES.phrase), "control": chat_text(TOKENIZER, chat)}
    for kind, text in texts.items():
        X = features(model, TOKENIZER, [chat], SES, kind)
        ids = TOKENIZER(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states
        torch.testing.assert_close(X[0, 1], hidden[2][0, -1], atol=1e-5, rtol=1e-5)


def test_layer_is_chosen_on_the_choose_split_and_test_accuracy_is_reported():
    model = tiny_gpt2()
    probes = ChatProbes.fit(model, TOKENIZER, data(80), [SES], choose=data(40, 1), test=data(40, 2))
    p = probes.reading["socioeconomic status"]
    assert p.layer == max(range(3), key=lambda i: p.accuracy["choose"][i])
    assert len(p.accuracy["test"]) == 3 and set(p.accuracy) == {"fit", "choose", "test"}
    assert probes.control["socioeconomic status"].kind == "control"


def test_a_probe_reads_a_planted_attribute():
    """Features in which one direction carries the value: the probe finds it and the readout follows."""
    g = torch.Generator().manual_seed(0)
    n, d = 300, 16
    y = torch.arange(n) % 3
    X = torch.randn(n, 2, d, generator=g)
    X[:, 1, 0] += 6 * (y - 1).float()  # layer 1 knows the value; layer 0 does not
    from interpwidgets.dashboard.method import AttributeProbes

    res = iw.fit_probes(X, y, split=(torch.arange(200), torch.arange(200, 300)))
    p = AttributeProbes(SES, "reading", res, layer=1)
    assert res.metrics["val_accuracy"][1] > 0.95 > res.metrics["val_accuracy"][0] + 0.4
    probs = p.probabilities(X[200:])
    assert torch.allclose(probs.sum(-1), torch.ones(100))
    assert (probs.argmax(-1) == y[200:]).float().mean() > 0.9


def test_a_pin_moves_its_probe_by_n_logits():
    """direction() is w/|w|^2 of the centred column: adding N of it shifts the value's centred logit by N."""
    model = tiny_gpt2()
    probes = ChatProbes.fit(model, TOKENIZER, data(80), [SES])
    p = probes.control["socioeconomic status"]
    X = features(model, TOKENIZER, [c.messages for c in data(5, 3)], SES, "control")
    for value in SES.values:
        d = p.direction(value, 1)
        z0, z1 = (p.probes.decision(x)[:, 1] for x in (X, X + 3.0 * d))
        shift = (z1 - z1.mean(-1, keepdim=True)) - (z0 - z0.mean(-1, keepdim=True))
        torch.testing.assert_close(shift[:, SES.index(value)], torch.full((5,), 3.0), atol=1e-4, rtol=1e-4)


def test_pins_edit_the_band_at_the_last_position_only():
    model = tiny_gpt2()
    probes = ChatProbes.fit(model, TOKENIZER, data(80), [SES])
    probes.band = [1]
    ids, _ = prompt_ids(model, TOKENIZER, data(1, 4)[0].messages)
    with iw.capture(model, ["layers.0.resid_post", "layers.1.resid_post"]) as plain, torch.no_grad():
        model(ids)
    with probes.steer(model, {"socioeconomic status": ("high", 5.0)}), \
            iw.capture(model, ["layers.0.resid_post", "layers.1.resid_post"]) as steered, torch.no_grad():
        model(ids)
    torch.testing.assert_close(steered["layers.0.resid_post"], plain["layers.0.resid_post"])
    diff = steered["layers.1.resid_post"] - plain["layers.1.resid_post"]
    assert diff[0, :-1].abs().max() == 0
    torch.testing.assert_close(diff[0, -1], 5.0 * probes.control["socioeconomic status"].direction("high", 1),
                               atol=1e-5, rtol=1e-4)
    assert_engine_clean(model)


def test_random_pins_have_the_norm_not_the_direction():
    model = tiny_gpt2()
    probes = ChatProbes.fit(model, TOKENIZER, data(80), [SES])
    real = probes.edits({"socioeconomic status": ("low", 4.0)})
    rand = probes.edits({"socioeconomic status": ("low", 4.0)}, random=True)
    again = probes.edits({"socioeconomic status": ("low", 4.0)}, random=True)
    assert real.keys() == rand.keys() == set(f"layers.{i}.resid_post" for i in middle_band(3))
    for site in real:
        a, b = real[site].vector, rand[site].vector
        torch.testing.assert_close(a.norm(), b.norm())
        assert abs(torch.nn.functional.cosine_similarity(a, b, 0)) < 0.5
        torch.testing.assert_close(b, again[site].vector)  # seeded


def test_middle_band_is_talktuners_share_of_depth():
    assert middle_band(40) == list(range(19, 29))  # TalkTuner edits model.layers[19..28] of Llama-2-13B's 40
    assert middle_band(30) == list(range(14, 22))
    assert middle_band(6) == [3] and middle_band(1) == [0]


def test_a_tiny_llama_with_a_chat_template_runs_the_whole_path():
    model = tiny_llama()
    probes = ChatProbes.fit(model, TOKENIZER, data(60), [SES, personas.attribute("persona")])
    chat = data(1, 5)[0].messages
    read = probes.readout(model, TOKENIZER, chat)
    assert set(read) == {"socioeconomic status", "persona"}
    assert abs(sum(read["persona"].values()) - 1) < 1e-5
    ids, _ = prompt_ids(model, TOKENIZER, chat)
    with probes.steer(model, {"persona": ("pirate", 6.0)}), torch.no_grad():
        steered = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    plain = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert steered.shape == plain.shape and not torch.equal(steered, plain)
    assert_engine_clean(model)


def test_save_and_load_give_the_same_readouts(tmp_path):
    model = tiny_gpt2()
    probes = ChatProbes.fit(model, TOKENIZER, data(60), [SES, personas.attribute("gender")])
    probes.band = [0, 2]
    chat = data(1, 6)[0].messages
    again = ChatProbes.load(probes.save(tmp_path / "p"))
    a, b = again.readout(model, TOKENIZER, chat), probes.readout(model, TOKENIZER, chat)
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k]) for k in a)
    assert again.band == [0, 2] and again.reading["gender"].layer == probes.reading["gender"].layer
    assert set(again.edits({"gender": ("male", 2.0)})) == {"layers.0.resid_post", "layers.2.resid_post"}


def test_a_users_own_attribute_is_added_from_labelled_conversations():
    model = tiny_gpt2()
    convs = data(60)
    probes = ChatProbes()
    mood = Attribute("mood", ("calm", "angry"))
    probes.add(model, TOKENIZER, mood, [c.messages for c in convs], ["calm", "angry"] * 30)
    assert set(probes.readout(model, TOKENIZER, convs[0].messages)["mood"]) == {"calm", "angry"}


@pytest.mark.parametrize("bad, message", [
    (lambda: Attribute("age", ("adult",)), "two or more distinct values"),
    (lambda: Attribute("age", ("a", "a")), "two or more distinct values"),
    (lambda: Attribute("age", ("a", "b"), about="robot"), "about must be"),
])
def test_bad_attributes_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_labels_with_one_value_are_refused():
    model = tiny_gpt2()
    with pytest.raises(ValueError, match="all have the value 'low'"):
        ChatProbes().add(model, TOKENIZER, SES, [c.messages for c in data(20)], ["low"] * 20)
    with pytest.raises(ValueError, match="not a value"):
        ChatProbes().add(model, TOKENIZER, SES, [c.messages for c in data(2)], ["low", "rich"])


def test_probes_of_another_model_are_refused():
    probes = ChatProbes.fit(tiny_gpt2(), TOKENIZER, data(40), [SES])
    with pytest.raises(ValueError, match="hidden size of 48: they were fitted on another model"):
        probes.readout(tiny_llama(), TOKENIZER, data(1)[0].messages)


def test_a_tokenizer_without_a_chat_template_is_refused():
    tok = personas.build_tokenizer()
    tok.chat_template = None
    with pytest.raises(ValueError, match="has no chat template"):
        chat_text(tok, data(1)[0].messages)


@pytest.mark.parametrize("pin, message", [
    ({"socioeconomic status": ("high", 100.0)}, "between -64 and 64"),
    ({"socioeconomic status": ("high", "strong")}, "between -64 and 64"),
    ({"socioeconomic status": ("high", True)}, "between -64 and 64"),
    ({"socioeconomic status": ("rich", 1.0)}, "not a value"),
    ({"wealth": ("high", 1.0)}, "pins can set"),
])
def test_bad_pins_are_refused(pin, message):
    probes = ChatProbes.fit(tiny_gpt2(), TOKENIZER, data(40), [SES])
    with pytest.raises(ValueError, match=message):
        probes.edits(pin)


def test_numpy_and_torch_strengths_are_numbers():
    import numpy as np

    probes = ChatProbes.fit(tiny_gpt2(), TOKENIZER, data(40), [SES])
    assert probes.check_pin("socioeconomic status", "low", np.float32(2.0)) == ("low", 2.0)
    assert probes.check_pin("socioeconomic status", "low", torch.tensor(3.0)) == ("low", 3.0)


def test_empty_probes_say_so():
    with pytest.raises(ValueError, match="read no attribute yet"):
        ChatProbes().readout(tiny_gpt2(), TOKENIZER, data(1)[0].messages)


def test_a_long_conversation_is_cut_from_the_start():
    model = gpt2(vocab_size=len(TOKENIZER), n_positions=64)
    chat = [{"role": "user", "content": "Hi! Can you suggest a gift? " * 12}]
    ids, cut = prompt_ids(model, TOKENIZER, chat, max_new_tokens=16)
    full = TOKENIZER(chat_text(TOKENIZER, chat), add_special_tokens=False)["input_ids"]
    assert ids.shape[1] == 48 and cut == len(full) - 48 > 0
    assert ids[0].tolist() == full[-48:]  # the end kept: the opened assistant turn
    with pytest.raises(ValueError, match="leaves no room"):
        prompt_ids(model, TOKENIZER, chat, max_new_tokens=64)


def test_the_judge_reads_the_words_of_a_reply():
    from interpwidgets.worlds.personas.card import ideal_replies

    values = (*SES.values, "unknown")
    replies, shows = ideal_replies(300, seed=0)
    judge = ReplyJudge.fit(replies, [s["socioeconomic status"] for s in shows], values)
    test, truth = ideal_replies(100, seed=1)
    assert judge.predict(test) == [s["socioeconomic status"] for s in truth]
    assert judge.predict(["Try a luxury teapot. Ahoy!", "How about a simple mug. Have fun!"]) == ["high", "unknown"]
    with pytest.raises(ValueError, match="not among the values"):
        ReplyJudge.fit(["a"], ["rich"], SES.values)
