"""Inference-Time Intervention (Li et al. 2023): head-wise probes, truth directions, and the ITIView."""

from .method import DIRECTIONS, ITI, POSITIONS

__all__ = ["ITI", "ITIView", "DIRECTIONS", "POSITIONS"]


def __getattr__(name: str):
    if name == "ITIView":  # the widget: imported on first use (it needs anywidget)
        from .widget import ITIView

        return ITIView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
