"""Attention views: AttentionPatterns (the classic views) and AttentionView (AttentionViz)."""

__all__ = ["AttentionPatterns", "AttentionView"]


def __getattr__(name: str):
    """The widgets, imported on first use (they need anywidget); ``attention.method`` imports without them."""
    if name == "AttentionPatterns":
        from .patterns import AttentionPatterns

        return AttentionPatterns
    if name == "AttentionView":
        from .widget import AttentionView

        return AttentionView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
