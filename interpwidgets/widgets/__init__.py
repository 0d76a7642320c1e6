"""The widget base class and shared traits; each domain's widget lives in its domain package."""

from .base import STATIC, Widget, serves

__all__ = ["STATIC", "Widget", "serves"]
