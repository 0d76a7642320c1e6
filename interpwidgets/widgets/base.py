"""The base of every interpwidgets view: anywidget, binary arrays, requests, errors and exported pages.

A view that could show much (every head of a model) asks Python for what is on screen, through
anywidget's own request/response (``experimental.invoke`` in the view, one ``_iw_request`` command
here): every request has a unique id, the reply is read only by the view that asked, and the view
gives up with a visible message after a timeout (``js/lib/request.js``).

JS -> Python   ``{"method": "head", "args": {"layer": 2, "head": 5}}``
Python -> JS   ``{"result": {...arrays as buffers...}, "buffer_paths": [...]}``
               or ``{"error": "ValueError: ...", "traceback": "..."}``

A method serves requests when decorated with :func:`serves`. Its result may hold arrays (encoded as
binary buffers by :func:`interpwidgets.transport.encode`); the buffers travel as frames beside the
JSON and ``buffer_paths`` says where they go back. An exception raised while serving becomes an
``error`` reply and the ``error`` trait, which the view displays with its traceback on demand; the
widget's other state is left as it was, and the next success of the same kind clears the message.

An exported page (:meth:`Widget.save_html`) has no kernel: it carries the answers to the requests
that :meth:`Widget._snapshot_requests` names, keyed by :func:`request_key`, in its own copy of the
state; the live widget is not touched.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

import anywidget
import traitlets
from anywidget.experimental import command
from ipywidgets.widgets.widget import _remove_buffers

__all__ = ["Widget", "serves", "request_key", "STATIC"]

STATIC = Path(__file__).resolve().parents[1] / "static"
log = logging.getLogger("interpwidgets")
log.addHandler(logging.NullHandler())  # the view shows failures; a handler of the user's may log them too


def serves(name: str) -> Callable:
    """Mark a widget method as the handler of the view's ``name`` requests."""

    def mark(fn: Callable) -> Callable:
        fn._serves = name
        return fn

    return mark


def request_key(method: str, args: dict) -> str:
    """The name of a request's answer in an exported page: the method, then its arguments as JSON with
    sorted keys (``js/lib/request.js`` builds the same string).

    >>> request_key("points", {"layer": 2, "head": 5})
    'points{"head":5,"layer":2}'

    Arguments are flat ints and strings (what views ask with): for those the two sides agree exactly.
    """
    bad = {k: type(v).__name__ for k, v in args.items() if not isinstance(v, int | str) or isinstance(v, bool)}
    if bad:
        raise TypeError(f"request arguments must be ints or strings, got {bad}")
    return method + json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    >>> w._respond("echo", {"text": "hi"})
    ({'result': {'text': 'HI'}, 'buffer_paths': []}, [])
    """

    _bundle: str | None = None
    error = traitlets.Unicode("").tag(sync=True)  # the latest failure, shown by the view
    error_traceback = traitlets.Unicode("").tag(sync=True)  # its traceback, shown on demand
    snapshot = traitlets.Dict({}).tag(sync=True)  # empty while live: only an exported page's copy holds answers

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
        self._error_source: str | None = None
        self._error_lock = threading.Lock()
        self._jobs: list = []  # interpwidgets.widgets.jobs.Job registers itself here: stopped on close()
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ errors
    def _report(self, source: str, err: BaseException | str, what: str | None = None) -> None:
        """Show a failure of ``source`` (a request with its arguments, a setting, a background job) with its
        traceback, and log it; ``what`` names it in the message (default: the source)."""
        what = source if what is None else what
        tb = None
        if isinstance(err, BaseException):
            message = f"{what}: {type(err).__name__}: {err}"
            tb = "".join(traceback.format_exception(err))
        else:
            message = f"{what}: {err}" if what else err
        log.warning("%s %s", type(self).__name__, message, exc_info=err if isinstance(err, BaseException) else None)
        with self._error_lock:
            self._error_source = source
            self.error_traceback = tb or ""
            self.error = message

    def _resolved(self, source: str) -> None:
        """``source`` worked: clear the message if it was the one that failed last."""
        with self._error_lock:
            if self._error_source == source:
                self._error_source = None
                self.error, self.error_traceback = "", ""

    # ------------------------------------------------------------------ requests
    @command
    def _iw_request(self, msg: dict, buffers: list) -> tuple[dict, list]:
        if not isinstance(msg, dict):
            return {"error": f"a request must be {{'method', 'args'}}, got {type(msg).__name__}"}, []
        return self._respond(msg.get("method"), msg.get("args") or {})

    def _respond(self, method: str, args: dict) -> tuple[dict, list]:
        """Serve one request: the reply's JSON (with ``buffer_paths``) and its binary buffers."""
        handler = self._handlers.get(method)
        try:
            source = request_key(method, args)  # its success clears its own failure, not another head's
        except TypeError:
            source = f"request {method!r}"
        try:
            if handler is None:
                raise KeyError(f"{type(self).__name__} serves no request {method!r}; "
                               f"it serves {sorted(self._handlers)}")
            reply = {"result": handler(self, **args)}
        except Exception as err:  # every failure goes back to the view, and to the error trait
            self._report(source, err, what=f"request {method!r}")
            return {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(limit=6),
                    "buffer_paths": []}, []
        self._resolved(source)
        state, paths, buffers = _remove_buffers(reply)
        state["buffer_paths"] = paths
        return state, buffers

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close every view, and stop this widget's background jobs (they are not waited for)."""
        for job in list(getattr(self, "_jobs", ())):  # (a widget whose __init__ failed has none)
            job.close()
        super().close()

    # ------------------------------------------------------------------ exports
    def _snapshot_requests(self) -> Iterable[tuple[str, dict]]:
        """The requests an exported page answers from its snapshot: what the view asks for on screen now."""
        return ()

    def _snapshot(self) -> dict:
        """The answers an exported page carries, keyed by :func:`request_key` (``exported`` marks the page:
        a request it does not carry fails at once, with a message, instead of waiting for a kernel)."""
        answers = {request_key(m, a): self._handlers[m](self, **a) for m, a in self._snapshot_requests()}
        return {"exported": True, **answers}

    def _embed_state(self, snapshot: bool = True) -> dict:
        """This widget's embed state (as ``ipywidgets.embed`` writes it) with the snapshot added, built
        beside the live model: the open views see no change."""
        from base64 import standard_b64encode

        state = self._get_embed_state(drop_defaults=False)  # anywidget's _esm is a default: keep it
        if not snapshot:
            return state
        snap, paths, buffers = _remove_buffers({"snapshot": self._snapshot()})
        state["state"]["snapshot"] = snap["snapshot"]
        state.setdefault("buffers", []).extend(
            {"encoding": "base64", "path": p, "data": standard_b64encode(b).decode("ascii")}
            for p, b in zip(paths, buffers, strict=True))
        return state

    def save_html(self, path, title: str | None = None):
        """Write this widget as one standalone HTML file that opens from ``file://`` with no network.

        The page carries the answers to what is on screen (``_snapshot()``), so it shows what the
        live view shows; a view asked for something it does not carry says so.
        """
        from .export import save_html

        return save_html(self, path, title)

    def save_png(self, path, width: int = 1000, height: int = 700):
        """Render this widget in headless Chromium and save a PNG (needs Playwright: ``pip install
        'interpwidgets[export]'``, and a Chromium)."""
        from .export import save_png

        return save_png(self, path, width, height)
