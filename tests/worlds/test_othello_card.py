"""The Othello world's card, measured again on the shipped checkpoint, and what it shows of issue 14's
asks: the model names legal moves (the target, top-1 error under 1%, is not reached yet: a strict xfail
that turns red once it is); its board is linear in mine/theirs terms (the linear mine/theirs probe clearly
above the linear black/white one at the best layer, and near the MLP probes), far above the random-init
control; flipping a disc in the model's board by the probe's direction removes legal-set errors against
the flipped board; latent saliency points at the discs the move rests on."""

from __future__ import annotations

import json

import pytest
from cards import assert_close

from interpwidgets.worlds.othello.card import CARD, measure

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured():
    return measure()


@pytest.fixture(scope="module")
def card():
    return json.loads(CARD.read_text())


def test_the_card_is_re_measured(measured, card):
    # the same code on the same weights and games; room for another machine's BLAS in the last digits
    assert_close(measured, card, 0.01, relative=True, skip=("seconds_to_measure",))


@pytest.mark.xfail(strict=True, reason="issue 14's target (top-1 illegal under 1%) is not reached yet: the shipped "
                   "model is at 1.7% [1.5%, 1.8%] after 14,000 steps on CPU; its training goes on (docs/othello.md)")
def test_the_model_names_legal_moves(measured):
    lm = measured["legal_moves"]
    assert lm["top1_illegal"] < 0.01 and lm["hi"] < 0.015 and lm["positions"] > 50_000


def test_the_model_mostly_names_legal_moves(measured):
    lm = measured["legal_moves"]  # what the shipped model does reach, far from a guess among the empty squares
    assert lm["hi"] < 0.02 and lm["positions"] > 50_000


def test_the_board_is_linear_in_mine_theirs_terms(measured):
    p = measured["probes"]
    rel, col = p["trained linear relative"], p["trained linear colour"]
    mlp_rel, mlp_col = p["trained mlp relative"], p["trained mlp colour"]
    assert rel["lo"] > col["hi"] + 0.03  # clearly above black/white, intervals apart
    assert rel["test_accuracy"] > max(mlp_rel["test_accuracy"], mlp_col["test_accuracy"]) - 0.03  # near the MLPs
    assert mlp_col["lo"] > col["hi"] + 0.03  # black/white: an MLP reads what a line does not
    for enc in ("relative", "colour"):
        for kind in ("linear", "mlp"):
            trained, control = p[f"trained {kind} {enc}"], p[f"random_init {kind} {enc}"]
            assert trained["lo"] > control["hi"] + 0.05, (kind, enc)  # far above the random-init control


def test_flipping_the_models_board_removes_errors(measured):
    iv = measured["interventions"]
    assert iv["cases"]["test"] >= 300
    r = iv["vector, linear mine/theirs"]  # the edit that works on this model (the gradient ones: docs/othello.md)
    assert r["errors_removed_paired"]["lo"] > 0  # fewer errors than no edit, interval above zero
    assert r["edit_errors"]["hi"] < r["no_edit_errors"]["lo"]


def test_latent_saliency_finds_the_discs_the_move_rests_on(measured):
    s = measured["latent_saliency"]
    assert s["critical_discs"] >= 20 and s["auroc"] > 0.6
