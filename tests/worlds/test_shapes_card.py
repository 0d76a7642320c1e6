"""The shapes world's card, measured again on the shipped checkpoints, and what it shows of issue 13's
asks: the model reads the shape, not the background; XRAI's and IG's top saliency falls on the object far
above chance (but not *most* of it: about 0.38, see docs/saliency.md); PIC puts XRAI and IG far above random
maps, with intervals (XRAI against IG: a tie here, not the paper's XRAI >= IG); the maps decorrelate as layers
are randomized, the edge control is flagged, and the dummy check finds no attribution where the model cannot
see."""

from __future__ import annotations

import json

import pytest
from cards import assert_close

from interpwidgets.worlds.shapes.card import CARD, measure

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured():
    return measure()


@pytest.fixture(scope="module")
def card():
    return json.loads(CARD.read_text())


def test_the_card_is_re_measured(measured, card):
    # the same code on the same weights; a little room for another machine's BLAS in the 4th decimal
    assert_close(measured, card, 0.01)


def test_the_model_reads_the_shape_and_its_twin_memorised_noise(measured):
    c = measured["classifier"]
    assert c["test_accuracy"]["lo"] > 0.97
    assert c["background_only_accuracy"]["hi"] < 0.4  # at chance (0.25) without the object: no shortcut
    assert c["random_labels"]["memorised_accuracy"]["mean"] > 0.9 and c["random_labels"]["test_accuracy"]["hi"] < 0.4


def test_xrai_and_ig_find_the_object(measured):
    on = measured["on_object"]
    for method in ("XRAI", "IG", "gradient"):
        assert on[method]["lo"] > 3 * on["random"]["hi"], method  # far above chance (the object's share)
    assert abs(on["random"]["mean"] - measured["object_area"]["mean"]) < 0.02  # random maps score the area
    assert measured["ig_steps"]["median_gap_on_choose"][str(measured["ig_steps"]["chosen"])] < 0.05


def test_pic_orders_xrai_ig_then_random(measured):
    p = measured["pic"]
    for kind in ("sic", "aic"):
        for method in ("IG", "XRAI"):  # above random maps, the paired interval clear of zero
            assert p[f"{method} - random {kind}"]["lo"] > 0.1, (method, kind)
        # XRAI against IG: the interval holds zero (a tie); the paper's XRAI > IG is not reproduced here
        assert p[f"XRAI - IG {kind}"]["lo"] < 0 < p[f"XRAI - IG {kind}"]["hi"], kind


def test_the_sanity_checks_pass_and_the_control_is_flagged(measured):
    s = measured["sanity"]
    for method in ("IG", "gradient"):
        r = s["cascading"][method]
        assert not r["flagged"] and r["spearman"][0] == 1.0 and r["spearman"][-1] < s["flag_above"]
    assert s["cascading"]["edges"]["flagged"]
    assert s["random_labels_IG"]["spearman"]["mean"] < 0.5
    assert s["dummy_share_on_hidden_half"]["IG"]["hi"] < 1e-6 and s["dummy_share_on_hidden_half"]["edges"]["lo"] > 0.2
