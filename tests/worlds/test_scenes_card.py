"""The scenes world's shipped checkpoint, re-measured: the model card's numbers are measured again now, from
the same seeds (the estimator in full, the probes of the trained UNet and of the control in full, the first
images generated and edited), compared with the card, and the paper's claims are checked on the new
measurement: the pipeline draws what its prompt names; the probes beat the random-init control; their
quality is high from the first step and plateaus before the last; and, on images drawn from a prompt that
names no place, the edit moves the object (the edited object overlaps the moved mask more than its old
place on most images). With the place in the prompt it does not (docs/scenes.md): there the test
re-measures the card's edits and checks that the edit changes the image. (The Fréchet distance is not
measured again: it needs the card's 200 images and more.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from interpwidgets.worlds import scenes
from interpwidgets.worlds.scenes import card as sc

pytestmark = pytest.mark.slow

# images of the card drawn again (of 200); test edits made again (of 24), prompted and unprompted; choose-split
# edits made again per setting, for two settings
GENERATED, EDITED, UNPROMPTED_EDITED, CHOSEN = 32, 2, 6, 1


@pytest.fixture(scope="module")
def world():
    if not sc.CARD.exists():
        pytest.fail(f"no model card at {sc.CARD}: run `python -m interpwidgets.worlds.scenes.card`")
    pipe, estimator = scenes.load()
    pipe.set_progress_bar_config(disable=True)
    return pipe, estimator, json.loads(sc.CARD.read_text())


@pytest.fixture(scope="module")
def probes_now(world):
    """The card's probe measurement made again: (its summary, the study)."""
    pipe, estimator, card = world
    return sc.probe_metrics(pipe, estimator, sum(card["probes"]["images"].values()))


def test_the_card_is_of_the_shipped_checkpoint(world):
    _, _, card = world
    state = json.loads((sc.CHECKPOINT / "training_state.json").read_text())
    assert not card["quick"] and card["training"]["steps"] == state["steps"]


def test_the_estimator_is_re_measured(world):
    pipe, estimator, card = world
    now = sc.estimator_metrics(pipe, estimator, card["estimator"]["scenes"])
    for part in ("rendered", "vae_reconstructed"):
        for metric, value in card["estimator"][part].items():
            assert now[part][metric]["mean"] == pytest.approx(value["mean"], abs=0.01), (part, metric)
    assert card["estimator"]["vae_reconstructed"]["mask_dice"]["lo"] > 0.8  # the labeller reads drawn images


def test_generated_images_agree_with_their_prompts_as_the_card_says(world):
    """The card's first images drawn again from their seeds: the estimator reads the same attributes, image by
    image; and the drawn objects have the prompt's colour, shape, column and distance far more often than
    chance."""
    from interpwidgets.scenes import run
    from interpwidgets.worlds.scenes.data import dataset

    pipe, estimator, card = world
    g = card["generation"]
    prompts = dataset(g["images"], seed=sc.SEEDS["prompts"])
    images = run(pipe, prompts["prompts"][:GENERATED], steps=sc.STEPS, guidance=sc.GUIDANCE,
                 seed=sc.SEEDS["prompts"]).images
    e = scenes.estimate(estimator, images)
    for k, per_image in g["agree_per_image"].items():
        now = (e[k] == prompts[k][:GENERATED]).astype(int)
        assert (now == np.array(per_image[:GENERATED])).mean() >= 0.95, k  # a reading near a boundary may flip
        assert now.mean() > g["chance"][k] + 0.3, k


def test_the_probes_are_re_measured_and_beat_the_random_init_control(world, probes_now):
    _, _, card = world
    now, _ = probes_now
    for model in ("trained", "random_init"):
        for metric in ("dice", "rmse"):
            for split in ("choose", "test"):  # every layer x step (a near tie may move the chosen cell)
                np.testing.assert_allclose(np.array(now[model][metric][split], float),
                                           np.array(card["probes"][model][metric][split], float), atol=0.01)
            was, got = card["probes"][model][metric]["chosen"], now[model][metric]["chosen"]
            assert got["test"] == pytest.approx(was["test"], abs=0.02), (model, metric)
    # the paired difference per test image, each model at its own choice: the whole interval above zero
    assert now["trained_better_by"]["dice"]["lo"] > 0
    assert now["trained_better_by"]["rmse"]["lo"] > 0


def test_probe_quality_by_step_is_the_cards_high_early_and_plateaus_before_the_last_step(world, probes_now):
    """At the layer chosen on the choose split, the test score by step is the card's; it is high from the
    first step (step 0's Dice at least 70% of the best over steps and above the control's best step by 0.3;
    step 0's RMSE below the control's best), its best is reached (within 0.02) by step 10, two thirds in, and
    it beats the control's at every step."""
    _, _, card = world
    now, _ = probes_now
    by_step, control = now["trained"]["chosen_layer_test_by_step"], now["random_init"]["chosen_layer_test_by_step"]
    for metric in ("dice", "rmse"):
        np.testing.assert_allclose(by_step[metric], card["probes"]["trained"]["chosen_layer_test_by_step"][metric],
                                   atol=0.02)
    dice, rmse = np.array(by_step["dice"]), np.array(by_step["rmse"])
    assert dice[:11].max() >= dice.max() - 0.02 and rmse[:11].min() <= rmse.min() + 0.02
    assert (dice > np.array(control["dice"])).all() and (rmse < np.array(control["rmse"])).all()
    assert dice[0] >= 0.7 * dice.max() and dice[0] > max(control["dice"]) + 0.3
    assert rmse[0] < min(control["rmse"])


def _edits_made_again(pipe, estimator, s, e, choice, edited):
    """The first ``edited`` test edits of a card's ``edit`` made again at the setting it chose, and the first
    CHOSEN choose-split edits of the chosen setting and of another (what the choice was made on), each
    compared with the card's row; the new rows of the test edits."""
    assert (e["steps_edited"], e["layers_edited"]) == (choice["chosen"]["steps"], choice["chosen"]["layers"])
    best = max(choice["settings"], key=lambda x: x["moved_minus_old"])
    assert (best["steps"], best["layers"]) == (e["steps_edited"], e["layers_edited"])
    other = next(x for x in choice["settings"] if x is not best)
    redo = [(row, e["steps_edited"], e["layers_edited"]) for row in e["rows"][:edited]]
    redo += [(row, x["steps"], x["layers"]) for x in (best, other) for row in x["rows"][:CHOSEN]]
    rows = []
    for row, steps, layers in redo:
        now = sc.edit_row(pipe, estimator, s, row["image"], e["shift_px"], steps, layers)
        rows.append(now)
        assert now["dx"] == row["dx"]
        for k in ("dice_target", "dice_old", "disparity_after"):
            if k in row:
                assert now[k] == pytest.approx(row[k], abs=0.05), (row["image"], steps, layers, k)
    return rows[:len(e["rows"][:edited])]


def test_the_edits_are_the_cards(world, probes_now):
    """The card's first edits made again (:func:`_edits_made_again`) give its scores: the object's Dice with
    the moved mask and with its old place, and the estimator's disparity of it after. The edit changes the
    image (unedited, the object's Dice with its old place is 1: the same seed draws the same image), but it
    does not move the object: with the prompt's place named, each edited object still overlaps its old
    place more than the moved mask (docs/scenes.md). (Of the choice itself, 2 of its 96 edits are made
    again, so a wrong choice would show only through them.)"""
    pipe, estimator, card = world
    _, s = probes_now
    rows = _edits_made_again(pipe, estimator, s, card["edit"], card["edit_choice"], EDITED)
    assert np.mean([r["dice_old"] for r in rows]) < 0.97
    assert all(r["dice_target"] < r["dice_old"] for r in rows)


def test_without_a_place_in_the_prompt_the_edit_moves_the_object(world):
    """On images drawn from the empty prompt, the card's edits made again give its scores, and the paper's
    claim holds on them: the edited object overlaps the moved mask more than its old place on most of the
    images edited again (6 of the card's 24 test edits), and on the card's test images as a whole (read from
    the card, whose rows these re-measure: the interval of the mean difference above zero)."""
    pipe, estimator, card = world
    u = card["unprompted_edit"]
    s = sc.unprompted_study(pipe, estimator, sum(u["images"].values()))
    rows = _edits_made_again(pipe, estimator, s, u["edit"], u["edit_choice"], UNPROMPTED_EDITED)
    assert np.mean([r["dice_target"] > r["dice_old"] for r in rows]) > 0.5
    assert np.mean([r["dice_target"] - r["dice_old"] for r in rows]) > 0.1
    assert u["edit"]["moved_minus_old"]["lo"] > 0 and u["edit"]["share_closer_to_moved"]["mean"] > 0.5
