"""The shapes world's model card: what the shipped CNN learned, and what each saliency method shows of it,
measured on the test split (never trained or chosen on), with 95% bootstrap intervals over images.

``python -m interpwidgets.worlds.shapes.card`` writes ``checkpoint/model_card.json``.

1. **The classifier**: test accuracy; the accuracy on the same images with the object removed (the
   background alone: at chance if the model reads the shape and not a shortcut); the random-label twin's
   accuracy on the images it memorised and on the test images.
2. **The methods**, for each image's true class: IG (black and white baselines averaged, the XRAI paper's
   choice), XRAI built on that same IG (so the two differ only in how pixels are grouped: matched cost), the
   plain gradient (on the object only), and random maps. IG's step count is chosen on the choose split: the fewest of
   ``STEP_CHOICES`` whose median completeness gap is under ``GAP_TOLERANCE``.
   - *On the object*: the share of a map's top ``k`` pixels on the object, ``k`` the object's area (1 is a
     map that finds the object exactly; random maps score the object's share of the image).
   - *PIC*: SIC and AIC AUCs of the median curves; the paired differences XRAI - IG and IG - random.
   - *Sanity*: the cascading randomization of every layer from the top (IG and gradient; Spearman and SSIM
     against the trained model's maps), the edge-detector control that the check must flag, the random-label
     twin's IG maps against the model's, and the dummy check (:func:`interpwidgets.saliency.dummy_check`).
"""

from __future__ import annotations

import json

import numpy as np

from ...saliency import (
    cascading_randomization,
    compare_models,
    dummy_check,
    edges,
    integrated_gradients,
    pic,
    random_maps,
    vanilla_gradient,
    xrai,
)
from ...saliency.sanity import FLAG
from ...stats import interval
from . import CHECKPOINT, RANDOM_LABELS, load
from .data import CLASSES, dataset
from .train import RECIPE

__all__ = ["CARD", "COUNTS", "STEP_CHOICES", "GAP_TOLERANCE", "on_object", "choose_steps", "measure"]

CARD = CHECKPOINT / "model_card.json"
COUNTS = {"accuracy": 1000, "saliency": 40, "choose": 30, "sanity": 8}  # images for each part (PIC is the slow one)
STEP_CHOICES = (8, 16, 32, 64)
GAP_TOLERANCE = 0.05  # |sum of attributions - (score - baseline score)| / |score - baseline score|
BASELINES = ("black", "white")


def on_object(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image, the share of the map's top ``k`` pixels that lie on the object (``k`` its area). Pixels tied
    at the ``k``-th value (XRAI's maps are constant over each region) count in proportion, as the expected
    share when the tie is broken at random."""
    maps, masks = np.asarray(maps), np.asarray(masks, bool)
    out = []
    for m, mask in zip(maps.reshape(len(maps), -1), masks.reshape(len(masks), -1), strict=True):
        k = int(mask.sum())
        v = np.sort(m)[-k]  # the k-th largest value
        above, tied = m > v, m == v
        share_of_tied = (k - above.sum()) / tied.sum()
        out.append((mask[above].sum() + share_of_tied * mask[tied].sum()) / k)
    return np.array(out)


def choose_steps(clf, progress: bool = False) -> tuple[int, dict]:
    """IG's step count, chosen on the choose split (see the module's note), and each choice's median gap."""
    d = dataset(COUNTS["choose"], "choose")
    gaps = {}
    for steps in STEP_CHOICES:
        ig = integrated_gradients(clf, d["images"], d["labels"], baselines=BASELINES, steps=steps, progress=progress)
        gaps[str(steps)] = round(float(np.median(np.abs(ig.gap))), 4)  # (str keys: as the card's JSON has them)
    chosen = next((s for s in STEP_CHOICES if gaps[str(s)] < GAP_TOLERANCE), STEP_CHOICES[-1])
    return chosen, gaps


def _classifier_metrics(clf, twin) -> dict:
    d = dataset(COUNTS["accuracy"], "test")
    right = clf.predict(d["images"]).argmax(-1) == d["labels"]
    shortcut = clf.predict(d["backgrounds"]).argmax(-1) == d["labels"]
    memorised = dataset(RECIPE["random_images"], "fit")
    shuffled = np.random.default_rng(RECIPE["seed"] + 1).permutation(memorised["labels"])  # as train.py shuffles
    return {"test_accuracy": interval(right), "background_only_accuracy": interval(shortcut),
            "chance": 1 / len(CLASSES),
            "random_labels": {"memorised_accuracy": interval(twin.predict(memorised["images"]).argmax(-1) == shuffled),
                              "test_accuracy": interval(twin.predict(d["images"]).argmax(-1) == d["labels"])}}


def measure(progress: bool = False) -> dict:
    """Every number of the card, measured now on the shipped checkpoints."""
    clf, twin = load(), load(RANDOM_LABELS)
    card = {"classifier": _classifier_metrics(clf, twin)}
    steps, gaps = choose_steps(clf, progress)
    card["ig_steps"] = {"chosen": steps, "median_gap_on_choose": gaps, "tolerance": GAP_TOLERANCE}

    d = dataset(COUNTS["saliency"], "test")
    pictures, labels, masks = d["images"], d["labels"], d["masks"]
    ig = integrated_gradients(clf, pictures, labels, baselines=BASELINES, steps=steps, progress=progress)
    regions = xrai(clf, pictures, labels, base=ig, progress=progress)
    maps = {"XRAI": np.stack([r.attribution for r in regions]), "IG": ig.maps(),
            "random": random_maps(len(pictures), clf.size, seed=1)}
    gradient = vanilla_gradient(clf, pictures, labels, progress=progress).maps()
    share = {name: on_object(m, masks) for name, m in {**maps, "gradient": gradient}.items()}
    card["test_gap"] = {"median_abs": round(float(np.median(np.abs(ig.gap))), 4)}
    card["on_object"] = {name: interval(v) for name, v in share.items()}
    card["on_object"]["XRAI - IG"] = interval(share["XRAI"] - share["IG"])
    card["object_area"] = interval(masks.reshape(len(masks), -1).mean(1))

    result = pic(clf, pictures, maps, labels, progress=progress)
    card["pic"] = {"table": result.table(), "skipped": {k: len(v) for k, v in result.skipped.items()}}
    for a, b in (("XRAI", "IG"), ("IG", "random"), ("XRAI", "random")):
        for kind in ("sic", "aic"):
            v, lo, hi = result.interval(a, kind, other=b)
            card["pic"][f"{a} - {b} {kind}"] = {"mean": round(v, 4), "lo": round(lo, 4), "hi": round(hi, 4)}

    few = slice(0, COUNTS["sanity"])
    def ig_maps(c, p, t):
        return integrated_gradients(c, p, t, baselines=BASELINES, steps=steps, progress=False).maps()

    def grad_maps(c, p, t):
        return vanilla_gradient(c, p, t, progress=False).maps()

    sanity = {name: cascading_randomization(clf, pictures[few], fn, labels[few], name=name,
                                            progress=progress).summary()
              for name, fn in (("IG", ig_maps), ("gradient", grad_maps), ("edges", edges))}
    rho, ssim = compare_models(clf, twin, pictures[few], ig_maps, labels[few])
    card["sanity"] = {"flag_above": FLAG, "cascading": sanity,
                      "random_labels_IG": {"spearman": interval(rho), "ssim": interval(ssim)},
                      "dummy_share_on_hidden_half": {
                          name: interval(dummy_check(clf, pictures[few], fn, labels[few]))
                          for name, fn in (("IG", ig_maps), ("gradient", grad_maps), ("edges", edges))}}
    state = json.loads((CHECKPOINT / "training_state.json").read_text())
    twin_state = json.loads((RANDOM_LABELS / "training_state.json").read_text())
    card["training"] = {"recipe": state["recipe"], "steps": state["step"], "trained_on": state["trained_on"],
                        "seconds": round(state["seconds"]), "random_labels_steps": twin_state["step"],
                        "random_labels_seconds": round(twin_state["seconds"])}
    return card


def main() -> None:
    card = measure(progress=True)
    CARD.write_text(json.dumps(card, indent=1))
    print(json.dumps(card, indent=1))


if __name__ == "__main__":
    main()
