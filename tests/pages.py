"""Helpers for browser tests of exported widget pages."""


def open_exported(page, widget, path, also=(), **traits):
    """Export ``widget`` with ``traits`` set (then restore them) and open the page. ``also``: more
    ``(method, args)`` requests for the page to carry, so that a test can change the view in place."""
    before = {k: getattr(widget, k) for k in traits}
    shown = widget._snapshot_requests
    widget._snapshot_requests = lambda: [*shown(), *also]
    try:
        for k, v in traits.items():
            setattr(widget, k, v)
        path = widget.save_html(path)
    finally:
        del widget._snapshot_requests
        for k, v in before.items():
            setattr(widget, k, v)
    page.goto(path.as_uri())
