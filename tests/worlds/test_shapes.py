"""The shapes world: exact masks, the named shapes, independent backgrounds, resumable training, its card."""

from __future__ import annotations

import contextlib
import json
import threading

import numpy as np
import pytest
import torch

from interpwidgets.worlds import shapes
from interpwidgets.worlds.shapes import data


def test_the_mask_is_where_the_picture_differs_from_its_background():
    for seed in range(30):
        d = data.draw(seed)
        image, background, mask = d["image"].astype(int), d["background"].astype(int), d["mask"]
        assert 0.02 < mask.mean() < 0.4
        assert (image[~mask] == background[~mask]).all()  # off the object: the background, untouched
        assert (image[mask].std(0) < 1.3 * data.NOISE).all()  # on it: one colour under the sensor noise
        assert np.abs(image[mask].mean(0) - background[mask].mean(0)).sum() > 40  # that stands out


def test_each_class_is_its_shape():
    """Area over the disc through the farthest pixel: a circle fills it, a square 2/pi of it, a triangle
    3 sqrt(3) / (4 pi), a cross (bars 0.64 r wide) about 0.62; the cross is the one far from convex."""
    from skimage.measure import regionprops

    fill = {"circle": (0.85, 1.05), "square": (0.55, 0.72), "triangle": (0.33, 0.5), "cross": (0.52, 0.68)}
    for seed in range(60):
        d = data.draw(seed)
        (region,) = regionprops(d["mask"].astype(int))
        ys, xs = np.nonzero(d["mask"])
        far = np.hypot(ys - region.centroid[0], xs - region.centroid[1]).max() + 0.5
        name = data.CLASSES[d["label"]]
        lo, hi = fill[name]
        assert lo < region.area / (np.pi * far ** 2) < hi, (seed, name)
        assert (region.solidity < 0.8) == (name == "cross"), (seed, name)  # (a cross's is about 0.7)


def test_splits_are_disjoint_reproducible_and_named():
    fit, test = data.dataset(20, "fit"), data.dataset(20, "test")
    assert not any((f == t).all() for f in fit["images"] for t in test["images"])
    again = data.dataset(10, "test", start=10)
    assert (again["images"] == test["images"][10:]).all() and (again["labels"] == test["labels"][10:]).all()
    with pytest.raises(ValueError, match="split='train': choose one of \\['fit', 'choose', 'test'\\]"):
        data.dataset(3, "train")
    with pytest.raises(ValueError, match="at least one image"):
        data.dataset(0)


def test_the_background_does_not_tell_the_class():
    d = data.dataset(1200, "choose")
    table = np.zeros((len(data.CLASSES), len(data.TEXTURES)))
    np.add.at(table, (d["labels"], d["textures"]), 1)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    assert chi2 < 27.9  # the 0.1% point of chi-square with 9 degrees of freedom


class _StopAfter(threading.Event):
    """A SIGTERM that arrives after ``n`` checks of the training loop."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_training_stops_saves_and_resumes(tmp_path, monkeypatch):
    from interpwidgets.worlds.shapes import train

    recipe = dict(images=64, batch=8, steps=6, random_images=32, random_steps=4)
    monkeypatch.setattr(train, "CHOOSE", 16)
    monkeypatch.setattr(train, "stop_on_sigterm", lambda: contextlib.nullcontext(_StopAfter(3)))
    state = train.train(tmp_path / "out", tmp_path / "work", recipe=recipe, log_every=2)
    assert state["step"] == 3  # stopped, and saved
    saved = json.loads((tmp_path / "out" / "training_state.json").read_text())
    assert saved["step"] == 3 and (tmp_path / "work" / "state_shapes.pt").exists()
    monkeypatch.setattr(train, "stop_on_sigterm", lambda: contextlib.nullcontext(threading.Event()))
    state = train.train(tmp_path / "out", tmp_path / "work", recipe=recipe, log_every=2)
    assert state["step"] == 6 and [s for s, _ in state["losses"]] == [2, 4, 6]  # the first two logs survived
    clf = shapes.load(tmp_path / "out")
    (tmp_path / "work" / "state_shapes.pt").unlink()  # only the fp16 checkpoint left: it resumes from that
    state = train.train(tmp_path / "out", tmp_path / "work", recipe=recipe)
    assert state["step"] == 6
    weights = torch.load(tmp_path / "work" / "state_shapes.pt", weights_only=False)["model"]
    for k, v in clf.model.state_dict().items():
        if v.is_floating_point():  # (BatchNorm's batch counters are integers)
            torch.testing.assert_close(weights[k].half().float(), v)
    with pytest.raises(ValueError, match="another recipe"):
        train.train(tmp_path / "out", tmp_path / "work", recipe={**recipe, "lr": 0.1})
    state = train.train(tmp_path / "twin", tmp_path / "work", shuffle_labels=True, recipe=recipe)
    assert state["step"] == 4 and 0 <= state["fit_accuracy"] <= 1


def test_load_says_how_to_train_a_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m interpwidgets.worlds.shapes.train --out"):
        shapes.load(tmp_path)


def test_ties_at_the_cut_count_as_a_random_tie_break_would():
    from interpwidgets.worlds.shapes.card import on_object

    mask = np.zeros((1, 8, 8), bool)
    mask[0, :2] = True  # the object: the top two rows, a quarter of the image
    flat = np.ones((1, 8, 8))  # one value everywhere: pixel order would put the whole top-k on the object
    assert on_object(flat, mask) == pytest.approx([0.25])
    two = np.where(np.arange(64).reshape(1, 8, 8) < 8, 2.0, 1.0)  # the first row above, the rest tied
    assert on_object(two, mask) == pytest.approx([(8 + 8 * 8 / 56) / 16])
    assert on_object(np.where(mask, 1.0, 0.0), mask) == pytest.approx([1.0])
