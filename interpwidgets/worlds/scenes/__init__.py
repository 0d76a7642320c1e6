"""The scenes world ("Beyond Surface Statistics"): rendered 3-D scenes with exact depth and salient-object
masks, and a tiny latent diffusion model trained on them (``train.py``).

``load()`` gives the shipped ``StableDiffusionPipeline`` (float32, CPU) and the estimator that labels its
images; ``estimate(estimator, images)`` reads disparity, the salient object's mask and its attributes off
images, as the paper's MiDaS and TRACER did off Stable Diffusion's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import COLORS, COLUMNS, DISTANCES, SHAPES, dataset, render, sample_scene

__all__ = ["CHECKPOINT", "load", "estimate", "estimators", "dataset", "render", "sample_scene", "COLORS", "SHAPES",
           "COLUMNS", "DISTANCES"]

CHECKPOINT = Path(__file__).resolve().parent / "checkpoint"


def load(path: str | Path = CHECKPOINT, dtype=None):
    """The world's pipeline and estimator, in eval mode (float32 unless ``dtype`` is given)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import load_file

    from .models import Estimator

    path = Path(path)
    if not (path / "pipeline" / "model_index.json").exists():
        raise FileNotFoundError(f"no scenes checkpoint at {path}: train one with "
                                f"`python -m interpwidgets.worlds.scenes.train --out {path}`")
    dtype = dtype or torch.float32
    pipe = StableDiffusionPipeline.from_pretrained(path / "pipeline", dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    estimator = Estimator()
    estimator.load_state_dict({k: v.float() for k, v in load_file(path / "estimator.safetensors").items()})
    return pipe, estimator.eval().to(dtype)


def estimate(estimator, images, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Disparity [n, H, W], the salient object's mask [n, H, W] (bool), its attributes (indices into the
    world's lists) and the pooled features of the estimator, for images [n, H, W, 3] in [0, 1] (or uint8)."""
    import torch

    x = np.asarray(images)
    x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32)
    dtype = next(estimator.parameters()).dtype
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(estimator(torch.from_numpy(x[i:i + batch_size]).permute(0, 3, 1, 2).to(dtype)))
    cat = {k: torch.cat([o[k] for o in outs]).float() for k in outs[0]}
    return {"disparity": cat["disparity"].clamp(0, 1).numpy(), "mask": (cat["mask"] > 0).numpy(),
            "features": cat["pooled"].numpy(),
            **{k: cat[k].argmax(-1).numpy() for k in ("color", "shape", "column", "distance")}}


def estimators(estimator) -> dict:
    """``{"depth": fn, "saliency": fn}``: the estimator as the two label functions that
    :func:`interpwidgets.scenes.study.study` and :class:`interpwidgets.SceneProbeView` take (disparity and
    the salient object's mask of images [n, H, W, 3] in [0, 1])."""
    import threading

    last: dict = {}
    lock = threading.Lock()  # a widget's background edit and the notebook may label at once

    def read(images, key):  # both functions are called on the same images in turn: estimate them once
        with lock:
            if last.get("images") is not images:
                last.update(images=images, out=estimate(estimator, images))
            return last["out"][key]

    return {"depth": lambda images: read(images, "disparity"), "saliency": lambda images: read(images, "mask")}
