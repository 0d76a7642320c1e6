"""Attention views: AttentionPatterns (the classic views) and AttentionView (AttentionViz)."""

from .patterns import AttentionPatterns
from .widget import AttentionView

__all__ = ["AttentionPatterns", "AttentionView"]
