"""Train / validation splits that keep groups whole and classes balanced."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["train_val_split"]


def train_val_split(labels, groups=None, val_frac: float = 0.2, seed: int = 0,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a stratified split; with ``groups``, no group straddles train and validation.

    Groups (e.g. the question each answer belongs to) are assigned whole, stratified by their
    majority label, so that validation measures generalisation to new groups.

    Parameters
    ----------
    labels
        ``[n]`` class labels (or ``None`` for an unstratified split, e.g. regression targets).
    groups
        ``[n]`` group ids, or ``None`` for one group per example.
    val_frac
        Fraction of examples (of groups, when given) held out.

    Examples
    --------
    >>> from interpwidgets.probes import train_val_split
    >>> tr, va = train_val_split([0, 1] * 10, groups=[i // 2 for i in range(20)], val_frac=0.2)
    >>> len(tr), len(va)
    (16, 4)
    """
    if not 0 < val_frac < 1:
        raise ValueError(f"val_frac must be between 0 and 1, got {val_frac}")
    n = len(labels) if labels is not None else len(groups)
    y = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels).reshape(n, -1)[:, 0]
    g = np.arange(n) if groups is None else np.asarray(groups)
    if len(g) != n:
        raise ValueError(f"groups has {len(g)} entries but there are {n} examples")
    rng = np.random.default_rng(seed)
    uniq, inverse = np.unique(g, return_inverse=True)
    classes, y_code = np.unique(y, return_inverse=True)
    # each group's majority label is its stratum: a (group x class) count table
    counts = np.bincount(inverse * len(classes) + y_code, minlength=len(uniq) * len(classes))
    stratum = counts.reshape(len(uniq), len(classes)).argmax(1)
    val_groups = []
    for s in np.unique(stratum):
        members = np.flatnonzero(stratum == s)
        rng.shuffle(members)
        val_groups.extend(members[: max(1, round(len(members) * val_frac))])
    is_val = np.isin(inverse, val_groups)
    if is_val.all() or not is_val.any():
        raise ValueError(f"cannot split {len(uniq)} group(s) into train and validation; give more groups")
    return torch.from_numpy(np.flatnonzero(~is_val)), torch.from_numpy(np.flatnonzero(is_val))
