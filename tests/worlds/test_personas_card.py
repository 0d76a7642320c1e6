"""The personas world's card, measured again on the shipped chat LM, and what it shows of issue 15's asks:
probes read every attribute that shapes a reply far above chance where the conversation told it (and no
better than chance where it did not: nothing can), more so with depth; gender, which shapes nothing, is not
read (a strict xfail); pins do not steer this model (a strict xfail: the claim is not met), nor do random
directions of the same norms."""

from __future__ import annotations

import json

import pytest
from cards import assert_close

from interpwidgets.worlds.personas.card import CARD, STEERED, measure

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured():
    return measure(progress=False)


@pytest.fixture(scope="module")
def card():
    return json.loads(CARD.read_text())


def test_the_card_is_re_measured(measured, card):
    # the same code on the same weights and conversations; room for another machine's BLAS to flip a reply or
    # a conversation's probe verdict (one of 60 conversations x 3 values is 0.006)
    assert_close(measured, {k: card[k] for k in measured}, 0.02, skip=("seconds", "examples"))


SHAPED = ("age", "socioeconomic status", "education", "persona")  # what the replies depend on


def test_probes_read_every_attribute_that_shapes_a_reply_where_it_was_told(measured):
    for name in SHAPED:
        row = measured["probes"][name]
        p = row["reading"]
        assert p["lo"] > row["chance"] + 0.2, name  # over every test conversation
        assert p["told"]["test"] > row["chance"] + 0.6, name  # where the conversation told it
        assert abs(p["not_told"]["test"] - row["chance"]) < 0.15, name  # where nothing could


@pytest.mark.xfail(strict=True, reason="issue 15's claim for every attribute is not met for gender: nothing the "
                   "toy model predicts depends on it (names only, and few reading turns), and it does not "
                   "represent it (reading probe 55% where told, chance 50%; the model's own words 56%)")
def test_probes_read_gender_where_it_was_told(measured):
    row = measured["probes"]["gender"]
    assert row["reading"]["told"]["test"] > row["chance"] + 0.2


def test_probe_accuracy_rises_with_depth(measured):
    for name in SHAPED:
        acc = measured["probes"][name]["reading"]["per_layer_test"]
        assert max(acc[len(acc) // 2:]) > acc[0] + 0.15, name


@pytest.mark.xfail(strict=True, reason="issue 15's steering claim is not met on the first shipped model: TalkTuner's "
                   "pin (the control probe's direction at the last position of the middle band) moves no reply "
                   "towards the pinned value at N up to 8, nor do wider bands, every position or the reading "
                   "probe's direction (docs/dashboard.md)")
def test_pins_steer_more_as_n_grows(measured):
    for name in STEERED:
        probe = measured["steering"][name]["probe"]
        assert probe["lo"][-1] > probe["hi"][0] and probe["success"][-1] > probe["success"][1] + 0.1, name


def test_random_directions_do_not_steer(measured):
    for name in STEERED:
        rand = measured["steering"][name]["random"]
        assert rand["success"][-1] < rand["success"][0] + 0.15, name


def test_the_judges_read_the_replies(measured):
    assert min(measured["judges"].values()) > 0.95
