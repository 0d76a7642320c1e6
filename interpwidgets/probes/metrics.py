"""Probe metrics, batched over probes: the last axis holds examples."""

from __future__ import annotations

import torch

__all__ = ["accuracy", "auc", "r2", "rmse", "dice"]


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of equal entries along the last axis."""
    return (pred == target).float().mean(-1)


def auc(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve for binary targets (Mann-Whitney U; tied scores share their mean rank)."""
    target = target.expand_as(scores).bool()
    sorted_scores, order = scores.sort(-1)
    new_value = torch.ones_like(sorted_scores, dtype=torch.bool)
    new_value[..., 1:] = sorted_scores[..., 1:] != sorted_scores[..., :-1]
    tie_group = new_value.long().cumsum(-1) - 1
    position = torch.arange(1, scores.shape[-1] + 1, dtype=scores.dtype, device=scores.device).expand_as(scores)
    total = torch.zeros_like(sorted_scores).scatter_add_(-1, tie_group, position)
    count = torch.zeros_like(sorted_scores).scatter_add_(-1, tie_group, torch.ones_like(position))
    ranks = torch.empty_like(scores).scatter_(-1, order, total.gather(-1, tie_group) / count.gather(-1, tie_group))
    n_pos = target.sum(-1).to(scores.dtype)
    n_neg = target.shape[-1] - n_pos
    u = (ranks * target).sum(-1) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg).clamp_min(1)


def r2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Coefficient of determination along the last axis."""
    target = target.expand_as(pred)
    ss_res = ((target - pred) ** 2).sum(-1)
    ss_tot = ((target - target.mean(-1, keepdim=True)) ** 2).sum(-1)
    return 1 - ss_res / ss_tot.clamp_min(1e-12)


def rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Root mean squared error along the last axis."""
    return ((pred - target.expand_as(pred)) ** 2).mean(-1).sqrt()


def dice(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice overlap of binary masks along the last axis (1 when both are empty)."""
    pred, target = pred.bool(), target.expand_as(pred).bool()
    inter = (pred & target).sum(-1).float()
    total = pred.sum(-1).float() + target.sum(-1).float()
    return torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total))
