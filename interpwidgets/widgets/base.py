"""The base of every interpwidgets view: anywidget, binary arrays, and a lazy request channel.

A view that could show much (every head of a model) asks Python for what is on screen:

JS -> Python   ``{"kind": "request", "id": 7, "method": "head", "args": {"layer": 2, "head": 5}}``
Python -> JS   ``{"kind": "response", "id": 7, "result": {...arrays as buffers...}}``
               or ``{"kind": "response", "id": 7, "error": "ValueError: ..."}``

A method serves requests when decorated with :func:`serves`. Its result may hold arrays (encoded as
binary buffers by :func:`interpwidgets.transport.encode`); the buffers travel as frames beside the
JSON and ``buffer_paths`` says where they go back. An exception raised while serving becomes an
``error`` response and the ``error`` trait, which the view displays: nothing is swallowed, and the
widget's other state is left as it was.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import anywidget
import traitlets
from ipywidgets.widgets.widget import _remove_buffers

__all__ = ["Widget", "serves", "STATIC"]

STATIC = Path(__file__).resolve().parents[1] / "static"


def serves(name: str) -> Callable:
    """Mark a widget method as the handler of the view's ``name`` requests."""

    def mark(fn: Callable) -> Callable:
        fn._serves = name
        return fn

    return mark


class Widget(anywidget.AnyWidget):
    """Base class: subclasses name their JS bundle (``_bundle = "attention"``) and serve requests.

    Examples
    --------
    >>> from interpwidgets.widgets import Widget, serves
    >>> class Echo(Widget):
    ...     _esm = "export default { render() {} }"
    ...     @serves("echo")
    ...     def _echo(self, text):
    ...         return {"text": text.upper()}
    >>> w = Echo()
    >>> w._respond({"kind": "request", "id": 1, "method": "echo", "args": {"text": "hi"}})
    ({'kind': 'response', 'id': 1, 'result': {'text': 'HI'}, 'buffer_paths': []}, [])
    """

    _bundle: str | None = None
    error = traitlets.Unicode("").tag(sync=True)
    snapshot = traitlets.Dict({}).tag(sync=True)  # what an exported page shows with no kernel: see _snapshot

    _missing_bundle: Path | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        if cls.__dict__.get("_bundle"):
            path = STATIC / f"{cls._bundle}.js"
            if path.exists():
                cls._esm = path  # anywidget reads (and hot-reloads) the file
            else:  # importing stays possible in a checkout without built JS; making one is not
                cls._missing_bundle = path
        super().__init_subclass__(**kwargs)
        cls._handlers = {
            fn._serves: fn for klass in reversed(cls.__mro__) for fn in vars(klass).values()
            if callable(fn) and hasattr(fn, "_serves")
        }

    def __init__(self, **kwargs) -> None:
        missing = type(self)._missing_bundle
        if missing is not None:
            raise FileNotFoundError(f"the widget's JavaScript bundle {missing.name} is missing from "
                                    f"{missing.parent}: it is built when the package is installed "
                                    f"(pip install .), or by `make js`")
        super().__init__(**kwargs)
        self.on_msg(self._on_message)

    def _on_message(self, widget, content: dict, buffers: list) -> None:
        if isinstance(content, dict) and content.get("kind") == "request":
            reply, reply_buffers = self._respond(content)
            self.send(reply, reply_buffers)

    def _respond(self, content: dict) -> tuple[dict, list]:
        """Serve one request: the reply's JSON (with ``buffer_paths``) and its binary buffers."""
        rid, method = content.get("id"), content.get("method")
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise KeyError(f"{type(self).__name__} serves no request {method!r}; "
                               f"it serves {sorted(self._handlers)}")
            result = handler(self, **content.get("args", {}))
            reply = {"kind": "response", "id": rid, "result": result}
        except Exception as err:  # every failure goes back to the view
            message = f"{type(err).__name__}: {err}"
            self.error = message
            reply = {"kind": "response", "id": rid, "error": message,
                     "traceback": traceback.format_exc(limit=4)}
        state, paths, buffers = _remove_buffers(reply)
        state["buffer_paths"] = paths
        return state, buffers

    def _snapshot(self) -> dict:
        """The answers an exported page needs for what is on screen (views that ask Python override it)."""
        return {}

    def save_html(self, path, title: str | None = None):
        """Write this widget as one standalone HTML file that opens from ``file://`` with no network.

        The page carries ``_snapshot()`` for the view to read instead of asking the kernel; the live
        widget's ``snapshot`` is empty again afterwards, so it keeps asking Python.
        """
        from .export import save_html

        self.snapshot = self._snapshot()
        try:
            return save_html(self, path, title)
        finally:
            self.snapshot = {}

    def save_png(self, path, width: int = 1000, height: int = 700):
        """Render this widget in headless Chromium and save a PNG."""
        from .export import save_png

        return save_png(self, path, width, height)
