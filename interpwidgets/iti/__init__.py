"""Inference-Time Intervention (Li et al. 2023): head-wise probes, truth directions, and the ITIView."""

from .method import DIRECTIONS, ITI
from .widget import ITIView

__all__ = ["ITI", "ITIView", "DIRECTIONS"]
