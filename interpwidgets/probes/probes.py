"""fit_probes(): thousands of linear probes (every layer x head) fitted as one batched problem."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .metrics import accuracy, auc, r2, rmse
from .solvers import fit_logistic, fit_ridge
from .splits import train_val_split

__all__ = ["fit_probes", "ProbeResult", "mass_mean_direction", "random_direction", "rank"]

_CHUNK_BYTES = 16e6  # a chunk of probes' features: about half a server CPU's L3 (measured best of 2-64 MB)


def _as_tensor(x) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    return x


@dataclass
class ProbeResult:
    """Fitted probes over a batch of sites (e.g. layers x heads) and their metrics.

    ``weight`` is ``[*batch, d, k]`` and ``bias`` ``[*batch, k]``: ``k = 1`` for a binary
    logistic probe (the logit of ``classes[1]``) or a ridge probe, else one column per class.
    ``metrics`` maps ``"train_accuracy"``, ``"val_accuracy"``, ``"val_auc"`` (logistic) or
    ``"train_r2"``, ``"val_r2"``, ``"val_rmse"`` (ridge) to ``[*batch]`` tensors.
    """

    kind: str
    weight: torch.Tensor
    bias: torch.Tensor
    metrics: dict[str, torch.Tensor]
    classes: torch.Tensor | None
    train_idx: torch.Tensor
    val_idx: torch.Tensor
    l2: float
    iterations: torch.Tensor | None = None
    directions: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[:-2])

    def decision(self, features) -> torch.Tensor:
        """Scores ``[n, *batch, k]`` for features ``[n, *batch, d]``."""
        X = _as_tensor(features).to(self.weight.dtype)
        flat = X.reshape(X.shape[0], -1, X.shape[-1]).transpose(0, 1)  # [P, n, d]
        W = self.weight.reshape(-1, *self.weight.shape[-2:])
        z = torch.bmm(flat, W) + self.bias.reshape(-1, 1, self.bias.shape[-1])
        return z.transpose(0, 1).reshape(X.shape[0], *self.batch_shape, -1)

    def probabilities(self, features) -> torch.Tensor:
        """Class probabilities ``[n, *batch, classes]`` of a logistic probe (a binary probe's single logit is
        the score of ``classes[1]`` against ``classes[0]``)."""
        if self.kind != "logistic":
            raise ValueError(f"probabilities are for logistic probes; this one is {self.kind!r}")
        z = self.decision(features)
        if z.shape[-1] == 1:
            z = torch.cat([torch.zeros_like(z), z], -1)
        return z.softmax(-1)

    def predict(self, features) -> torch.Tensor:
        """Predicted labels (logistic) or values (ridge), ``[n, *batch]``."""
        z = self.decision(features)
        if self.kind == "ridge":
            return z[..., 0]
        idx = (z[..., 0] > 0).long() if z.shape[-1] == 1 else z.argmax(-1)
        return self.classes[idx]

    def top(self, k: int, metric: str = "val_accuracy") -> list[tuple[int, ...]]:
        """Batch indices of the ``k`` best probes by ``metric``, best first (see :func:`rank`: ties keep
        the batch order, NaN comes last)."""
        values = self.metrics[metric]
        if not 0 < k <= values.numel():
            raise ValueError(f"k must be between 1 and the number of probes ({values.numel()}), got {k}")
        return [tuple(int(i) for i in np.unravel_index(int(o), self.batch_shape)) for o in rank(values)[:k]]

    def direction(self, kind: str = "probe", features=None, labels=None, seed: int = 0) -> torch.Tensor:
        """Unit directions ``[*batch, d]``: ``"probe"`` weights, ``"mass_mean"`` or ``"random"``.

        ``mass_mean`` (mean of the positive class minus mean of the rest, on the training split)
        needs the ``features`` and ``labels`` the probes were fitted on, unless one was stored in
        ``directions`` (``ITI`` stores the one it edits with, over every example it was fitted on, as the
        paper's code does: then ``direction("mass_mean")`` is that one, not the training split's).
        """
        if kind == "probe":
            if self.weight.shape[-1] != 1:
                raise ValueError("a multiclass probe has one direction per class: use weight[..., c]")
            w = self.weight[..., 0]
            return w / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        if kind == "mass_mean":
            if features is None:
                if "mass_mean" in self.directions:
                    return self.directions["mass_mean"]
                raise ValueError("direction('mass_mean') needs features= and labels= (the training data)")
            X = _as_tensor(features)[self.train_idx]
            y = _as_tensor(labels)[self.train_idx]
            positive = y == (self.classes[-1] if self.classes is not None else 1)
            return mass_mean_direction(X, positive)
        if kind == "random":
            return random_direction((*self.batch_shape, self.weight.shape[-2]), seed=seed)
        raise ValueError(f"direction kind must be 'probe', 'mass_mean' or 'random', got {kind!r}")

    def save(self, path: str | Path) -> None:
        """Write to one safetensors file (tensors + metadata)."""
        from safetensors.torch import save_file

        tensors = {"weight": self.weight, "bias": self.bias, "train_idx": self.train_idx,
                   "val_idx": self.val_idx, **{f"metric.{k}": v for k, v in self.metrics.items()},
                   **{f"direction.{k}": v for k, v in self.directions.items()}}
        if self.classes is not None:
            tensors["classes"] = self.classes
        if self.iterations is not None:
            tensors["iterations"] = self.iterations
        meta = {"kind": self.kind, "l2": str(self.l2), "format": "interpwidgets.ProbeResult/1"}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> ProbeResult:
        """Read a file written by :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
            t = {k: f.get_tensor(k) for k in f.keys()}
        return cls(
            kind=meta["kind"], weight=t["weight"], bias=t["bias"], classes=t.get("classes"),
            metrics={k[7:]: v for k, v in t.items() if k.startswith("metric.")},
            directions={k[10:]: v for k, v in t.items() if k.startswith("direction.")},
            train_idx=t["train_idx"], val_idx=t["val_idx"], l2=float(meta["l2"]),
            iterations=t.get("iterations"),
        )

    def __repr__(self) -> str:
        main = "val_accuracy" if "val_accuracy" in self.metrics else "val_r2"
        m = self.metrics[main]
        return (f"ProbeResult({self.kind}, batch {self.batch_shape}, d={self.weight.shape[-2]}, "
                f"{main} mean {m.mean():.3f} max {m.max():.3f})")


def rank(values) -> np.ndarray:
    """Flat indices of ``values`` from best (largest) to worst: ties keep their order in the array, NaN last.

    The one ranking of probes in the package (``ProbeResult.top``, ``ITI.heads``, ``ProbeDashboard.top``),
    so every view of the same metrics picks the same heads.

    >>> rank(torch.tensor([[0.5, float("nan")], [0.9, 0.5]])).tolist()
    [2, 0, 3, 1]
    """
    v = _as_tensor(values).detach().double().flatten().cpu().numpy()
    missing = np.isnan(v)
    return np.lexsort((np.arange(len(v)), -np.where(missing, 0.0, v), missing))


def mass_mean_direction(features, positive) -> torch.Tensor:
    """Unit mean-difference directions: mean over ``positive`` rows minus mean over the rest.

    ``features`` is ``[n, *batch, d]``, ``positive`` a boolean ``[n]``; returns ``[*batch, d]``.
    """
    X = _as_tensor(features).float()
    pos = _as_tensor(positive).bool()
    if pos.all() or not pos.any():
        raise ValueError("mass_mean_direction needs examples of both classes")
    diff = X[pos].mean(0) - X[~pos].mean(0)
    return diff / diff.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def random_direction(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Seeded random unit directions of ``shape`` (last axis is the feature axis): the control."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(shape, generator=g)
    return v / v.norm(dim=-1, keepdim=True)


def fit_probes(features, labels, *, kind: str = "logistic", groups=None, val_frac: float = 0.2,
               split: tuple | None = None, l2: float = 1.0, max_iter: int = 100, tol: float = 1e-4,
               seed: int = 0, progress: bool | None = None) -> ProbeResult:
    """Fit one linear probe per site of a batch (e.g. every layer x head) as one torch problem.

    Parameters
    ----------
    features
        ``[n, *batch, d]``: n examples, any batch of sites (``[n, layers, heads, d_head]``), d features.
        A torch tensor (CPU or GPU) or a numpy array.
    labels
        ``[n]`` (shared by every probe) or ``[n, *batch]``: class labels for ``kind="logistic"``
        (two or more classes), real targets for ``kind="ridge"``.
    kind
        ``"logistic"`` (the objective of scikit-learn's ``LogisticRegression(C=1/l2)``) or ``"ridge"``.
    groups
        ``[n]`` group ids: the split keeps each group on one side (e.g. one question's answers).
    val_frac, split, seed
        Held-out fraction, or an explicit ``(train_idx, val_idx)``.
    l2
        L2 penalty on the weights (not the bias), added to the summed loss.
    progress
        Show a progress bar over chunks of probes (default: when there are several chunks).

    Returns
    -------
    ProbeResult

    Examples
    --------
    >>> import torch, interpwidgets as iw
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.randn(400, 3, 8, generator=g)              # 3 probes, 8 features
    >>> y = (X[:, 1, 0] > 0).long()                          # only probe 1 can read the label
    >>> res = iw.fit_probes(X, y)
    >>> res.metrics["val_accuracy"].argmax().item()
    1
    """
    X = _as_tensor(features)
    if not X.is_floating_point():
        X = X.float()
    if X.ndim < 2:
        raise ValueError(f"features must be [n, *batch, d], got shape {tuple(X.shape)}")
    n, batch, d = X.shape[0], tuple(X.shape[1:-1]), X.shape[-1]
    y = _as_tensor(labels).to(X.device)
    if y.shape[0] != n:
        raise ValueError(f"labels has {y.shape[0]} rows but features has {n} examples")
    if tuple(y.shape[1:]) not in {(), batch}:
        raise ValueError(f"labels must be [n] or [n, *batch] = [{n}, {', '.join(map(str, batch))}], "
                         f"got {tuple(y.shape)}")
    if not torch.isfinite(X.mean(0)).all():  # a NaN or inf anywhere reaches the mean; one cheap pass
        raise ValueError("features contain NaN or infinite values")
    if kind not in ("logistic", "ridge"):
        raise ValueError(f"kind must be 'logistic' or 'ridge', got {kind!r}")
    if kind == "logistic":
        classes, y_idx = torch.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"labels have one class only ({classes.tolist()}); a probe needs two or more")
        strat = y if y.ndim == 1 else None
    else:
        classes, y_idx, strat = None, y.to(X.dtype), None
    if split is None:
        if strat is None and groups is None:
            groups = np.arange(n)  # unstratified: every example its own group
        split = train_val_split(strat.cpu() if strat is not None else None, groups, val_frac, seed)
    train_idx, val_idx = (torch.as_tensor(i, dtype=torch.long) for i in split)

    P = math.prod(batch)
    flat = X.reshape(n, P, d)
    targets = y_idx.reshape(n, -1).expand(n, P)
    chunk = max(1, int(_CHUNK_BYTES // (len(train_idx) * d * X.element_size())))
    starts = range(0, P, chunk)
    bar = tqdm(starts, desc=f"{kind} probes", unit="chunk",
               disable=not (progress if progress is not None else len(starts) > 4))
    Ws, bs, its = [], [], []
    scores: dict[str, list[torch.Tensor]] = {"train": [], "val": []}
    train_dev, val_dev = train_idx.to(X.device), val_idx.to(X.device)
    for s in bar:
        part = flat[:, s:s + chunk]  # [n, m, d], a view
        Xc = _gather(part, train_dev)
        mu = Xc.mean(1, keepdim=True)  # [chunk, 1, d]
        Xc -= mu  # the solvers take centred features (Xc is this loop's own copy)
        yc = targets[train_dev, s:s + chunk].transpose(0, 1)
        if kind == "logistic":
            W, b, it = fit_logistic(Xc, yc, len(classes), l2=l2, max_iter=max_iter, tol=tol)
            its.append(it)
        else:
            W, b = fit_ridge(Xc, yc, l2=l2)
        scores["train"].append(torch.baddbmm(b.unsqueeze(1), Xc, W))  # [chunk, m, k], features still in cache
        b = b - torch.bmm(mu, W).squeeze(1)  # the bias for the features as given
        scores["val"].append(torch.baddbmm(b.unsqueeze(1), _gather(part, val_dev), W))
        Ws.append(W)
        bs.append(b)
    W = torch.cat(Ws).reshape(*batch, d, -1)
    b = torch.cat(bs).reshape(*batch, -1)
    result = ProbeResult(kind, W, b, {}, classes, train_idx, val_idx, l2,
                         torch.cat(its).reshape(batch) if its else None)
    result.metrics = _metrics(kind, {k: torch.cat(v) for k, v in scores.items()},
                              {"train": targets[train_dev].T, "val": targets[val_dev].T}, batch)
    return result


def _gather(part: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``part[rows]`` of ``[n, m, d]`` as ``[m, len(rows), d]``, contiguous: whole rows are copied into a
    transposed buffer (about twice as fast as gathering along the second axis of the transposed view)."""
    out = part.new_empty(part.shape[1], len(rows), part.shape[2])
    torch.index_select(part, 0, rows, out=out.transpose(0, 1))
    return out


def _metrics(kind: str, scores: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
             batch: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Per-probe metrics from scores ``[P, m, k]`` and targets ``[P, m]``, shaped ``[*batch]``."""
    out = {}
    for part, z in scores.items():
        t = targets[part]
        if kind == "ridge":
            out[f"{part}_r2"] = r2(z[..., 0], t)
            out[f"{part}_rmse"] = rmse(z[..., 0], t)
        else:
            pred = (z[..., 0] > 0).long() if z.shape[-1] == 1 else z.argmax(-1)
            out[f"{part}_accuracy"] = accuracy(pred, t)
            if z.shape[-1] == 1 and part == "val":
                out["val_auc"] = auc(z[..., 0], t)
    return {k: v.reshape(batch) for k, v in out.items()}
