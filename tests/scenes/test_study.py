"""From prompts to probes and edits: labels from the user's estimators (clear errors without them), the
three-way split, the depth push along the depth probe, and an image generated again under an edit."""

from __future__ import annotations

from types import SimpleNamespace

import models
import numpy as np
import pytest
import torch

from interpwidgets.probes.spatial import SpatialProbes
from interpwidgets.scenes import DepthPush, decoder_layers, edit_scene, label, split_images, study


def _brightness(images):
    return images.mean(-1)


def _bright_mask(images):  # per image, as a real estimator labels each image on its own
    b = images.mean(-1)
    return b > np.median(b, axis=(1, 2), keepdims=True)


def _depth_probes(steps: int, d: int, size=(16, 16), seed: int = 0) -> SpatialProbes:
    w = torch.randn(steps, d, generator=torch.Generator().manual_seed(seed))
    return SpatialProbes("depth", w, torch.zeros(steps), size, {}, torch.arange(2), torch.arange(2))


def test_labels_come_from_the_estimators_and_their_absence_is_explained():
    images = np.random.default_rng(0).random((3, 8, 8, 3))
    depth, mask = label(images, depth=_brightness, saliency=lambda im: im[..., 0])  # probabilities cut at 0.5
    assert depth.dtype == np.float32 and mask.dtype == bool
    np.testing.assert_array_equal(mask, images[..., 0] > 0.5)
    with pytest.raises(ValueError, match=r"no saliency estimator was given: give depth= and saliency=, "
                                         r"functions that take .*scenes.estimators\(estimator\)"):
        label(images, depth=_brightness)
    with pytest.raises(ValueError, match="no depth or saliency estimator"):
        study(models.sd_pipeline(), ["a red car"])  # before anything is generated
    with pytest.raises(ValueError, match=r"the depth estimator returned shape \(3, 4, 4\) .* must return \(3, 8, 8\)"):
        label(images, depth=lambda im: im[:, :4, :4, 0], saliency=_bright_mask)


def test_the_split_is_three_disjoint_parts_of_every_image():
    parts = split_images(10, seed=1)
    assert [len(parts[k]) for k in ("fit", "choose", "test")] == [4, 2, 4]
    assert sorted(np.concatenate(list(parts.values()))) == list(range(10))
    assert not np.array_equal(parts["test"], split_images(10, seed=2)["test"])
    with pytest.raises(ValueError, match="at least 3 images"):
        split_images(2)


def test_the_depth_push_raises_the_probes_reading_by_its_magnitude_on_the_object_only():
    probes = _depth_probes(steps=3, d=8)
    region = np.zeros((2, 16, 16), bool)
    region[:, 4:12, 0:8] = True  # the left half of rows 4-11: cells (1-2, 0-1) of a 4x4 grid
    push = DepthPush(probes, region, steps=[0, 1], magnitude=0.7)
    out = torch.randn(4, 16, 8)  # guided: [unconditional 2, conditional 2], 4x4 positions, width 8
    edited = push(out, SimpleNamespace(call=1))
    torch.testing.assert_close(edited[:2], out[:2], rtol=0, atol=0)  # the unconditional pass untouched
    rise = (edited[2:] - out[2:]) @ probes.weight[1]  # the probe's reading per position
    cells = torch.zeros(4, 4, dtype=torch.bool)
    cells[1:3, 0:2] = True
    torch.testing.assert_close(rise[:, cells.flatten()], torch.full((2, 4), 0.7), rtol=1e-5, atol=1e-5)
    assert rise[:, ~cells.flatten()].abs().max() < 1e-6
    assert push(out, SimpleNamespace(call=2)) is out  # a step not chosen
    farther = DepthPush(probes, region, steps=[1], magnitude=-0.7)(out, SimpleNamespace(call=1))
    assert ((farther[2:] - out[2:]) @ probes.weight[1])[:, cells.flatten()].max() < -0.69
    with pytest.raises(ValueError, match="moves along a depth probe"):
        DepthPush(SpatialProbes("mask", probes.weight, probes.bias, (16, 16), {}, None, None), region, [0], 1.0)
    with pytest.raises(ValueError, match=r"steps \[3\] out of range"):
        DepthPush(probes, region, [3], 1.0)
    with pytest.raises(ValueError, match=r"region must be \[n, 16, 16\] .* got \(2, 8, 8\)"):
        DepthPush(probes, region[:, :8, :8], [0], 1.0)


def test_an_image_generated_again_under_no_edit_is_the_same_and_an_edit_changes_it():
    pipe = models.sd_pipeline()
    s = study(pipe, [f"a red car {i}" for i in range(6)], depth=_brightness, saliency=_bright_mask, steps=2,
              epochs=1, progress=False)
    assert s.grid.choose["dice"].shape == (4, 2) and s.depth.shape == s.mask.shape == (6, 16, 16)
    assert decoder_layers(pipe) == ["layers.2.attn.out", "layers.3.attn.out"]  # the up blocks'
    kw = dict(depth=_brightness, saliency=_bright_mask, steps=[0])
    same = edit_scene(pipe, s, 3, **kw)
    np.testing.assert_allclose(same.after, same.before, atol=1e-5)  # its own seed: the same image
    assert same.scores["dice_old"] == pytest.approx(1.0)
    moved = edit_scene(pipe, s, 3, dx=4, push=0.5, iters=5, **kw)
    assert np.abs(moved.after - moved.before).max() > 1e-3
    np.testing.assert_array_equal(moved.target[:, 4:], moved.old_mask[:, :-4])
    assert set(moved.scores) == {"dice_target", "dice_old", "dice_target_unedited", "disparity_before",
                                 "disparity_after", "probe_before", "probe_after"}
    assert models.all_hooks(pipe.unet) == 0
    with pytest.raises(ValueError, match="no depth or saliency estimator"):
        edit_scene(pipe, s, 0, dx=2)
    with pytest.raises(ValueError, match=r"index 6 out of range: the study has images 0..5"):
        edit_scene(pipe, s, 6, **kw)
    with pytest.raises(ValueError, match=r"no probes for \['layers.9.attn.out'\]"):
        edit_scene(pipe, s, 0, layers=["layers.9.attn.out"], **kw)
    with pytest.raises(ValueError, match="layers must be layer names, 'decoder' or 'all', got 'every'"):
        edit_scene(pipe, s, 0, layers="every", **kw)
    # "all" edits every probed layer, more than the decoder's (the default, "decoder")
    decoder, every = (edit_scene(pipe, s, 3, dx=4, iters=5, layers=name, **kw) for name in ("decoder", "all"))
    assert np.abs(every.after - decoder.after).max() > 1e-3


def test_any_target_mask_or_depth_map_can_be_asked_for():
    pipe = models.sd_pipeline()
    s = study(pipe, [f"a red car {i}" for i in range(6)], depth=_brightness, saliency=_bright_mask, steps=2,
              epochs=1, progress=False)
    kw = dict(depth=_brightness, saliency=_bright_mask, steps=[0], iters=5)
    before = s.run.images[2]
    square = np.zeros((16, 16), bool)
    square[2:8, 9:15] = True
    to_square = edit_scene(pipe, s, 2, target_mask=square, **kw)
    np.testing.assert_array_equal(to_square.target, square)
    assert np.abs(to_square.after - before).max() > 1e-3
    assert to_square.scores["dice_target_unedited"] == pytest.approx(
        2 * (square & s.mask[2]).sum() / (square.sum() + s.mask[2].sum()))
    far_left = np.tile(np.linspace(2.0, -2.0, 16, dtype=np.float32), (16, 1))  # near on the left
    steered = edit_scene(pipe, s, 2, target_depth=far_left, **kw)
    assert np.abs(steered.after - before).max() > 1e-3
    assert steered.scores["depth_rmse_target_unedited"] == pytest.approx(
        float(np.sqrt(((s.depth[2] - far_left) ** 2).mean())), rel=1e-5)
    assert "depth_rmse_target" in steered.scores and "depth_rmse_target" not in to_square.scores
    assert models.all_hooks(pipe.unet) == 0
    with pytest.raises(ValueError, match="either a shift .* or a target_mask, not both"):
        edit_scene(pipe, s, 2, dx=2, target_mask=square, **kw)
    with pytest.raises(ValueError, match=r"target_depth must be 16x16 \(the labels' size\), got shape \(8, 8\)"):
        edit_scene(pipe, s, 2, target_depth=far_left[:8, :8], **kw)


def test_the_control_reads_the_trained_runs_own_inputs(monkeypatch):
    """Teacher forcing: given the trained UNet itself, the control's record is the run's own (so the control
    sees exactly the latents and prompts the trained UNet saw); with random weights it differs."""
    import importlib

    from interpwidgets.scenes import run

    st = importlib.import_module("interpwidgets.scenes.study")  # (the package's `study` is the function)

    pipe = models.sd_pipeline()
    r = run(pipe, ["a red car", "a blue house", "a tree"], steps=3, size=16, batch_size=2)
    assert r.inputs.shape == (3, 3, 4, 8, 8) and len(r.timesteps) == 3
    random = st.control_run(pipe, r, seed=1, batch_size=2)  # (the test pipeline itself is seed 0)
    assert set(random.activations) == set(r.activations)
    for name, a in random.activations.items():
        assert a.shape == r.activations[name].shape and not torch.allclose(a, r.activations[name], atol=1e-3)
    monkeypatch.setattr(st, "random_unet", lambda p, seed=0: p)
    same = st.control_run(pipe, r, batch_size=2)
    for name, a in same.activations.items():
        torch.testing.assert_close(a, r.activations[name], atol=1e-4, rtol=1e-4)
    assert models.all_hooks(pipe.unet) == 0
