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
from dataclasses import dataclass, field

import numpy as np
import torch

from ..capture import capture, intervene, sites

__all__ = ["SceneRun", "self_attention_layers", "run"]

_SCHEDULER_LOCK = threading.Lock()  # run() swaps the pipeline's scheduler for a recording one


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


@dataclass
class SceneRun:
    """What one generation recorded: ``prompts``; ``images`` [n, H, W, 3] in [0, 1]; ``predictions`` [n,
    steps, H, W, 3], the decoded prediction of the final image after each step; ``activations`` {site: [n,
    steps, d, h, w]} of the conditional pass (classifier-free guidance's unconditional half is left out)."""

    prompts: list[str]
    images: np.ndarray
    predictions: np.ndarray
    activations: dict[str, torch.Tensor] = field(repr=False)
    seeds: list[int] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return self.predictions.shape[1]


class _Recording:
    """The pipeline's scheduler, recording each step's prediction of the clean latents."""

    def __init__(self, inner):
        self._inner, self.predicted = inner, []

    def step(self, *args, **kwargs):
        kwargs["return_dict"] = True
        out = self._inner.step(*args, **kwargs)
        self.predicted.append(out.pred_original_sample.detach().clone())
        return out

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _check_prompts(prompts) -> list[str]:
    if isinstance(prompts, str):
        prompts = [prompts]
    prompts = list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompts must be a non-empty list of strings, got {prompts!r}")
    return prompts


def _decode(pipe, latents: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        x = pipe.vae.decode(latents.to(pipe.vae.dtype) / pipe.vae.config.scaling_factor).sample
    return ((x.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()


def run(pipe, prompts, *, steps: int = 15, guidance: float = 7.5, size: int | None = None, seed: int = 0,
        layers: list[str] | None = None, batch_size: int = 16, edits: dict | None = None) -> SceneRun:
    """Generate one image per prompt (image i from seed ``seed + i``) and record every self-attention
    output at every step, and each step's prediction of the final image.

    ``edits`` (site -> intervention) are applied while generating, through the engine's ``intervene``.
    """
    prompts = _check_prompts(prompts)
    layers = layers or self_attention_layers(pipe)
    size = size or pipe.unet.config.sample_size * pipe.vae_scale_factor
    images, preds, acts = [], [], {name: [] for name in layers}
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        gens = [torch.Generator().manual_seed(seed + start + i) for i in range(len(chunk))]
        with _SCHEDULER_LOCK:
            recorder = _Recording(pipe.scheduler)
            pipe.scheduler = recorder
            try:
                with capture(pipe, layers) as cache, intervene(pipe, edits or {}):
                    out = pipe(chunk, num_inference_steps=steps, guidance_scale=guidance, height=size,
                               width=size, generator=gens, output_type="latent")
            finally:
                pipe.scheduler = recorder._inner
        images.append(_decode(pipe, out.images))
        stacked = torch.stack(recorder.predicted, 1)  # [b, steps, c, h, w]
        preds.append(_decode(pipe, stacked.flatten(0, 1)).reshape(len(chunk), steps, size, size, 3))
        cfg = guidance > 1
        for name in layers:
            a = cache[name]  # [steps, (2 x) b, h*w, d]
            a = a[:, len(chunk):] if cfg else a
            side = int(math.isqrt(a.shape[2]))
            acts[name].append(a.permute(1, 0, 3, 2).reshape(len(chunk), steps, a.shape[3], side, side))
    return SceneRun(prompts, np.concatenate(images), np.concatenate(preds),
                    {k: torch.cat(v) for k, v in acts.items()}, list(range(seed, seed + len(prompts))))
