"""The truthful world's shipped GPT, re-measured on held-out questions: it lies when asked cold, reads the
persona from the context, and ITI makes it truthful the way the paper found (mass-mean ahead of probe
weights ahead of random, random at the baseline), at a cost that grows with alpha."""

import json

import pytest
import torch

import interpwidgets as iw
from interpwidgets.worlds import truthful
from interpwidgets.worlds.truthful.evaluate import ITI_K, world_metrics
from interpwidgets.worlds.truthful.train import build_model, train


@pytest.fixture(scope="module")
def world():
    return truthful.load()


@pytest.fixture(scope="module")
def card():
    return json.loads((truthful.CHECKPOINT / "model_card.json").read_text())


@pytest.fixture(scope="module")
def curves(world):
    return truthful.iti_curves(*world)


def test_the_card_is_reproduced(world, card, curves):
    metrics = world_metrics(*world, world[2].test)
    for situation in ("cold", "after_truthful_answers", "after_untruthful_answers"):
        for answer, share in card["metrics_held_out"][situation].items():
            assert metrics[situation][answer] == pytest.approx(share, abs=0.02), (situation, answer)
    assert metrics["document_loss"] == pytest.approx(card["metrics_held_out"]["document_loss"], abs=0.01)
    for kind, rates in card["iti_held_out"]["truth"].items():
        assert curves["truth"][kind] == pytest.approx(rates, abs=0.04), kind
    assert curves["heads"] == card["iti_held_out"]["heads"]


def test_the_model_lies_cold_and_reads_the_persona(world):
    m = world_metrics(*world, world[2].test)
    assert m["cold"]["misconception"] >= 0.9
    assert m["after_truthful_answers"]["true"] >= 0.9
    assert m["after_untruthful_answers"]["misconception"] >= 0.9


def test_truth_is_readable_in_a_minority_of_heads_and_not_at_random_init(world, curves):
    acc = curves["probe_val_accuracy"]
    assert acc["top"][0] >= 0.85 and acc["heads_above_0.7"] <= acc["heads"] // 3 and acc["median"] < 0.65
    model, tokenizer, w = world
    texts, labels, groups = truthful.labelled_answers(w.train)
    control = iw.ITI.fit(build_model(tokenizer, seed=1).eval(), texts, labels, tokenizer=tokenizer, groups=groups,
                         k=ITI_K, progress=False)
    assert control.probes.metrics["val_accuracy"].max() < acc["top"][0] - 0.15


def test_iti_ordering_and_trends(curves):
    alpha, truth = curves["alpha"], curves["truth"]
    mm, probe, rand = truth["mass_mean"], truth["probe"], truth["random"]
    assert alpha[0] == 0 and mm[0] == probe[0] == rand[0] <= 0.05  # the baseline: almost every answer false
    upto = alpha.index(6.0)
    # the mass-mean edit makes answers true as alpha grows (then over-steers: noted in docs/iti.md)
    assert all(b >= a - 0.02 for a, b in zip(mm[:upto + 1], mm[1:upto + 1], strict=False)) and mm[upto] >= 0.8
    assert all(b >= a - 0.02 for a, b in zip(probe, probe[1:], strict=False)) and probe[-1] >= 0.5
    for i in range(1, upto + 1):  # mass-mean ahead of probe weights ahead of random
        assert mm[i] >= probe[i] >= rand[i]
    assert sum(mm[1:upto + 1]) > sum(probe[1:upto + 1]) + 1.0
    assert max(rand) <= 0.1  # random directions on the same heads stay at the baseline
    for cost in ("cross_entropy", "kl"):
        c = curves[cost]
        assert all(b > a for a, b in zip(c, c[1:], strict=False)), cost  # rises with alpha
    assert curves["kl"][0] == 0.0


def test_training_runs_and_resumes(tmp_path, capsys, monkeypatch):
    from interpwidgets.worlds.truthful import train as train_module

    real_batch, calls = train_module.batch, []

    def killed_at_step_3(*args, **kwargs):  # the session ends after step 2's checkpoint
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(train_module, "batch", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(3, tmp_path / "work", None, batch_size=4, log_every=1, save_every=1)
    assert torch.load(tmp_path / "work" / "state.pt", weights_only=False)["step"] == 2
    card = train(3, tmp_path / "work", tmp_path / "out", batch_size=4, log_every=1, save_every=1)
    assert "resumed at step 2" in capsys.readouterr().out and len(calls) == 4  # one more step, not three
    assert card["training"]["steps"] == 3 and set(card["iti_held_out"]["truth"]) == {"mass_mean", "probe", "random"}
    model, _, world = truthful.load(tmp_path / "out")  # what train.py writes is what load() reads
    assert next(model.parameters()).dtype == torch.float32
    assert world.truthful_share == card["world"]["truthful_share_of_documents"]


def test_the_view_shows_the_lie_and_the_edited_truth(world):
    model, tokenizer, w = world
    iti = truthful.fit_iti(model, tokenizer, w)
    prompts = ["<bos> " + truthful.qa(q) for q in w.test[:8]]
    view = iw.ITIView(model, tokenizer, iti, prompts, alpha=6.0, max_new_tokens=2, background=False)
    flips = 0
    for i, q in enumerate(w.test[:8]):
        view.prompt_index = i
        view.wait()
        assert view.plain_tokens == [f" {q.false}", " ."]  # words keep their spaces as they stream
        flips += view.edited_tokens[0] == f" {q.true}"
    assert flips >= 6
