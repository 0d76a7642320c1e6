"""Attention views: AttentionPatterns (the classic views), AttentionView (AttentionViz) next."""

from .patterns import AttentionPatterns

__all__ = ["AttentionPatterns"]
