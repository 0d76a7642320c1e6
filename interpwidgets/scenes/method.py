"""Scene geometry inside a latent diffusion model ("Beyond Surface Statistics", Chen, Viégas, Wattenberg
2023): run a diffusers Stable Diffusion pipeline, record the output of every UNet self-attention layer
(``attn1``, the engine's ``layers.{i}.attn.out``) at every denoising step, and the prediction of the final
image at every step.

Example
-------
>>> from interpwidgets.scenes.method import run
>>> from interpwidgets.worlds.scenes import models as m     # the scenes world's networks, random weights
>>> tok = m.build_tokenizer()
>>> pipe = m.assemble(m.build_vae(), m.build_text_encoder(tok), tok, m.build_unet())
>>> r = run(pipe, ["a red sphere near on the left", "a blue box far in the middle"], steps=3)
>>> r.images.shape, r.predictions.shape                  # [n, H, W, 3]; [n, steps, H, W, 3]
((2, 32, 32, 3), (2, 3, 32, 32, 3))
>>> len(r.activations), tuple(r.activations["layers.0.attn.out"].shape)  # 7 layers; [n, steps, d, h, w]
(7, (2, 3, 64, 16, 16))
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..capture import capture, intervene, sites

__all__ = ["SceneRun", "ProbeGrid", "ProbeEdit", "DepthPush", "self_attention_layers", "decoder_layers", "run",
           "probe_grid", "shifted", "dice"]

_LOCKS_LOCK = threading.Lock()


def _scheduler_lock(pipe) -> threading.Lock:
    """The pipeline's own lock around :func:`run`, which swaps its scheduler for a recording one (two runs on
    one pipeline take turns; runs on two pipelines do not wait for each other). A plain ``pipe(...)`` called
    on another thread meanwhile would step the recording scheduler: call ``run`` there too."""
    with _LOCKS_LOCK:
        if "_iw_scheduler_lock" not in pipe.__dict__:
            pipe.__dict__["_iw_scheduler_lock"] = threading.Lock()
        return pipe.__dict__["_iw_scheduler_lock"]


def self_attention_layers(pipe) -> list[str]:
    """The sites of the UNet's self-attention outputs (``attn1.to_out``), in execution order.

    Raises a ``ValueError`` naming what the pipeline holds when it has none (a pipeline without a UNet,
    or a UNet with no attention blocks).
    """
    unet = getattr(pipe, "unet", None)
    if unet is None:
        raise ValueError(f"expected a diffusers pipeline with a `unet`, got {type(pipe).__name__} "
                         f"(components: {sorted(getattr(pipe, 'components', {}))})")
    found = [s.name for s in sites(pipe, details=True) if s.kind == "attn_out"
             and not s.cross]
    if not found:
        blocks = [type(b).__name__ for b in (*unet.down_blocks, unet.mid_block, *unet.up_blocks) if b is not None]
        raise ValueError(f"{type(unet).__name__} has no self-attention blocks (its blocks: {blocks}); the "
                         f"probes read attn1 outputs, which CrossAttn*Block2D / UNetMidBlock2DCrossAttn hold")
    return found


def decoder_layers(pipe) -> list[str]:
    """The self-attention sites of the UNet's decoder (its up blocks), where the paper swaps its edits in."""
    return [s.name for s in sites(pipe, details=True) if s.kind == "attn_out" and not s.cross
            and s.path.startswith("up_blocks.")]


@dataclass
class SceneRun:
    """What one generation recorded: ``prompts``; ``images`` [n, H, W, 3] in [0, 1]; ``predictions`` [n,
    steps, H, W, 3], the decoded prediction of the final image after each step; ``activations`` {site: [n,
    steps, d, h, w]} of the conditional pass (classifier-free guidance's unconditional half is left out);
    ``inputs`` [n, steps, c, h, w], the latents the UNet read at each step, and their ``timesteps``."""

    prompts: list[str]
    images: np.ndarray
    predictions: np.ndarray
    activations: dict[str, torch.Tensor] = field(repr=False)
    seeds: list[int] = field(default_factory=list)
    inputs: torch.Tensor | None = field(default=None, repr=False)
    timesteps: list[float] = field(default_factory=list)
    guidance: float = 7.5
    size: int | None = None

    @property
    def steps(self) -> int:
        return self.predictions.shape[1]


class _Recording:
    """The pipeline's scheduler, recording each step's prediction of the clean latents, and what the UNet
    reads (the scaled latents, one copy: with guidance both halves are the same) at which timestep."""

    def __init__(self, inner, batch: int):
        import inspect

        # (no attribute may shadow the scheduler's own: `timesteps` is read through this proxy)
        self._inner, self._batch, self.predicted, self.inputs, self.read_at = inner, batch, [], [], []
        # the pipeline reads step()'s signature to pass eta and the generator (ancestral samplers need it)
        def step(*args, **kwargs):
            return self._step(*args, **kwargs)

        step.__signature__ = inspect.signature(inner.step)
        self.step = step

    def scale_model_input(self, sample, timestep=None):
        out = self._inner.scale_model_input(sample, timestep)
        self.inputs.append(out[-self._batch:].detach().clone())
        self.read_at.append(float(timestep))
        return out

    def _step(self, model_output, timestep, sample, *args, **kwargs):
        kwargs["return_dict"] = True
        out = self._inner.step(model_output, timestep, sample, *args, **kwargs)
        x0 = getattr(out, "pred_original_sample", None)
        self.predicted.append((x0 if x0 is not None else self._x0(model_output, timestep, sample)).detach().clone())
        return out

    def _x0(self, eps, timestep, sample):
        """The clean latents implied by an epsilon prediction (for schedulers that do not report them:
        PNDM, DPM-Solver): (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)."""
        config = self._inner.config
        if getattr(config, "prediction_type", "epsilon") != "epsilon" or not hasattr(self._inner, "alphas_cumprod"):
            raise ValueError(f"{type(self._inner).__name__} reports no prediction of the clean image and predicts "
                             f"{getattr(config, 'prediction_type', '?')!r}: use an epsilon-predicting scheduler, "
                             f"or one that reports pred_original_sample (LMS, Euler, DDIM, DDPM)")
        a = self._inner.alphas_cumprod.to(sample.device)[int(timestep)].to(sample.dtype)
        return (sample - (1 - a).sqrt() * eps) / a.sqrt()

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _check_prompts(prompts) -> list[str]:
    if isinstance(prompts, str):
        prompts = [prompts]
    prompts = list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompts must be a non-empty list of strings, got {prompts!r}")
    return prompts


def _each_step(on_step, start: int, steps: int, batch_size: int):
    """diffusers' step-end callback, reporting the steps done over every batch."""
    def callback(pipe, i, t, kwargs):
        on_step(start // batch_size * steps + i + 1)
        return kwargs
    return callback


def _as_grids(a: torch.Tensor) -> torch.Tensor:
    """A captured self-attention output, [calls, b, h*w, d], as feature maps [b, calls, d, h, w]."""
    side = int(math.isqrt(a.shape[2]))
    return a.permute(1, 0, 3, 2).reshape(a.shape[1], a.shape[0], a.shape[3], side, side)


def _decode(pipe, latents: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        x = pipe.vae.decode(latents.to(pipe.vae.dtype) / pipe.vae.config.scaling_factor).sample
    return ((x.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()


def run(pipe, prompts, *, steps: int = 15, guidance: float = 7.5, size: int | None = None, seed: int = 0,
        layers: list[str] | None = None, batch_size: int = 16, edits: dict | None = None,
        on_step: Callable[[int], None] | None = None) -> SceneRun:
    """Generate one image per prompt (image i from seed ``seed + i``) and record every self-attention
    output at every step, and each step's prediction of the final image.

    ``edits`` (site -> intervention) are applied while generating, through the engine's ``intervene``.
    ``on_step(done)`` is called after each denoising step with the steps done so far over every batch (a
    widget's progress; an exception raised there stops the run, the hooks removed).
    """
    prompts = _check_prompts(prompts)
    layers = layers or self_attention_layers(pipe)
    size = size or pipe.unet.config.sample_size * pipe.vae_scale_factor
    images, preds, inputs, acts = [], [], [], {name: [] for name in layers}
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        gens = [torch.Generator().manual_seed(seed + start + i) for i in range(len(chunk))]
        with _scheduler_lock(pipe):
            recorder = _Recording(pipe.scheduler, len(chunk))
            pipe.scheduler = recorder
            try:
                with capture(pipe, layers) as cache, intervene(pipe, edits or {}):
                    out = pipe(chunk, num_inference_steps=steps, guidance_scale=guidance, height=size,
                               width=size, generator=gens, output_type="latent",
                               callback_on_step_end=None if on_step is None else _each_step(on_step, start, steps,
                                                                                             batch_size))
            finally:
                pipe.scheduler = recorder._inner
        images.append(_decode(pipe, out.images))
        stacked = torch.stack(recorder.predicted, 1)  # [b, calls, c, h, w]: a step per UNet call (PNDM makes
        calls = stacked.shape[1]  # more calls than steps: its warm-up), as the capture counts them
        preds.append(_decode(pipe, stacked.flatten(0, 1)).reshape(len(chunk), calls, size, size, 3))
        inputs.append(torch.stack(recorder.inputs, 1))
        cfg = guidance > 1 and getattr(pipe.unet.config, "time_cond_proj_dim", None) is None  # as diffusers decides
        for name in layers:
            a = cache[name]  # [steps, (2 x) b, h*w, d]
            acts[name].append(_as_grids(a[:, len(chunk):] if cfg else a))
    return SceneRun(prompts, np.concatenate(images), np.concatenate(preds),
                    {k: torch.cat(v) for k, v in acts.items()}, list(range(seed, seed + len(prompts))),
                    torch.cat(inputs), recorder.read_at, guidance, size)


@dataclass
class ProbeGrid:
    """Depth and salient-object probes for every self-attention layer x denoising step.

    ``choose`` holds the mean score per [layer, step] on the choose split (what settings are chosen on),
    ``test`` the per-image scores [test images, layer, step] (reported only; Dice is NaN for an image whose
    label mask is empty, and such images are left out of every Dice mean); ``probes`` the fitted
    :class:`~interpwidgets.probes.spatial.SpatialProbes` per layer and kind (their batch axis: steps).
    """

    layers: list[str]
    steps: int
    choose: dict[str, np.ndarray]  # "dice" / "rmse": [layers, steps]
    test: dict[str, np.ndarray]  # "dice" / "rmse": [test images, layers, steps]
    probes: dict[str, dict[str, object]] = field(repr=False)  # kind -> layer -> SpatialProbes
    split: dict[str, np.ndarray] = field(repr=False)

    def best(self, metric: str) -> tuple[str, int]:
        """The (layer, step) with the best choose-split score: highest Dice, lowest RMSE."""
        grid = self.choose[metric]
        flat = int(np.nanargmax(grid) if metric == "dice" else np.nanargmin(grid))
        return self.layers[flat // self.steps], flat % self.steps

    def table(self, metric: str = "dice", split: str = "choose") -> str:
        """The layers x steps grid of one metric as a text table (the choose split's means, or the test
        split's), the chosen cell starred; what the heatmap shows, for a log or a paper's appendix."""
        if metric not in ("dice", "rmse") or split not in ("choose", "test"):
            raise ValueError(f"metric must be 'dice' or 'rmse' and split 'choose' or 'test', got {metric!r}, {split!r}")
        grid = self.choose[metric] if split == "choose" else np.nanmean(self.test[metric], 0)
        best = self.best(metric)
        width = max(len(name) for name in self.layers)
        lines = [f"{metric} ({split} split) by layer x step; * the cell chosen on the choose split",
                 " " * width + "".join(f"{t:>8d}" for t in range(self.steps))]
        for i, name in enumerate(self.layers):
            cells = [("   n/a " if np.isnan(v) else f"{v:7.3f}") + ("*" if (name, t) == best else " ")
                     for t, v in enumerate(grid[i])]
            lines.append(name.ljust(width) + "".join(cells))
        return "\n".join(lines)

    def summary(self, n_boot: int = 2000, seed: int = 0) -> dict:
        """JSON-ready: both heatmaps (choose and test means), and for each metric the setting chosen on the
        choose split with its test score and 95% interval over test images."""
        from ..stats import bootstrap
        from ..transport import json_grid

        out = {"layers": self.layers, "steps": self.steps,
               "images": {k: int(len(v)) for k, v in self.split.items()}}
        for metric in ("dice", "rmse"):
            layer, step = self.best(metric)
            per_image = self.test[metric][:, self.layers.index(layer), step]
            per_image = per_image[~np.isnan(per_image)]  # Dice: the images without an object are out
            mean, lo, hi = bootstrap(per_image, n_boot, seed)
            out[metric] = {"choose": json_grid(self.choose[metric]),  # NaN (no object in a split) as null
                           "test": json_grid(np.nanmean(self.test[metric], 0)),
                           "chosen": {"layer": layer, "step": step, "test": round(float(mean), 4),
                                      "test_lo": round(float(lo), 4), "test_hi": round(float(hi), 4),
                                      "test_images": int(len(per_image))}}
        return out


def probe_grid(run: SceneRun, depth, mask, split: dict, *, epochs: int = 30, lr: float = 1e-3,
               progress: bool = True) -> ProbeGrid:
    """Fit the salient-object (mask, Dice) and depth (no bias, Huber, RMSE) probes of every layer x step.

    ``depth`` and ``mask`` are the labels of the run's images ([n, H, W]); ``split`` maps ``"fit"``,
    ``"choose"`` and ``"test"`` to image indices: probes learn on fit, settings are chosen on choose, test is
    only scored.
    """
    from tqdm.auto import tqdm

    from ..probes.spatial import fit_spatial_probes, per_image_scores

    depth, mask = torch.as_tensor(np.asarray(depth)).float(), torch.as_tensor(np.asarray(mask)).bool()
    n = len(run.prompts)
    if depth.shape[0] != n or mask.shape[0] != n or depth.shape != mask.shape:
        raise ValueError(f"depth and mask must both be [{n}, H, W] (one per image of the run), got "
                         f"{tuple(depth.shape)} and {tuple(mask.shape)}")
    missing = {"fit", "choose", "test"} - set(split)
    if missing:
        raise ValueError(f"split needs 'fit', 'choose' and 'test' image indices; missing {sorted(missing)}")
    split = {k: np.asarray(v, dtype=int) for k, v in split.items()}
    has_object = mask.flatten(1).any(1).numpy()
    empty = [k for k in ("fit", "choose", "test") if not has_object[split[k]].any()]
    if empty:  # Dice counts only images with an object (object_dice): there would be nothing to fit or score
        raise ValueError(f"the saliency labels hold an object in {int(has_object.sum())} of {n} images and in no "
                         f"image of the {' or '.join(empty)} split: the salient-object probes need objects "
                         "(check the saliency estimator: a mask, or probabilities above 0.5 on the object)")
    layers = list(run.activations)
    choose = {"dice": np.zeros((len(layers), run.steps)), "rmse": np.zeros((len(layers), run.steps))}
    test = {"dice": np.zeros((len(split["test"]), len(layers), run.steps)),
            "rmse": np.zeros((len(split["test"]), len(layers), run.steps))}
    probes: dict[str, dict] = {"mask": {}, "depth": {}}
    for i, name in enumerate(tqdm(layers, desc="probes per layer", disable=not progress)):
        x = run.activations[name]
        for kind, labels, metric in (("mask", mask, "dice"), ("depth", depth, "rmse")):
            p = fit_spatial_probes(x, labels, kind=kind, split=(split["fit"], split["choose"]), epochs=epochs,
                                   lr=lr, progress=False)
            probes[kind][name] = p
            choose[metric][i] = p.metrics[f"val_{metric}"].numpy()
            test[metric][:, i] = per_image_scores(p, x[split["test"]], labels[split["test"]])
    return ProbeGrid(layers, run.steps, choose, test, probes, split)


def _per_image_maps(probes, maps, steps, what: str, meaning: str) -> tuple[torch.Tensor, set]:
    """An edit's per-image maps as a float tensor [n, H, W] at the probes' size, and its steps, checked."""
    t = torch.from_numpy(np.array(maps, dtype=np.float32))  # a copy: the maps may be read-only views
    if t.ndim != 3 or tuple(t.shape[1:]) != tuple(probes.size):
        raise ValueError(f"{what} must be [n, {probes.size[0]}, {probes.size[1]}] ({meaning}), got {tuple(t.shape)}")
    n_steps = probes.weight.shape[0]
    bad = [s for s in steps if not 0 <= s < n_steps]
    if bad:
        raise ValueError(f"steps {bad} out of range: the probes cover steps 0..{n_steps - 1}")
    return t, set(steps)


class ProbeEdit:
    """An edit for the engine's ``intervene``: at the chosen denoising steps, the self-attention output of
    one layer is optimised so that the layer's probe reads ``target`` (a mask: cross-entropy; a depth map:
    Huber), and the result is swapped into the denoising. Done online, step by step, so each step optimises
    the activation the edited run actually has (the paper's code: Adam, 5e-3, 128 iterations).

    ``probes`` are the layer's :class:`~interpwidgets.probes.spatial.SpatialProbes` (batch axis: steps);
    ``target`` is ``[n, H, W]`` for the n images of the run. Only the conditional pass is edited.
    """

    def __init__(self, probes, target, steps, iters: int = 128, lr: float = 5e-3):
        t, steps = _per_image_maps(probes, target, steps, "target", "the probes' label size")
        self.probes, self.target, self.steps, self.iters, self.lr = probes, t, steps, iters, lr

    def __call__(self, out: torch.Tensor, ctx) -> torch.Tensor:
        from torch.nn import functional as F

        from ..probes.spatial import apply_probes

        if ctx.call not in self.steps:
            return out
        b = len(self.target)
        if out.shape[0] not in (b, 2 * b):
            raise ValueError(f"the edit holds targets for {b} images, the UNet runs a batch of {out.shape[0]}")
        cond = out[-b:]  # with guidance, the conditional half comes second
        side = int(math.isqrt(cond.shape[1]))
        w = self.probes.weight[ctx.call][None].to(out.device, torch.float32)
        bias = self.probes.bias[ctx.call].reshape(1).to(out.device, torch.float32)
        # optimised in float32 whatever the model's dtype (Adam's steps underflow in fp16), cast back after
        a = cond.detach().float().transpose(1, 2).reshape(b, -1, side, side).clone().requires_grad_(True)
        opt = torch.optim.Adam([a], lr=self.lr)
        target = self.target.to(a.device)[:, None]
        with torch.enable_grad():
            for _ in range(self.iters):
                z = apply_probes(a[:, None], w, bias, self.probes.size)
                loss = (F.binary_cross_entropy_with_logits(z, target) if self.probes.kind == "mask"
                        else F.huber_loss(z, target))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        edited = a.detach().reshape(b, -1, side * side).transpose(1, 2).to(out.dtype)
        return torch.cat([out[:-b], edited]) if out.shape[0] == 2 * b else edited


class DepthPush:
    """The depth edit: push the salient object nearer (``magnitude > 0``) or farther (``< 0``) along the depth
    probe's direction. At the chosen steps, ``magnitude * w / |w|^2`` is added to the layer's self-attention
    output at the object's positions (``region`` [n, H, W], downsampled to the layer's grid), ``w`` that
    step's depth probe: the probe's reading there rises by exactly ``magnitude`` (disparity units, before
    upsampling). Only the conditional pass is edited; an engine intervention like :class:`ProbeEdit`.
    """

    def __init__(self, probes, region, steps, magnitude: float):
        if probes.kind != "depth":
            raise ValueError(f"DepthPush moves along a depth probe; these probes read {probes.kind!r}")
        r, steps = _per_image_maps(probes, region, steps, "region", "the object's mask per image, at the probes' "
                                   "label size")
        self.probes, self.region, self.steps, self.magnitude = probes, r, steps, float(magnitude)

    def __call__(self, out: torch.Tensor, ctx) -> torch.Tensor:
        from torch.nn import functional as F

        if ctx.call not in self.steps or self.magnitude == 0:
            return out
        b = len(self.region)
        if out.shape[0] not in (b, 2 * b):
            raise ValueError(f"the edit holds regions for {b} images, the UNet runs a batch of {out.shape[0]}")
        side = int(math.isqrt(out.shape[1]))
        w = self.probes.weight[ctx.call].to(out)
        # a latent cell belongs to the object when half of its pixels do
        cells = F.interpolate(self.region[:, None], size=(side, side), mode="area")[:, 0] >= 0.5
        delta = cells.reshape(b, -1, 1).to(out) * (self.magnitude * w / w.dot(w))
        return torch.cat([out[:-b], out[-b:] + delta]) if out.shape[0] == 2 * b else out + delta


def dice(pred, label) -> np.ndarray:
    """Dice overlap per image of two stacks of masks [n, H, W]; NaN where ``label`` is empty
    (:func:`~interpwidgets.probes.spatial.object_dice`: the probes' scores leave such images out too)."""
    from ..probes.spatial import object_dice

    def flat(m):
        return torch.from_numpy(np.array(m, dtype=bool)).flatten(-2)  # (a copy: broadcast views are read-only)

    return object_dice(flat(pred), flat(label)).numpy()


def shifted(mask, dx: int = 0, dy: int = 0) -> np.ndarray:
    """A mask (or map) moved by (dx, dy) pixels, the vacated edge filled with zeros: the counterfactual
    label of the paper's translation edit."""
    m = np.asarray(mask)
    out = np.zeros_like(m)
    h, w = m.shape[-2:]
    ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
    yd, xd = slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[..., ys, xs] = m[..., yd, xd]
    return out
