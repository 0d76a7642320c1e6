"""The dashboard's real-model path on SmolLM2-135M-Instruct: its chat template, probes fitted on the
personas generator's first-half conversations and scored on second-half ones, readouts, and a pin that
changes what it writes. (The full study, ``python -m interpwidgets.zoo.smollm2_dashboard``, takes half an
hour.)"""

import models
import pytest

from interpwidgets.dashboard import ChatProbes, ChatSession
from interpwidgets.dashboard.chat import chat_text
from interpwidgets.worlds import personas
from interpwidgets.zoo import smollm2_dashboard as study

pytestmark = pytest.mark.slow

SES = personas.attribute("socioeconomic status")


@pytest.fixture(scope="module")
def fitted():
    model, tok = models.smollm2()
    fit = personas.conversations(40, seed=personas.SPLIT_SEEDS["fit"], half=0, turns=(1, 1))
    test = personas.conversations(24, seed=personas.SPLIT_SEEDS["test"], half=1, turns=(1, 1))
    return model, tok, ChatProbes.fit(model, tok, fit, [SES], test=test)


def test_the_reading_phrase_follows_smollm2s_opened_turn():
    _, tok = models.smollm2()
    text = chat_text(tok, [{"role": "user", "content": "Hi!"}], reading=SES.phrase)
    assert text.endswith("<|im_start|>assistant\nI think the socioeconomic status of this user is")


def test_probes_and_readouts_run_on_smollm2(fitted):
    model, tok, probes = fitted
    p = probes.reading["socioeconomic status"]
    assert p.n_layers == 30 and p.hidden_size == 576 and len(p.accuracy["test"]) == 30
    read = probes.readout(model, tok, [{"role": "user", "content": "Money is no object. Can you suggest a gift?"}])
    assert sum(read["socioeconomic status"].values()) == pytest.approx(1, abs=1e-5)
    models.assert_engine_clean(model)


def test_a_pin_changes_what_smollm2_writes(fitted):
    model, tok, probes = fitted
    chat = ChatSession(model, tok, probes, messages=study.requests()[0], max_new_tokens=12)
    chat.pin("socioeconomic status", "high", 16.0)
    both = chat.compare()
    assert both["plain"] and both["steered"] != both["plain"]
    models.assert_engine_clean(model)
