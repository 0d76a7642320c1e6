"""Batched linear probes: fit many logistic / ridge probes at once, score them, take directions."""

from .metrics import accuracy, auc, dice, r2, rmse
from .probes import ProbeResult, fit_probes, mass_mean_direction, random_direction, rank
from .spatial import SpatialProbes, fit_spatial_probes
from .splits import train_val_split

__all__ = [
    "ProbeResult", "ProbeDashboard", "SpatialProbes", "fit_probes", "fit_spatial_probes",
    "mass_mean_direction", "random_direction", "train_val_split",
    "accuracy", "auc", "dice", "r2", "rmse", "rank",
]


def __getattr__(name: str):
    if name == "ProbeDashboard":  # the widget: imported on first use (it needs anywidget)
        from .widget import ProbeDashboard

        return ProbeDashboard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
