"""Recording a denoising run: every self-attention output at every step, the conditional pass's, and each
step's prediction of the image; the pipeline's own output unchanged."""

from __future__ import annotations

import models
import numpy as np
import pytest
import torch

from interpwidgets.scenes.method import run, self_attention_layers

PROMPTS = ["a photo of a red car", "a blue house"]


def test_recording_leaves_the_images_as_the_pipeline_makes_them():
    pipe = models.sd_pipeline()
    r = run(pipe, PROMPTS, steps=3, size=16, seed=5)
    gens = [torch.Generator().manual_seed(5 + i) for i in range(2)]
    plain = pipe(PROMPTS, num_inference_steps=3, height=16, width=16, generator=gens, output_type="np").images
    np.testing.assert_allclose(r.images, plain, atol=1e-5)
    assert r.predictions.shape == (2, 3, 16, 16, 3) and r.steps == 3
    # each step's prediction moves towards the final image
    err = np.abs(r.predictions - r.images[:, None]).mean((0, 2, 3, 4))
    assert err[-1] < err[0]
    assert type(pipe.scheduler).__name__ == "LMSDiscreteScheduler"  # the recording scheduler is gone again
    assert models.all_hooks(pipe.unet) == 0


def test_image_i_comes_from_seed_plus_i_whatever_the_batch():
    pipe = models.sd_pipeline()
    one = run(pipe, PROMPTS, steps=2, size=16, batch_size=1)
    two = run(pipe, PROMPTS, steps=2, size=16, batch_size=2)
    np.testing.assert_allclose(one.images, two.images, atol=1e-5)
    for name in one.activations:
        torch.testing.assert_close(one.activations[name], two.activations[name], atol=1e-4, rtol=1e-4)


def test_runs_on_one_pipeline_from_several_threads_record_what_each_would_alone():
    """run() swaps the pipeline's scheduler for a recording one: runs from two threads take turns, so each
    records its own predictions, and the pipeline's scheduler is its own again after."""
    from concurrent.futures import ThreadPoolExecutor

    pipe = models.sd_pipeline()
    scheduler = pipe.scheduler
    alone = {seed: run(pipe, PROMPTS, steps=3, size=16, seed=seed) for seed in (1, 2)}
    with ThreadPoolExecutor(2) as pool:
        together = dict(zip((1, 2), pool.map(lambda seed: run(pipe, PROMPTS, steps=3, size=16, seed=seed), (1, 2)),
                            strict=True))
    for seed in (1, 2):
        np.testing.assert_allclose(together[seed].predictions, alone[seed].predictions, atol=1e-5)
        np.testing.assert_allclose(together[seed].images, alone[seed].images, atol=1e-5)
    assert pipe.scheduler is scheduler and models.all_hooks(pipe.unet) == 0


def test_activations_are_the_conditional_pass():
    """At the first step both passes see the same latents, so the conditional half of a guided run equals
    an unguided run's (which has only the conditional pass), and differs from the unconditional half."""
    pipe = models.sd_pipeline()
    guided = run(pipe, PROMPTS, steps=2, size=16, guidance=7.5)
    plain = run(pipe, PROMPTS, steps=2, size=16, guidance=1.0)
    for name in guided.activations:
        torch.testing.assert_close(guided.activations[name][:, 0], plain.activations[name][:, 0],
                                   atol=1e-5, rtol=1e-4)
    assert guided.activations["layers.0.attn.out"].shape == (2, 2, 16, 8, 8)
    assert set(guided.activations) == {f"layers.{i}.attn.out" for i in range(4)}


def test_edits_reach_the_generation():
    pipe = models.sd_pipeline()
    import interpwidgets as iw

    base = run(pipe, PROMPTS[:1], steps=2, size=16)
    edited = run(pipe, PROMPTS[:1], steps=2, size=16, edits={"layers.0.attn.out": iw.Scale(0.0)})
    assert np.abs(base.images - edited.images).max() > 1e-3
    assert edited.activations["layers.0.attn.out"].abs().max() == 0  # the record is what the model used
    assert models.all_hooks(pipe.unet) == 0


def test_bad_input_says_what_is_wrong():
    from diffusers import UNet2DConditionModel

    pipe = models.sd_pipeline()
    with pytest.raises(ValueError, match="non-empty list of strings"):
        run(pipe, [], steps=2, size=16)
    with pytest.raises(ValueError, match="non-empty list of strings"):
        run(pipe, [3], steps=2, size=16)
    pipe.unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2, mid_block_type=None,
        cross_attention_dim=16, norm_num_groups=8)
    with pytest.raises(ValueError, match=r"no self-attention blocks \(its blocks: \['DownBlock2D'"):
        self_attention_layers(pipe)
    with pytest.raises(ValueError, match="with a `unet`"):
        self_attention_layers(torch.nn.Linear(2, 2))


def _planted_run():
    """Layer "a" carries the mask on the fit and choose images, layer "b" on the fit and test images;
    at step 1 only (step 0 is noise everywhere). Depth rides on a second channel."""
    from torch.nn import functional as F

    from interpwidgets.scenes.method import SceneRun

    g = torch.Generator().manual_seed(0)
    n, size = 30, 16
    smooth = F.interpolate(torch.randn(n, 1, 4, 4, generator=g), size=size, mode="bilinear")[:, 0]
    mask, depth = smooth > 0.2, smooth * 0.5 + 0.5
    acts = {}
    for name, carries in (("a", np.r_[0:20]), ("b", np.r_[0:10, 20:30])):
        x = torch.randn(n, 2, 4, 8, 8, generator=g)
        small = F.interpolate(smooth[:, None], size=8, mode="area")[:, 0]
        x[carries, 1, 0] = 4 * (small[carries] - 0.2)
        x[carries, 1, 1] = 2 * (small[carries] * 0.5 + 0.5)
        acts[name] = x
    run_ = SceneRun([f"p{i}" for i in range(n)], np.zeros((n, size, size, 3)), np.zeros((n, 2, size, size, 3)),
                    acts)
    return run_, depth, mask, {"fit": range(10), "choose": range(10, 20), "test": range(20, 30)}


def test_probe_grid_chooses_on_the_choose_split_and_reports_the_test_split():
    from interpwidgets.scenes.method import probe_grid

    run_, depth, mask, split = _planted_run()
    grid = probe_grid(run_, depth, mask, split, epochs=30, progress=False)
    assert grid.best("dice") == ("a", 1) and grid.best("rmse") == ("a", 1)
    s = grid.summary(n_boot=200)
    assert s["dice"]["chosen"]["layer"] == "a"
    # the test split is reported as it is: at the chosen layer the label is gone there, at "b" it is not
    test = np.array(s["dice"]["test"])
    assert test[1, 1] > 0.7 > test[0, 1] + 0.3
    assert s["dice"]["chosen"]["test"] == pytest.approx(test[0, 1], abs=1e-4)
    assert s["dice"]["chosen"]["test_lo"] <= s["dice"]["chosen"]["test"] <= s["dice"]["chosen"]["test_hi"]
    assert s["images"] == {"fit": 10, "choose": 10, "test": 10}
    table = grid.table("dice").splitlines()  # the choose split's grid as text, the chosen cell starred
    assert table[2].split()[0] == "a" and table[2].split()[2] == f"{grid.choose['dice'][0, 1]:.3f}*"
    assert table[3].split()[0] == "b" and "*" not in table[3]
    with pytest.raises(ValueError, match="metric must be 'dice' or 'rmse'"):
        grid.table("iou")
    with pytest.raises(ValueError, match="missing \\['test'\\]"):
        probe_grid(run_, depth, mask, {"fit": range(10), "choose": range(10, 20)})
    with pytest.raises(ValueError, match="must both be \\[30, H, W\\]"):
        probe_grid(run_, depth[:5], mask, split)
    no_object = np.array(mask, copy=True)
    no_object[10:20] = False
    with pytest.raises(ValueError, match=r"hold an object in 20 of 30 images and in no image of the choose split"):
        probe_grid(run_, depth, no_object, split)


def _square(n, top, left, side=6, size=16):
    m = np.zeros((n, size, size), bool)
    m[:, top:top + side, left:left + side] = True
    return m


def test_the_probe_edit_makes_the_probe_read_the_new_mask_in_the_run():
    from interpwidgets.capture import intervene
    from interpwidgets.probes.spatial import per_image_scores
    from interpwidgets.scenes.method import ProbeEdit, probe_grid, shifted

    pipe = models.sd_pipeline()
    prompts = [f"a red car {i}" for i in range(8)]
    base = run(pipe, prompts, steps=3, size=16)
    old = _square(8, 2, 1)
    grid = probe_grid(base, old.astype(float), old, {"fit": range(4), "choose": range(4, 6), "test": range(6, 8)},
                      epochs=2, progress=False)
    probes = grid.probes["mask"]["layers.0.attn.out"]
    new = shifted(old, dx=8)
    assert new[:, 2:8, 9:15].all() and new.sum() == old.sum()
    edit = ProbeEdit(probes, new[:2], steps=[0, 1], iters=60, lr=0.05)
    edited = run(pipe, prompts[:2], steps=3, size=16, edits={"layers.0.attn.out": edit})
    acts = edited.activations["layers.0.attn.out"]
    read_new = per_image_scores(probes, acts, new[:2])  # [images, steps]
    read_old = per_image_scores(probes, acts, old[:2])
    assert (read_new[:, :2] > 0.9).all() and (read_old[:, :2] < 0.3).all()  # edited steps read the new mask
    before = per_image_scores(probes, base.activations["layers.0.attn.out"][:2], new[:2])
    assert (before[:, :2] < 0.5).all()  # which they did not before
    # called on a guided batch, it leaves the unconditional half alone, and steps not chosen entirely
    from types import SimpleNamespace

    out = torch.randn(4, 64, 16)
    torch.testing.assert_close(edit(out, SimpleNamespace(call=0))[:2], out[:2], rtol=0, atol=0)
    assert (edit(out, SimpleNamespace(call=0))[2:] != out[2:]).any()
    assert edit(out, SimpleNamespace(call=2)) is out
    still = ProbeEdit(probes, new[:2], steps=[0], iters=0)  # the optimisation starts from the activation
    torch.testing.assert_close(still(out, SimpleNamespace(call=0)), out)
    assert np.abs(edited.images - base.images[:2]).max() > 1e-3  # the edit changed the generation
    with pytest.raises(ValueError, match=r"steps \[5\] out of range: the probes cover steps 0..2"):
        ProbeEdit(probes, new[:2], steps=[5])
    with pytest.raises(ValueError, match=r"target must be \[n, 16, 16\]"):
        ProbeEdit(probes, new[:2, :8], steps=[0])
    with pytest.raises(ValueError, match="targets for 2 images"), intervene(pipe, {"layers.0.attn.out": edit}):
        run(pipe, prompts[:3], steps=2, size=16)


@pytest.mark.parametrize("scheduler", ["PNDMScheduler", "EulerAncestralDiscreteScheduler"])
def test_other_schedulers_record_their_predictions_and_honour_the_seed(scheduler):
    """PNDM (Stable Diffusion 1.x's default) reports no prediction of the clean image: it is computed from
    the noise prediction. An ancestral sampler draws noise at each step: from the image's own generator,
    whatever the global random state."""
    import diffusers

    pipe = models.sd_pipeline()
    pipe.scheduler = getattr(diffusers, scheduler).from_config(pipe.scheduler.config)
    torch.manual_seed(1)
    a = run(pipe, PROMPTS, steps=6, size=16, seed=5)
    torch.manual_seed(2)
    b = run(pipe, PROMPTS, steps=6, size=16, seed=5)
    np.testing.assert_allclose(a.images, b.images, atol=1e-6)
    calls = a.predictions.shape[1]  # a step per UNet call (PNDM's warm-up makes more)
    assert calls >= 6 and a.activations["layers.0.attn.out"].shape[1] == calls == len(a.timesteps)
    err = np.abs(a.predictions - a.images[:, None]).mean((0, 2, 3, 4))
    assert err[-1] < err[0]


def test_the_probe_edit_steers_the_depth_probe_to_a_target_map():
    """The Huber kind of ProbeEdit: at the edited steps the depth probe reads the target map (a ramp, near on
    the left) far closer than the unedited run's activations did."""
    from interpwidgets.probes.spatial import per_image_scores
    from interpwidgets.scenes.method import ProbeEdit, probe_grid

    pipe = models.sd_pipeline()
    prompts = [f"a red car {i}" for i in range(8)]
    base = run(pipe, prompts, steps=3, size=16)
    mask = _square(8, 2, 1)
    depth = np.broadcast_to(np.linspace(0, 1, 16, dtype=np.float32), (8, 16, 16)).copy()
    grid = probe_grid(base, depth, mask, {"fit": range(4), "choose": range(4, 6), "test": range(6, 8)}, epochs=2,
                      progress=False)
    probes = grid.probes["depth"]["layers.0.attn.out"]
    ramp = np.broadcast_to(np.linspace(2, -2, 16, dtype=np.float32), (2, 16, 16))
    edited = run(pipe, prompts[:2], steps=3, size=16,
                 edits={"layers.0.attn.out": ProbeEdit(probes, ramp, steps=[0, 1], iters=60, lr=0.05)})
    after = per_image_scores(probes, edited.activations["layers.0.attn.out"], torch.as_tensor(ramp))  # RMSE
    before = per_image_scores(probes, base.activations["layers.0.attn.out"][:2], torch.as_tensor(ramp))
    assert (after[:, :2] < 0.3 * before[:, :2]).all()
