"""The widget base class and shared traits; each domain's widget lives in its domain package."""

from .base import STATIC, Widget, request_key, serves

__all__ = ["STATIC", "Widget", "request_key", "serves"]
