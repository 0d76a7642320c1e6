"""Pixel attributions: completeness, batching, the PAIR package's numbers, bad input."""

import warnings

import numpy as np
import pytest
import torch

from interpwidgets.saliency import Classifier, blur_ig, integrated_gradients, smoothgrad, vanilla_gradient
from interpwidgets.zoo import Preprocess

from .conftest import pair_model_function, tiny_net


def test_ig_is_complete_with_enough_steps(clf, pictures):
    ig = integrated_gradients(clf, pictures, baselines=("black", "white"), steps=128, rule="trapezoid",
                              progress=False)
    assert np.abs(ig.gap).max() < 0.01
    coarse = integrated_gradients(clf, pictures, baselines=("black", "white"), steps=3, rule="pair", progress=False)
    assert np.abs(coarse.gap).mean() > np.abs(ig.gap).mean()  # the gap is a convergence check: it shrinks


def test_ig_chunks_give_the_same_attributions(clf, pictures):
    one = integrated_gradients(clf, pictures, steps=10, batch_size=1, progress=False)
    many = integrated_gradients(clf, pictures, steps=10, batch_size=7, progress=False)
    np.testing.assert_allclose(one.values, many.values, rtol=1e-4, atol=1e-7)


def test_ig_matches_pair(clf, pictures, pair):
    core, _ = pair
    target = clf.targets(pictures)
    x = clf.pixels(pictures).permute(0, 2, 3, 1).numpy()
    ours = integrated_gradients(clf, pictures, baselines="white", steps=20, progress=False)
    for i in range(len(x)):
        theirs = core.IntegratedGradients().GetMask(x[i], pair_model_function(clf), {"target": int(target[i])},
                                                    x_baseline=np.ones_like(x[i]), x_steps=20, batch_size=5)
        np.testing.assert_allclose(ours.values[i], theirs, rtol=1e-3, atol=1e-6 * np.abs(theirs).max())


def test_blur_ig_matches_pair(clf, pictures, pair):
    core, _ = pair
    target = clf.targets(pictures[:1])
    x = clf.pixels(pictures[:1]).permute(0, 2, 3, 1).numpy()
    ours = blur_ig(clf, pictures[:1], max_sigma=8, steps=12, progress=False)
    theirs = core.BlurIG().GetMask(x[0], pair_model_function(clf), {"target": int(target[0])}, max_sigma=8, steps=12)
    np.testing.assert_allclose(ours.values[0], theirs, rtol=1e-3, atol=1e-5 * np.abs(theirs).max())


def test_gradient_and_smoothgrad(clf, pictures):
    g = vanilla_gradient(clf, pictures, progress=False)
    x = clf.pixels(pictures).requires_grad_(True)
    s = clf.model(x).softmax(-1)
    s[torch.arange(len(x)), torch.as_tensor(g.targets)].sum().backward()
    np.testing.assert_allclose(g.values, x.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-8)
    sg = smoothgrad(clf, pictures, samples=6, progress=False)
    assert (sg.values >= 0).all() and not np.allclose(sg.values, g.values ** 2, rtol=0.1, atol=0)  # squared, and noisy
    again = smoothgrad(clf, pictures, samples=6, batch_size=4, progress=False)
    np.testing.assert_allclose(sg.values, again.values, rtol=1e-4, atol=1e-10)  # seeded, chunking-free


def test_images_are_made_pictures_and_bad_input_is_named():
    clf = Classifier(tiny_net(), Preprocess(40, 32, (0.5,) * 3, (0.5,) * 3))
    grey, rgba = np.zeros((32, 32), np.uint8), np.zeros((50, 60, 4), np.uint8)
    with pytest.warns(UserWarning, match=r"1 \(60 x 50\) resized"):
        pics = clf.pictures([grey, rgba])
    assert pics.shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match="out of range: the model has 3 classes"):
        integrated_gradients(clf, pics, target=3, progress=False)
    with pytest.raises(ValueError, match="baseline 'grey'"):
        integrated_gradients(clf, pics, baselines="grey", progress=False)
    bad = Classifier(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3)).eval(), Preprocess(32, 32, (0.5,) * 3, (0.5,) * 3))
    with pytest.raises(ValueError, match=r"logits \[batch, classes\]"):
        vanilla_gradient(bad, pics, target=0, progress=False)


def test_a_model_in_training_mode_is_put_in_eval_mode():
    net = tiny_net().train()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        Classifier(net, Preprocess(32, 32, (0.5,) * 3, (0.5,) * 3))
    assert not net.training and "training mode" in str(w[0].message)
