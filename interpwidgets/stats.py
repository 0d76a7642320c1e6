"""Intervals: the bootstrap shared by every study (questions, images, games are what is resampled)."""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap", "ratio_bootstrap", "interval", "resample_weights", "resample_indices"]


def resample_weights(n: int, groups=None, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``[n_boot, n]``: how often each question is drawn in each bootstrap replicate. With ``groups`` (e.g. a
    question's creature) whole groups are drawn (a cluster bootstrap: a creature's questions are not
    independent), each replicate as many groups as there are."""
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, n, size=(n_boot, n))
        return np.stack([np.bincount(i, minlength=n) for i in idx])
    uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    if len(inverse) != n:
        raise ValueError(f"{len(inverse)} group labels for {n} questions: give one per question")
    idx = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
    return np.stack([np.bincount(i, minlength=len(uniq)) for i in idx])[:, inverse]


def bootstrap(correct, n_boot: int = 2000, seed: int = 0, level: float = 0.95, groups=None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean over the last axis (questions) of ``correct`` and its percentile interval, from ``n_boot``
    resamples of the questions, or of their ``groups`` (the same resamples for every leading index, so curves
    stay comparable)."""
    c = np.asarray(correct, dtype=np.float64)
    w = resample_weights(c.shape[-1], groups, n_boot, seed)
    means = (c @ w.T) / w.sum(1)  # [..., n_boot]
    tail = (1 - level) / 2 * 100
    return c.mean(-1), np.percentile(means, tail, axis=-1), np.percentile(means, 100 - tail, axis=-1)


def ratio_bootstrap(numerator, denominator, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pooled rate ``sum(numerator) / sum(denominator)`` over units (the last axis: e.g. per game, its
    wrong moves and its moves) and its percentile interval from resampling the units, so that a game of many
    positions weighs as much as it does in the pooled rate.

    >>> rate, lo, hi = ratio_bootstrap([1, 0, 3], [10, 10, 20])
    >>> float(rate)
    0.1
    """
    num, den = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    w = resample_weights(num.shape[-1], None, n_boot, seed)
    rates = (num @ w.T) / (den @ w.T)  # [..., n_boot]
    tail = (1 - level) / 2 * 100
    return (num.sum(-1) / den.sum(-1), np.percentile(rates, tail, axis=-1),
            np.percentile(rates, 100 - tail, axis=-1))


def resample_indices(n: int, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``[n_boot, n]`` indices drawn with replacement: the replicates of :func:`resample_weights` as index
    lists, for statistics that are not means (a median curve, an AUC of it)."""
    w = resample_weights(n, None, n_boot, seed)
    return np.stack([np.repeat(np.arange(n), row) for row in w])


def interval(values, n_boot: int = 2000) -> dict:
    """A model card's entry: the mean of ``values`` (NaN left out: e.g. the Dice of an image without an
    object) with its 95% bootstrap interval and the count, rounded to 4 decimals.

    >>> interval([1, 0, 1, 1, float("nan")])["n"]
    4
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    mean, lo, hi = bootstrap(v, n_boot)
    return {"mean": round(float(mean), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4), "n": len(v)}
