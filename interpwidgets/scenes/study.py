"""From a pipeline and prompts to fitted probes: generate and record (:func:`~.method.run`), label the
generated images with depth and saliency estimators, split the images three ways, fit every layer x step
(:func:`~.method.probe_grid`).

The labels come from functions the user gives, as the paper took them from MiDaS (relative inverse depth)
and TRACER (the salient object): ``depth(images)`` and ``saliency(images)``, each taking ``[n, H, W, 3]``
floats in [0, 1] and returning ``[n, H, W]``. The scenes world's estimator gives both
(:func:`interpwidgets.worlds.scenes.estimators`).

Example
-------
>>> import numpy as np
>>> from interpwidgets.scenes.study import study
>>> from interpwidgets.worlds.scenes import models as m     # the world's networks, random weights
>>> tok = m.build_tokenizer()
>>> pipe = m.assemble(m.build_vae(), m.build_text_encoder(tok), tok, m.build_unet())
>>> bright = lambda im: im.mean(-1)                          # stand-ins for real estimators
>>> s = study(pipe, ["a red sphere near on the left"] * 10, depth=bright, saliency=lambda im: bright(im) > 0.5,
...           steps=2, epochs=1, progress=False)
>>> sorted(s.split), s.grid.choose["dice"].shape              # 7 layers x 2 steps
(['choose', 'fit', 'test'], (7, 2))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .method import ProbeGrid, SceneRun, probe_grid, run

__all__ = ["Study", "study", "label", "split_images", "SceneEdit", "edit_scene", "towards_middle", "random_unet",
           "control_run", "ESTIMATORS_HELP"]

Estimator = Callable[[np.ndarray], np.ndarray]

ESTIMATORS_HELP = (
    "give depth= and saliency=, functions that take the generated images ([n, H, W, 3] floats in [0, 1]) "
    "and return [n, H, W] arrays: relative inverse depth (larger is nearer, as MiDaS gives) and the salient "
    "object's mask (booleans, or probabilities cut at 0.5, as TRACER gives); for the scenes world, "
    "interpwidgets.worlds.scenes.estimators(estimator) gives both")


def label(images, *, depth: Estimator | None = None, saliency: Estimator | None = None,
          ) -> tuple[np.ndarray, np.ndarray]:
    """Depth [n, H, W] (float32) and salient-object mask [n, H, W] (bool) of ``images`` from the two
    estimator functions; a clear error when one is missing or returns the wrong shape."""
    _require(depth, saliency)
    images = np.asarray(images)
    want = images.shape[:3]
    out = []
    for name, fn in (("depth", depth), ("saliency", saliency)):
        got = np.asarray(fn(images))
        if got.shape != want:
            raise ValueError(f"the {name} estimator returned shape {got.shape} for {images.shape[0]} images of "
                             f"{want[1]}x{want[2]}: it must return {want}")
        out.append(got)
    d, s = out
    return d.astype(np.float32), (s > 0.5) if s.dtype != bool else s


def _require(depth, saliency) -> None:
    missing = [name for name, fn in (("depth", depth), ("saliency", saliency)) if fn is None]
    if missing:
        raise ValueError(f"the probes need labels for the generated images, and no {' or '.join(missing)} "
                         f"estimator was given: {ESTIMATORS_HELP}")


def split_images(n: int, seed: int = 0, fractions: tuple[float, float, float] = (0.4, 0.2, 0.4)) -> dict:
    """A random fit / choose / test split of ``n`` images (the paper: ~40/60 train/test; here a choose
    split is cut out for the layer and step choice)."""
    if n < 3:
        raise ValueError(f"a fit / choose / test split needs at least 3 images, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    a = max(1, round(fractions[0] * n))
    b = min(n - 1, max(a + 1, round((fractions[0] + fractions[1]) * n)))
    return {"fit": np.sort(order[:a]), "choose": np.sort(order[a:b]), "test": np.sort(order[b:])}


@dataclass
class Study:
    """A recorded run, its labels (from the estimators, on the final images), the split and the probes."""

    run: SceneRun
    depth: np.ndarray
    mask: np.ndarray
    split: dict
    grid: ProbeGrid


def study(pipe, prompts, *, depth: Estimator | None = None, saliency: Estimator | None = None, steps: int = 15,
          guidance: float = 7.5, seed: int = 0, split_seed: int = 0, epochs: int = 30, batch_size: int = 16,
          progress: bool = True) -> Study:
    """Generate an image per prompt, record every self-attention output at every step, label the images and
    fit the mask and depth probes of every layer x step on a fit / choose / test split of the images."""
    _require(depth, saliency)  # before generating: the labels are what the probes learn
    r = run(pipe, prompts, steps=steps, guidance=guidance, seed=seed, batch_size=batch_size)
    d, m = label(r.images, depth=depth, saliency=saliency)
    parts = split_images(len(r.prompts), split_seed)
    return Study(r, d, m, parts, probe_grid(r, d, m, parts, epochs=epochs, progress=progress))


@dataclass
class SceneEdit:
    """One image generated again under an edit, beside the original: ``before`` / ``after`` images [H, W, 3];
    the object's ``old_mask``, the ``target`` mask it was moved to, and the estimator's ``after_mask``;
    ``scores``: Dice of the edited image's mask with the target and with the old mask (and, the baseline,
    of the unedited image's mask with the target), the estimator's disparity of the object before and after
    (the mean over its mask in each image), and the depth probe's reading there at the first step after the
    edited ones (the model's own response, not the edit itself), before and after."""

    before: np.ndarray
    after: np.ndarray
    old_mask: np.ndarray
    target: np.ndarray
    after_mask: np.ndarray
    scores: dict


def _chain(*edits):
    """One engine edit that applies several in turn (the mask move, then the depth push, at one site)."""
    def edit(out, ctx):
        for e in edits:
            out = e(out, ctx)
        return out
    return edit


def edit_scene(pipe, s: Study, index: int, *, dx: int = 0, dy: int = 0, target_mask=None, target_depth=None,
               push: float = 0.0, layers: list[str] | str | None = None, steps=range(5), iters: int = 128,
               lr: float = 5e-3, depth: Estimator | None = None, saliency: Estimator | None = None,
               on_step: Callable[[int], None] | None = None) -> SceneEdit:
    """Generate image ``index`` of the study again with its salient object moved by (``dx``, ``dy``) pixels,
    or to any ``target_mask`` ([H, W], the labels' size) (:class:`~.method.ProbeEdit` on the mask probes: the
    activation optimised until the probe reads the target mask); and/or with the depth probes steered to a
    ``target_depth`` map ([H, W], disparity: larger is nearer); and pushed nearer (``push > 0``) or farther
    along the depth probe (:class:`~.method.DepthPush`, at the object's new place); at ``layers`` (names, or
    ``"decoder"``, the default: the decoder's self-attention layers, as the paper edits; or ``"all"``: every
    layer the study probed) and the early ``steps``. Then label the new
    image with the estimators and score the change (with a ``target_depth``, also the RMSE of the new
    image's disparity to it, and of the unedited image's). The image is generated as the study generated
    it (steps, guidance, size, seed). ``on_step`` goes to :func:`~.method.run` (progress; raising there
    stops the generation)."""
    from .method import DepthPush, ProbeEdit, decoder_layers, dice, shifted

    _require(depth, saliency)
    r = s.run
    if not 0 <= index < len(r.prompts):
        raise ValueError(f"index {index} out of range: the study has images 0..{len(r.prompts) - 1}")
    if target_mask is not None and (dx or dy):
        raise ValueError("give either a shift (dx, dy) or a target_mask, not both")
    size = tuple(s.mask.shape[1:])
    for name, m in (("target_mask", target_mask), ("target_depth", target_depth)):
        if m is not None and np.shape(m) != size:
            raise ValueError(f"{name} must be {size[0]}x{size[1]} (the labels' size), got shape {np.shape(m)}")
    if isinstance(layers, str) and layers not in ("decoder", "all"):
        raise ValueError(f"layers must be layer names, 'decoder' or 'all', got {layers!r}")
    if layers == "all":
        layers = list(s.grid.layers)
    elif layers in (None, "decoder"):
        layers = [name for name in decoder_layers(pipe) if name in s.grid.layers] or s.grid.layers
    unknown = [name for name in layers if name not in s.grid.layers]
    if unknown:
        raise ValueError(f"no probes for {unknown}: the study's layers are {s.grid.layers}")
    steps = list(steps)
    old = s.mask[index]
    moved = target_mask is not None or bool(dx or dy)
    target = np.asarray(target_mask, dtype=bool) if target_mask is not None else shifted(old, dx, dy)
    edits = {}
    for name in layers:
        parts = []
        if moved:
            parts.append(ProbeEdit(s.grid.probes["mask"][name], target[None], steps, iters=iters, lr=lr))
        if target_depth is not None:
            parts.append(ProbeEdit(s.grid.probes["depth"][name], np.asarray(target_depth, np.float32)[None], steps,
                                   iters=iters, lr=lr))
        if push:
            parts.append(DepthPush(s.grid.probes["depth"][name], target[None], steps, push))
        if parts:
            edits[name] = _chain(*parts)
    again = run(pipe, [r.prompts[index]], steps=r.steps, guidance=r.guidance,
                size=r.size, seed=r.seeds[index], edits=edits,
                on_step=on_step)
    d_after, m_after = label(again.images, depth=depth, saliency=saliency)
    probe = s.grid.probes["depth"][layers[-1]]
    # read at the first step after the edited ones: the model's own response, not the edit written in (none
    # when every step is edited: NaN)
    last = max(steps) + 1 if steps else 0

    def reading(acts, region) -> float:  # the depth probe's mean over the region, at that step
        import torch

        if last >= r.steps:
            return float("nan")
        with torch.no_grad():
            z = probe.predict(acts[layers[-1]][:, last:last + 1].float())[0, 0].numpy()
        return float(z[region].mean()) if region.any() else float("nan")

    def over(depth_map, region) -> float:
        return float(depth_map[region].mean()) if region.any() else float("nan")

    scores = {"dice_target": float(dice(m_after, target[None])[0]), "dice_old": float(dice(m_after, old[None])[0]),
              "dice_target_unedited": float(dice(old[None], target[None])[0]),  # the baseline: no edit
              "disparity_before": over(s.depth[index], old), "disparity_after": over(d_after[0], m_after[0]),
              "probe_before": reading({k: v[index:index + 1] for k, v in r.activations.items()}, old),
              "probe_after": reading(again.activations, target.astype(bool))}
    if target_depth is not None:  # the estimator's disparity against the target map, edited and not
        def to_target(d):
            return float(np.sqrt(((d - target_depth) ** 2).mean()))
        scores.update(depth_rmse_target=to_target(d_after[0]), depth_rmse_target_unedited=to_target(s.depth[index]))
    return SceneEdit(r.images[index], again.images[0], old, target.astype(bool), m_after[0], scores)


def towards_middle(mask, shift: int = 6) -> int:
    """The translation the model card and the notebook ask of an object (mask [H, W]): ``shift`` pixels to
    the right when its centre is left of the middle by more than 4 pixels, else ``shift`` to the left
    (towards the middle, or out of it for an object already there)."""
    cols = np.nonzero(np.asarray(mask).any(0))[0]
    if not len(cols):
        raise ValueError("the mask is empty: there is no object to move")
    return shift if cols.mean() < np.shape(mask)[1] / 2 - 4 else -shift


def random_unet(pipe, seed: int = 0):
    """The same pipeline with a UNet of the same architecture and fresh random weights (the control)."""
    import torch
    from diffusers import UNet2DConditionModel

    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(pipe.unet.config)
    unet = unet.to(device=pipe.unet.device, dtype=pipe.unet.dtype).eval()
    return type(pipe)(**{**pipe.components, "unet": unet})


def control_run(pipe, r: SceneRun, seed: int = 0, batch_size: int = 16) -> SceneRun:
    """The random-init control, teacher-forced: a UNet of the same shape with random weights
    (:func:`random_unet`) reads, at every step, exactly the latents the trained UNet read in ``r``, with the
    same prompts, and its self-attention outputs are recorded (the conditional pass). Its probes see the
    trained run's own inputs, so what the trained probes read beyond the control's is what training put in
    the activations, not what the noisy latent already shows. (The paper names its control a randomly
    initialised UNet; this is how we feed it: a departure, recorded in docs/scenes.md.) The images and
    predictions are the trained run's, which the labels come from."""
    import torch

    from ..capture import capture
    from .method import _as_grids

    control = random_unet(pipe, seed)
    layers = list(r.activations)
    acts = {name: [] for name in layers}
    with torch.no_grad():
        for start in range(0, len(r.prompts), batch_size):
            chunk = r.prompts[start:start + batch_size]
            cond = control.encode_prompt(chunk, control.device, 1, False)[0]
            with capture(control, layers) as cache:
                for i, t in enumerate(r.timesteps):
                    control.unet(r.inputs[start:start + len(chunk), i].to(control.unet.dtype), t,
                                 encoder_hidden_states=cond)
            for name in layers:
                acts[name].append(_as_grids(cache[name]))
    return SceneRun(r.prompts, r.images, r.predictions, {k: torch.cat(v) for k, v in acts.items()}, r.seeds,
                    r.inputs, r.timesteps)
