"""Multi-task probes: one classifier per site that reads many categorical labels at once from the same
features (the board probes of Othello-GPT: 64 squares x 3 states from one residual vector), linear or with
one hidden ReLU layer, for a batch of sites (e.g. every layer) fitted together with Adam on mini-batches.

The linear probe is the paper's ``BatteryProbeClassification`` (one ``d -> tasks x classes`` map) and the
MLP its ``BatteryProbeClassificationTwoLayer`` (``d -> hidden -> tasks x classes``, the hidden layer shared
by the tasks). Features are standardized per site on the training rows; the linear probe's
:meth:`MultiTaskProbes.raw_linear` folds that back into a map of the raw features (for edits along it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

__all__ = ["MultiTaskProbes", "fit_multitask_probes"]


@dataclass
class MultiTaskProbes:
    """Fitted probes for ``batch`` sites, each reading ``tasks`` labels of ``classes`` values.

    ``params`` holds ``[*batch, ...]`` tensors: ``w1 [*batch, d, h]``, ``b1 [*batch, h]`` (MLP only),
    ``w [*batch, h or d, tasks * classes]``, ``b [*batch, tasks * classes]``; ``mean`` / ``scale``
    ``[*batch, d]`` standardize the features. ``metrics``: ``val_accuracy`` ``[*batch]`` (over every task
    of the validation rows) and ``val_task_accuracy`` ``[*batch, tasks]``.
    """

    hidden: int
    tasks: int
    classes: int
    params: dict[str, torch.Tensor]
    metrics: dict[str, torch.Tensor]
    train_idx: torch.Tensor
    val_idx: torch.Tensor

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.params["mean"].shape[:-1])

    def logits(self, features: torch.Tensor, site: tuple[int, ...] | None = None) -> torch.Tensor:
        """``[n, *batch, d]`` -> ``[n, *batch, tasks, classes]``; with ``site`` (an index into the batch),
        ``[n, d]`` -> ``[n, tasks, classes]``, differentiable in the features."""
        p = self.params if site is None else {k: v[site] for k, v in self.params.items()}
        batch = self.batch_shape if site is None else ()
        n, d = features.shape[0], features.shape[-1]
        x = ((features - p["mean"]) / p["scale"]).reshape(n, -1, d).transpose(0, 1)  # [P, n, d]
        if self.hidden:
            x = F.relu(torch.baddbmm(p["b1"].reshape(-1, 1, self.hidden), x, p["w1"].reshape(-1, d, self.hidden)))
        w = p["w"].reshape(-1, x.shape[-1], self.tasks * self.classes)
        z = torch.baddbmm(p["b"].reshape(-1, 1, w.shape[-1]), x, w)
        return z.transpose(0, 1).reshape(n, *batch, self.tasks, self.classes)

    def predict(self, features: torch.Tensor, site: tuple[int, ...] | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.logits(features, site).argmax(-1)

    def raw_linear(self, site: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """A linear probe's map of the raw features at ``site``: ``W [d, tasks, classes]`` and
        ``b [tasks, classes]`` with ``logits = x @ W + b``."""
        if self.hidden:
            raise ValueError("raw_linear() is for linear probes (hidden=0); this one has a hidden layer")
        p = {k: v[site] for k, v in self.params.items()}
        W = p["w"] / p["scale"][:, None]
        b = p["b"] - (p["mean"] / p["scale"]) @ p["w"]
        return W.reshape(-1, self.tasks, self.classes), b.reshape(self.tasks, self.classes)


def fit_multitask_probes(features, labels, *, classes: int | None = None, hidden: int = 0,
                         split: tuple, epochs: int = 8, batch_size: int = 256, lr: float = 3e-3,
                         weight_decay: float = 1e-4, seed: int = 0, progress: bool = True) -> MultiTaskProbes:
    """Fit one multi-task probe per site of a batch.

    Parameters
    ----------
    features
        ``[n, *batch, d]`` (a site per batch index, e.g. ``[rows, layers, d]``).
    labels
        ``[n, tasks]`` integer classes ``0..classes-1``, shared by every site; ``-1`` where unknown
        (left out of the loss and the scores).
    hidden
        ``0`` for linear probes, else the width of the hidden ReLU layer.
    split
        ``(train_idx, val_idx)`` row indices; the metrics are on ``val_idx``.
    epochs, batch_size, lr, weight_decay
        AdamW over shuffled mini-batches of training rows, with a cosine decay of the rate.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.randn(10000, 2, 8, generator=g)            # 2 sites, 8 features
    >>> y = torch.stack([X[:, 1, 0] > 0, X[:, 1, 1] > 0], 1).long()  # 2 tasks that only site 1 holds
    >>> p = fit_multitask_probes(X, y, split=(torch.arange(8000), torch.arange(8000, 10000)), progress=False)
    >>> p.metrics["val_accuracy"].argmax().item(), bool(p.metrics["val_accuracy"][1] > 0.95)
    (1, True)
    """
    X = torch.as_tensor(features)
    X = X.float() if not X.is_floating_point() else X
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).long()
    if X.ndim < 2 or y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ValueError(f"features must be [n, *batch, d] and labels [n, tasks] with the same n; got "
                         f"{tuple(X.shape)} and {tuple(y.shape)}")
    classes = int(classes if classes is not None else y.max() + 1)
    if (y >= classes).any() or (y < -1).any():
        raise ValueError(f"labels must be classes 0..{classes - 1} (or -1 for unknown)")
    if hidden < 0:
        raise ValueError(f"hidden must be 0 (linear) or a width, got {hidden}")
    n, batch, d = X.shape[0], tuple(X.shape[1:-1]), X.shape[-1]
    P, tasks = math.prod(batch), y.shape[1]
    train_idx, val_idx = (torch.as_tensor(i, dtype=torch.long) for i in split)
    flat = X.reshape(n, P, d)
    g = torch.Generator().manual_seed(seed)
    mean = flat[train_idx].mean(0)  # [P, d]
    scale = flat[train_idx].std(0).clamp_min(1e-6)
    width = hidden or d
    params = {"mean": mean, "scale": scale}
    if hidden:
        params["w1"] = (torch.randn(P, d, hidden, generator=g) * math.sqrt(2 / d)).requires_grad_()
        params["b1"] = torch.zeros(P, hidden, requires_grad=True)
    params["w"] = torch.zeros(P, width, tasks * classes, requires_grad=True)  # convex when linear: start at 0
    params["b"] = torch.zeros(P, tasks * classes, requires_grad=True)
    trainable = [v for v in params.values() if v.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    probe = MultiTaskProbes(hidden, tasks, classes, params, {}, train_idx, val_idx)
    steps = epochs * math.ceil(len(train_idx) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    bar = tqdm(total=steps, desc=f"{'MLP' if hidden else 'linear'} probes", unit="step", disable=not progress)
    for _ in range(epochs):
        order = train_idx[torch.randperm(len(train_idx), generator=g)]
        for i in range(0, len(order), batch_size):
            rows = order[i:i + batch_size]
            z = probe.logits(flat[rows]).reshape(len(rows), P, tasks, classes)
            target = y[rows][:, None].expand(-1, P, -1)
            loss = F.cross_entropy(z.reshape(-1, classes), target.reshape(-1), ignore_index=-1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
    bar.close()
    for v in trainable:
        v.requires_grad_(False)
    probe.params = {k: v.detach().reshape(*batch, *v.shape[1:]) for k, v in params.items()}
    probe.metrics = _accuracy(probe, flat[val_idx], y[val_idx], batch)
    return probe


def _accuracy(probe: MultiTaskProbes, X: torch.Tensor, y: torch.Tensor, batch: tuple[int, ...]) -> dict:
    hits, known = torch.zeros(X.shape[1], probe.tasks), (y >= 0).sum(0).clamp_min(1)
    for i in range(0, len(X), 8192):
        pred = probe.predict(X[i:i + 8192].reshape(-1, *batch, X.shape[-1])).reshape(-1, X.shape[1], probe.tasks)
        hits += ((pred == y[i:i + 8192, None]) & (y[i:i + 8192, None] >= 0)).sum(0)
    task = hits / known
    overall = hits.sum(-1) / known.sum()
    return {"val_accuracy": overall.reshape(batch), "val_task_accuracy": task.reshape(*batch, probe.tasks)}
