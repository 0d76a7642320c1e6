"""Spatial probes: a 1x1 linear map shared over positions, upsampled to the label before the loss."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from interpwidgets.probes.spatial import fit_spatial_probes, per_image_scores


def _world(n=48, d=6, h=8, size=16, seed=0):
    """Channel 0 of site 1 carries the depth map (downsampled), channel 1 the mask's logit; site 0 is noise."""
    g = torch.Generator().manual_seed(seed)
    smooth = F.interpolate(torch.randn(n, 1, 4, 4, generator=g), size=size, mode="bilinear")[:, 0]
    depth, mask = smooth * 0.5 + 0.2 * torch.randn(n, 1, 1, generator=g), smooth > 0.3
    x = torch.randn(n, 2, d, h, h, generator=g)
    x[:, 1, 0] = 3 * F.interpolate(depth[:, None], size=h, mode="area")[:, 0]
    x[:, 1, 1] = 4 * F.interpolate(smooth[:, None] - 0.3, size=h, mode="area")[:, 0]
    return x, depth, mask


def test_the_site_that_holds_the_label_is_found_and_scored_at_the_label_size():
    x, depth, mask = _world()
    split = (range(36), range(36, 48))
    m = fit_spatial_probes(x, mask, kind="mask", split=split, epochs=30, batch_size=4)
    dz = fit_spatial_probes(x, depth, kind="depth", split=split, epochs=30, batch_size=4)
    assert m.metrics["val_dice"][1] > 0.8 > m.metrics["val_dice"][0] + 0.3
    assert dz.metrics["val_rmse"][1] < 0.5 * dz.metrics["val_rmse"][0]
    assert m.predict(x[:2]).shape == (2, 2, 16, 16)
    # the depth probe has no bias; the mask probe does, and it is used
    assert (dz.bias == 0).all() and (m.bias != 0).all()
    # scores per image agree with the metrics' mean over the same images
    per = per_image_scores(m, x[36:], mask[36:])
    assert per.shape == (12, 2) and per.mean(0) == pytest.approx(m.metrics["val_dice"].numpy(), abs=1e-5)


def test_upsampling_happens_before_the_loss():
    """A label whose detail is finer than the feature grid: scored at full size, the probe reads the map's
    bilinear upsampling, which beats any constant per feature cell."""
    x, depth, mask = _world()
    split = (range(36), range(36, 48))
    dz = fit_spatial_probes(x, depth, kind="depth", split=split, epochs=30, batch_size=4)
    blocky = F.interpolate(F.interpolate(depth[36:, None], size=8, mode="area"), size=16, mode="nearest")[:, 0]
    blocky_rmse = ((blocky - depth[36:]) ** 2).mean((1, 2)).sqrt().mean()
    assert dz.metrics["val_rmse"][1] < blocky_rmse


def test_bad_input_names_what_was_wrong():
    x, depth, mask = _world(n=8)
    with pytest.raises(ValueError, match="kind must be"):
        fit_spatial_probes(x, mask, kind="logistic", split=(range(6), range(6, 8)))
    with pytest.raises(ValueError, match=r"labels must be \[n, H, W\] with n = 8"):
        fit_spatial_probes(x, mask[:5], kind="mask", split=(range(4), range(4, 5)))
    with pytest.raises(ValueError, match="features must be"):
        fit_spatial_probes(x[:, 0, 0, 0], mask, kind="mask", split=(range(6), range(6, 8)))


def test_images_without_an_object_are_left_out_of_dice():
    """Dice is 1 when both masks are empty, so a probe that reads nothing would score 1 on an image without
    an object: such images are NaN per image and out of the validation mean."""
    x, depth, mask = _world()
    mask[40:44] = False  # four validation images without an object
    m = fit_spatial_probes(x, mask, kind="mask", split=(range(36), range(36, 48)), epochs=5, batch_size=4)
    per = per_image_scores(m, x[36:], mask[36:])
    assert torch.isnan(torch.as_tensor(per[4:8])).all() and not torch.isnan(torch.as_tensor(per[:4])).any()
    kept = torch.as_tensor(per)[[*range(4), *range(8, 12)]]
    assert m.metrics["val_dice"].numpy() == pytest.approx(kept.mean(0).numpy(), abs=1e-5)
