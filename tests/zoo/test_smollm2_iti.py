"""The SmolLM2 ITI study's card (``interpwidgets/zoo/cards/smollm2_iti.json``), re-measured where it is
cheap: the probes fitted on the fit questions, the test split's MC1 unedited and under each truth
direction's chosen edit, and that edit's KL on the test split's text. The docs quote the card."""

import json

import models
import pytest
import torch

import interpwidgets as iw
from interpwidgets.iti.metrics import edit_costs
from interpwidgets.zoo import smollm2_iti as study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run():
    model, tok = models.smollm2()
    card = json.loads(study.CARD.read_text())
    fit, _, test = study.split(iw.datasets.misconceptions(), card["protocol"]["split_seed"])
    texts, labels, groups = study.labelled_answers(tok, fit)
    acts, stack = iw.ITI.activations(model, texts, tokenizer=tok, progress=False)
    iti = iw.ITI.from_activations(acts, labels, groups=groups, k=1, seed=card["protocol"]["split_seed"],
                                  stack=stack, progress=False)
    mc = study.multiple_choice(model, tok, test)  # its prompts are read once, for every test below
    plain = torch.tensor([float(yes[0] - no[0]) for yes, no in mc.log_likelihoods()])  # true minus false, unedited
    return {"model": model, "tok": tok, "card": card, "test": test, "iti": iti, "mc": mc, "plain": plain}


def test_the_probes_are_the_cards(run):
    probes, card = run["iti"].probes, run["card"]["probes"]
    assert [list(h) for h in probes.top(8, "val_accuracy")] == card["best_heads"]
    acc = probes.metrics["val_accuracy"].flatten().sort(descending=True).values
    assert acc[:8].tolist() == pytest.approx(card["best"], abs=1e-4)
    assert float(acc.median()) == pytest.approx(card["median"], abs=1e-4)
    assert len(acc) == card["heads"] == 270


def test_the_test_split_is_scored_as_the_card_says(run):
    model, tok, card = run["model"], run["tok"], run["card"]
    mc = run["mc"]
    assert (run["plain"] > 0).double().mean().item() == pytest.approx(
        card["test"]["mass_mean"]["draws"][0]["curve"]["truth"][0], abs=1e-4)  # unedited (the card rounds)
    draw = card["test"]["probe"]["draws"][0]  # the chosen edit that moved MC1 most
    curve, chosen = draw["curve"], draw["chosen"]
    iti = run["iti"].select(k=chosen["k"], kind="probe")
    assert [list(h) for h in iti.heads] == draw["heads"]
    at = curve["alpha"].index(chosen["alpha"])
    # one question's worth: a near-tie may fall the other way after a change in summation order
    one = 1 / len(run["test"]) + 1e-4
    assert mc.mc1(iti, chosen["alpha"]).mean() == pytest.approx(curve["truth"][at], abs=one)
    kl = edit_costs(model, iti, study.cost_texts("test"), [chosen["alpha"]], tokenizer=tok, progress=False)["kl"]
    assert kl[0] == pytest.approx(curve["kl"][at], rel=0.02, abs=1e-4)
    models.assert_engine_clean(model)


def test_the_papers_fixed_setting_is_the_cards(run):
    """A near-tie may flip one question's MC1, so the edit is also checked on the continuous margin, true
    minus false answer, whose mean shift the card records."""
    fixed = run["card"]["fixed_settings"]["mass_mean/K48/alpha15"]

    plain = run["plain"]
    scores = run["mc"].log_likelihoods(run["iti"].select(k=48), 15.0)
    edited = torch.tensor([float(yes[0] - no[0]) for yes, no in scores])
    assert (edited > 0).double().mean().item() == pytest.approx(fixed["mc1_sum"], abs=1 / len(run["test"]) + 1e-4)
    assert (edited - plain).mean().item() == pytest.approx(fixed["margin_shift_sum"], rel=0.02)
    assert plain.median().item() == pytest.approx(run["card"]["fixed_settings"]["unedited"]["median_margin_sum"],
                                                  abs=0.01)
