"""Sanity checks: maps of a real explanation decorrelate as the layers are randomized; an edge detector,
which ignores the model, is flagged; the caller's model is left as it was."""

import numpy as np
import pytest
import torch

from interpwidgets.saliency import integrated_gradients, vanilla_gradient
from interpwidgets.saliency.sanity import FLAG, cascading_randomization, compare_models, edges


def grad(clf, pictures, targets):
    return vanilla_gradient(clf, pictures, targets, progress=False).maps()


def test_gradient_maps_decorrelate_and_edges_are_flagged(clf, pictures):
    before = [p.detach().clone() for p in clf.model.parameters()]
    r = cascading_randomization(clf, pictures, grad, progress=False)
    assert r.stages == ["trained", "6", "2", "0"]
    np.testing.assert_allclose(r.spearman[0], 1.0)
    assert r.spearman[-1].mean() < FLAG and not r.flagged
    assert r.ssim[-1].mean() < r.ssim[0].mean()
    assert all(torch.equal(a, b) for a, b in zip(before, clf.model.parameters(), strict=True))
    control = cascading_randomization(clf, pictures, edges, progress=False)
    assert control.flagged and np.allclose(control.spearman, 1.0)


def test_compare_models(clf, pictures):
    ig = lambda c, p, t: integrated_gradients(c, p, t, steps=4, progress=False).maps()  # noqa: E731
    rho, ssim = compare_models(clf, clf, pictures, ig)
    np.testing.assert_allclose(rho, 1.0)
    np.testing.assert_allclose(ssim, 1.0)


def test_the_dummy_check_finds_no_attribution_where_the_model_cannot_see(clf, pictures):
    from interpwidgets.saliency import dummy_check

    def ig(c, p, t):
        return integrated_gradients(c, p, t, steps=8, progress=False).maps()

    assert (dummy_check(clf, pictures, ig) < 1e-6).all() and (dummy_check(clf, pictures, grad) < 1e-6).all()
    top = np.zeros((32, 32), bool)
    top[:8] = True
    assert (dummy_check(clf, pictures, grad, hidden=top) < 1e-6).all()
    assert dummy_check(clf, pictures, edges).min() > 0.2  # a map that ignores the model gives the half its share
    assert clf.predict(pictures).shape == (3, 3)  # the caller's classifier is not changed by the wrapping
    with pytest.raises(ValueError, match="hides some pixels, not all"):
        dummy_check(clf, pictures, grad, hidden=np.ones((32, 32), bool))


class _Scale(torch.nn.Module):
    """A layer with a weight and no reset_parameters: nothing can re-initialise it."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.weight


def test_a_layer_that_cannot_be_randomized_is_named(clf, pictures):
    net = torch.nn.Sequential(*clf.model, _Scale()).eval()
    c = type(clf)(net, clf.preprocess)
    with pytest.raises(ValueError, match="layer '7' \\(_Scale\\) was not randomized"):
        cascading_randomization(c, pictures, grad, progress=False)
