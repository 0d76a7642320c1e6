"""The scenes world: the renderer's depth and masks are exact, prompts name the layout, training resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interpwidgets.worlds.scenes import data
from interpwidgets.worlds.scenes.data import Object, Scene, render

_GROUND = ((0.5, 0.5, 0.5), (0.3, 0.3, 0.3))


def _scene(*objects, column="middle", distance="near"):
    return Scene(tuple(objects), column, distance, _GROUND, 0.7, (0.5, 0.7, 0.9))


def _view_ray(row: float, col: float, size: int = data.SIZE) -> np.ndarray:
    """The world-frame direction of the ray through pixel (row, col) (centres at .5)."""
    half = np.tan(data._FOV / 2)
    px, py = ((col + 0.5) / size * 2 - 1) * half, -((row + 0.5) / size * 2 - 1) * half
    c, s = np.cos(data._TILT), np.sin(data._TILT)
    d = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ np.array([px, py, 1.0])
    return d / np.linalg.norm(d)


def test_ground_depth_is_the_plane_distance_along_the_view_axis():
    _, depth, mask = render(_scene())
    assert not mask.any()
    forward = np.array([0.0, -np.sin(data._TILT), np.cos(data._TILT)])  # tilted down
    for row in (20, 26, 31):
        # the pixel averages 2x2 rays in disparity; compare with the same average computed by hand
        rays = [_view_ray(2 * row + i, 2 * 15 + j, data.SIZE * 2) for i in (0, 1) for j in (0, 1)]
        disp = np.mean([min(1.0, 1.5 / ((-1.0 / d[1]) * (d @ forward))) for d in rays])
        assert depth[row, 15] == pytest.approx(1.5 / disp, rel=1e-4)
    assert np.isinf(depth[0]).all()  # the top row is sky


def test_a_sphere_straight_ahead_is_masked_round_and_at_its_distance():
    ball = Object("sphere", "red", x=0.0, z=3.0, size=0.5)
    image, depth, mask = render(_scene(ball))
    rows, cols = np.nonzero(mask)
    assert 0 < mask.sum() < mask.size / 4
    assert abs(cols.mean() - 15.5) < 0.6  # centred left-right
    assert abs((cols.max() - cols.min()) - (rows.max() - rows.min())) <= 2  # round
    # depth runs along the view axis: the sphere's nearest point on it is its centre's depth less the radius
    forward = np.array([0.0, -np.sin(data._TILT), np.cos(data._TILT)])  # tilted down
    nearest = (np.array([0.0, 0.5, 3.0]) - np.array([0.0, 1.0, 0.0])) @ forward - 0.5
    assert depth[mask].min() == pytest.approx(nearest, abs=0.02)
    inner = mask & np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1)
    assert depth[inner].max() < (np.array([0.0, -0.5, 3.0]) @ forward)  # the pixels inside see its front half
    assert image[mask][:, 0].mean() > 2 * image[mask][:, 2].mean()  # red


def test_what_stands_in_front_hides_the_salient_object():
    far = Object("box", "blue", x=0.0, z=5.0, size=0.5)
    near = Object("cylinder", "white", x=0.0, z=2.5, size=0.3, height=1.2)
    _, _, alone = render(_scene(far))
    _, depth, hidden = render(_scene(far, near))
    assert hidden.sum() < alone.sum() - 4  # the near cylinder covers part of the box
    assert (depth[alone & ~hidden] < 3.0).all()  # and what covers it is near


def test_sampled_scenes_follow_their_prompt():
    d = data.dataset(60, seed=3)
    for i, prompt in enumerate(d["prompts"]):
        words = prompt.split()
        assert words[1:3] == [list(data.COLORS)[d["color"][i]], data.SHAPES[d["shape"][i]]]
        assert words[3] == data.DISTANCES[d["distance"][i]] and words[6] == data.COLUMNS[d["column"][i]]
    cols = np.array([np.nonzero(m)[1].mean() if m.any() else np.nan for m in d["mask"]])
    seen = ~np.isnan(cols)
    assert seen.mean() > 0.9
    for k, (lo, hi) in enumerate([(0, 13), (10, 22), (19, 32)]):  # the salient object sits in its third
        inside = (cols[seen & (d["column"] == k)] >= lo) & (cols[seen & (d["column"] == k)] <= hi)
        assert inside.mean() > 0.85, data.COLUMNS[k]
    near = d["mask"].sum((1, 2))[d["distance"] == 0].mean()
    far = d["mask"].sum((1, 2))[d["distance"] == 1].mean()
    assert near > 2 * far  # near objects look bigger
    assert d["disparity"].max() <= 1 and d["disparity"].min() == 0  # the label's scale: sky at 0


def test_the_weights_average_warms_up_after_each_start():
    """Early on the shipped average follows the weights (it kept 56% of the random start at step 580
    without the warm-up); later it averages over about a thousand steps."""
    from interpwidgets.worlds.scenes.train import RECIPE, ema_decay

    assert ema_decay(0, RECIPE) == pytest.approx(0.1) and ema_decay(90, RECIPE) == pytest.approx(0.91)
    assert ema_decay(20000, RECIPE) == RECIPE["ema"]
    kept = np.prod([ema_decay(t, RECIPE) for t in range(580)])  # what is left of the start after 580 steps
    assert kept < 1e-3


def test_training_runs_resumes_and_restarts_from_the_fp16_checkpoint(tmp_path):
    from diffusers import StableDiffusionPipeline

    from interpwidgets.worlds.scenes.train import train

    small = dict(scenes=48, batch=4, vae_steps=3, estimator_steps=2)
    work, out = tmp_path / "work", tmp_path / "out"
    state = train(work, out, 2, recipe=small, log_every=1)
    assert state["steps"] == {"vae": 3, "estimator": 2, "unet": 2} and state["scaling_factor"] > 0
    cpu = "CPU (2 torch threads)"
    assert state["trained_on"] == {"vae": {cpu: 3}, "estimator": {cpu: 2}, "unet": {cpu: 2}}  # the card's record
    state = train(work, out, 4, recipe=small, log_every=1)  # resumes: only two more UNet steps
    assert state["steps"]["unet"] == 4 and len(state["losses"]["unet"]) == 4
    old = {k: v for k, v in json.loads((out / "training_state.json").read_text())["recipe"].items()
           if k != "ema_warmup"}  # a run saved before the warm-up existed resumes under it
    saved = json.loads((out / "training_state.json").read_text())
    del saved["trained_on"]  # nor the count of steps per device: those steps were on 2 CPU threads
    (out / "training_state.json").write_text(json.dumps({**saved, "recipe": old}))
    (work / "state.pt").unlink()  # a new session: only the committed fp16 checkpoint is left
    from transformers import CLIPTokenizer

    import interpwidgets.worlds.scenes.train as training

    def vocab():
        return CLIPTokenizer.from_pretrained(out / "pipeline" / "tokenizer").get_vocab()

    before = vocab()
    built = training.build_tokenizer
    training.build_tokenizer = None  # the text encoder's tokenizer is the checkpoint's, never built again
    try:
        state = train(work, out, 5, recipe=small, log_every=1)
    finally:
        training.build_tokenizer = built
    assert vocab() == before
    assert state["steps"] == {"vae": 3, "estimator": 2, "unet": 5} and state["warm_restart_at"] == 4
    assert state["trained_on"]["unet"] == {cpu: 5}
    assert json.loads((out / "training_state.json").read_text())["steps"]["unet"] == 5
    pipe = StableDiffusionPipeline.from_pretrained(out / "pipeline")
    assert pipe.vae.config.scaling_factor == pytest.approx(state["scaling_factor"])
    from safetensors.torch import load_file

    stored = load_file(out / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors")
    assert {v.dtype for v in stored.values()} == {torch.float16}  # shipped in fp16
    with pytest.raises(ValueError, match="another recipe"):
        train(work, out, 6, recipe={**small, "batch": 8})
    # the folder loads as the world does: a pipeline and the estimator that labels its images
    from interpwidgets.worlds.scenes import estimate, load

    pipe, estimator = load(out)
    images = pipe(["a red sphere near on the left"], num_inference_steps=2, output_type="np").images
    labels = estimate(estimator, images)
    assert labels["disparity"].shape == labels["mask"].shape == (1, 32, 32) and labels["mask"].dtype == bool
    assert labels["color"].shape == (1,) and labels["features"].shape == (1, 128)
    with pytest.raises(FileNotFoundError, match="train one with"):
        load(tmp_path / "nowhere")


def test_sigterm_saves_and_stops(tmp_path):
    import os
    import signal
    import threading

    from interpwidgets.worlds.scenes.train import train

    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "out"
    timer = threading.Timer(12.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        state = train(tmp_path / "work", out, 100000, recipe=dict(scenes=16, batch=2, vae_steps=2,
                                                                  estimator_steps=2), save_every=1e9)
    finally:
        timer.cancel()
    assert state["steps"]["unet"] < 100000  # stopped early (in whichever phase the signal found it)
    assert json.loads((out / "training_state.json").read_text())["steps"] == state["steps"]  # saved at the stop
    assert signal.getsignal(signal.SIGTERM) is before
