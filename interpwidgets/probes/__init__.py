"""Batched linear probes: fit many logistic / ridge probes at once, score them, take directions."""

from .metrics import accuracy, auc, dice, r2, rmse
from .probes import ProbeResult, fit_probes, mass_mean_direction, random_direction
from .splits import train_val_split
from .widget import ProbeDashboard

__all__ = [
    "ProbeResult", "ProbeDashboard", "fit_probes", "mass_mean_direction", "random_direction", "train_val_split",
    "accuracy", "auc", "dice", "r2", "rmse",
]
