"""Inference-Time Intervention (Li et al. 2023): head-wise probes and truth directions."""

from .method import DIRECTIONS, ITI

__all__ = ["ITI", "DIRECTIONS"]
