"""Spatial probes: one linear map per site, shared by every position of a feature map, whose output is
upsampled to the label's resolution before the loss (the probes of "Beyond Surface Statistics": a 1x1
linear layer on a UNet activation, read against a full-size depth map or salient-object mask).

Many sites (e.g. every denoising step of one layer) are fitted at once as one batched problem with Adam.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from .metrics import dice, rmse

__all__ = ["SpatialProbes", "fit_spatial_probes", "per_image_scores", "apply_probes", "object_dice"]


@dataclass
class SpatialProbes:
    """Fitted spatial probes for a batch of sites.

    ``weight`` is ``[*batch, d]`` and ``bias`` ``[*batch]`` (zeros for ``kind="depth"``), acting on the raw
    features; ``metrics`` holds ``val_dice`` (mask) or ``val_rmse`` (depth) per site, and the train scores.
    Dice is averaged over the images whose label mask holds an object (:func:`object_dice`).
    """

    kind: str
    weight: torch.Tensor
    bias: torch.Tensor
    size: tuple[int, int]
    metrics: dict[str, torch.Tensor]
    train_idx: torch.Tensor
    val_idx: torch.Tensor

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Maps ``[n, *batch, d, h, w]`` -> ``[n, *batch, H, W]``: mask logits or depth, at the label size."""
        batch = tuple(self.weight.shape[:-1])
        flat = features.reshape(features.shape[0], -1, *features.shape[-3:])
        out = apply_probes(flat, self.weight.reshape(-1, self.weight.shape[-1]), self.bias.reshape(-1), self.size)
        return out.reshape(features.shape[0], *batch, *self.size)


def object_dice(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice of binary masks along the last axis, NaN where ``target`` is empty: Dice is 1 when both masks are
    empty, so an image without an object would reward a probe that reads nothing; such images are left out
    of the means (``nanmean``)."""
    target = target.expand_as(pred).bool()
    return dice(pred, target).masked_fill(~target.any(-1), float("nan"))


def apply_probes(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[n, P, d, h, w] features, [P, d] weights, [P] biases -> [n, P, H, W] (bilinear upsampling)."""
    z = torch.einsum("npdhw,pd->nphw", x, w) + b[None, :, None, None]
    if tuple(z.shape[-2:]) == tuple(size):
        return z
    return F.interpolate(z, size=size, mode="bilinear", align_corners=False)


def _least_squares(flat: torch.Tensor, target: torch.Tensor, rows: torch.Tensor, size: tuple[int, int],
                   with_bias: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The least-squares probe of every site at the label's size, the start for Adam. Upsampling is linear,
    so this is the exact least-squares fit of the upsampled model; far fewer Adam epochs are needed from it."""
    P, d = flat.shape[1], flat.shape[2]
    k = d + with_bias
    gram, rhs = torch.zeros(P, k, k, dtype=torch.float64), torch.zeros(P, k, dtype=torch.float64)
    for part in rows.split(16):
        up = F.interpolate(flat[part].reshape(-1, d, *flat.shape[-2:]), size=size, mode="bilinear",
                           align_corners=False).reshape(len(part), P, d, -1)
        if with_bias:
            up = torch.cat([up, torch.ones_like(up[:, :, :1])], 2)
        up = up.double()
        gram += torch.einsum("npiq,npjq->pij", up, up)
        rhs += torch.einsum("npiq,nq->pi", up, target[part].reshape(len(part), -1).double())
    ridge = 1e-4 * gram.diagonal(dim1=1, dim2=2).mean(1)[:, None, None] * torch.eye(k, dtype=torch.float64)
    sol = torch.linalg.solve(gram + ridge, rhs).float()
    return sol[:, :d], sol[:, d] if with_bias else torch.zeros(P)


def fit_spatial_probes(features, labels, *, kind: str, split: tuple, epochs: int = 30, lr: float = 1e-3,
                       batch_size: int = 16, huber_delta: float = 1.0, seed: int = 0,
                       progress: bool | None = None) -> SpatialProbes:
    """Fit one spatial probe per site of a batch.

    Parameters
    ----------
    features
        ``[n, *batch, d, h, w]``: n images, any batch of sites (e.g. denoising steps), d channels on an
        h x w grid.
    labels
        ``[n, H, W]``: a boolean mask (``kind="mask"``: a logistic probe with a bias, scored by Dice of
        ``logit > 0``) or a real map (``kind="depth"``: a probe without bias, Huber loss, scored by RMSE).
    split
        ``(train_idx, val_idx)``: probes learn on the first, are scored on the second.
    epochs, lr, batch_size
        Adam over the training images, started from the least-squares probe (the paper starts Adam from
        scratch: the start changes how long it takes, not what is fitted). Features are divided by their
        per-site standard deviation while fitting (a scale only: the depth probe stays without bias); the
        weights returned act on raw features.

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.probes.spatial import fit_spatial_probes
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(40, 2, 4, 8, 8, generator=g)                  # 2 sites, 4 channels, 8x8
    >>> mask = torch.nn.functional.interpolate(x[:, 1, :1], size=16, mode="bilinear")[:, 0] > 0
    >>> res = fit_spatial_probes(x, mask, kind="mask", split=(range(30), range(30, 40)), epochs=20)
    >>> res.metrics["val_dice"].argmax().item()                          # only site 1 reads the mask
    1
    """
    if kind not in ("mask", "depth"):
        raise ValueError(f"kind must be 'mask' or 'depth', got {kind!r}")
    x = torch.as_tensor(features)
    if x.ndim < 4:
        raise ValueError(f"features must be [n, *batch, d, h, w], got shape {tuple(x.shape)}")
    y = torch.as_tensor(labels)
    if y.ndim != 3 or y.shape[0] != x.shape[0]:
        raise ValueError(f"labels must be [n, H, W] with n = {x.shape[0]} (the features' images), "
                         f"got shape {tuple(y.shape)}")
    y = y.float()
    n, batch, (d, h, w) = x.shape[0], tuple(x.shape[1:-3]), x.shape[-3:]
    size = tuple(y.shape[1:])
    flat = x.reshape(n, -1, d, h, w).float()
    P = flat.shape[1]
    train_idx, val_idx = (torch.as_tensor(list(i) if not torch.is_tensor(i) else i, dtype=torch.long)
                          for i in split)
    scale = flat[train_idx].transpose(0, 1).reshape(P, -1, d, h * w).std((1, 3)).clamp_min(1e-6)  # [P, d]
    g = torch.Generator().manual_seed(seed)
    w0, b0 = _least_squares(flat, y * 2 - 1 if kind == "mask" else y, train_idx, size, kind == "mask")
    weight = (w0 * scale).requires_grad_(True)  # in the scaled features' units
    bias = b0.requires_grad_(kind == "mask")
    opt = torch.optim.Adam([weight, bias] if kind == "mask" else [weight], lr=lr)
    bar = tqdm(range(epochs), desc=f"{kind} probes", unit="epoch",
               disable=not (progress if progress is not None else P * len(train_idx) > 20000))
    for _ in bar:
        for rows in train_idx[torch.randperm(len(train_idx), generator=g)].split(batch_size):
            z = apply_probes(flat[rows], weight / scale, bias, size)
            target = y[rows, None].expand_as(z)
            if kind == "mask":
                loss = F.binary_cross_entropy_with_logits(z, target)
            else:
                loss = F.huber_loss(z, target, delta=huber_delta)
            opt.zero_grad(set_to_none=True)
            (loss * P).backward()  # each site's loss at its own full size: sites do not share a step size
            opt.step()
    with torch.no_grad():
        weight, bias = (weight / scale).detach(), bias.detach()
        metrics = {}
        for part, rows in (("train", train_idx), ("val", val_idx)):
            z = torch.cat([apply_probes(flat[r], weight, bias, size) for r in rows.split(64)])  # [m, P, H, W]
            t = y[rows].reshape(len(rows), 1, -1).expand(-1, P, -1)
            z = z.reshape(len(rows), P, -1)
            if kind == "mask":  # Dice per image, averaged over images
                metrics[f"{part}_dice"] = object_dice(z > 0, t).nanmean(0)
            else:  # RMSE per image, averaged over images
                metrics[f"{part}_rmse"] = rmse(z, t).mean(0)
    return SpatialProbes(kind, weight.reshape(*batch, d), bias.reshape(batch), size,
                         {k: v.reshape(batch) for k, v in metrics.items()}, train_idx, val_idx)


def per_image_scores(probes: SpatialProbes, features: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Each image's Dice (mask; NaN for an image without an object, :func:`object_dice`) or RMSE (depth) per
    site, ``[n, *batch]``: what a bootstrap over images resamples."""
    with torch.no_grad():
        z = probes.predict(torch.as_tensor(features).float())
        n = z.shape[0]
        z = z.reshape(n, -1, z.shape[-2] * z.shape[-1])
        t = torch.as_tensor(labels).float().reshape(n, 1, -1).expand_as(z)
        s = object_dice(z > 0, t) if probes.kind == "mask" else rmse(z, t)
    return s.reshape(n, *probes.weight.shape[:-1]).numpy()
