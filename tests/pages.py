"""Helpers for browser tests of exported widget pages."""


def open_exported(page, widget, path, **traits):
    """Export ``widget`` with ``traits`` set (then restore them) and open the page."""
    before = {k: getattr(widget, k) for k in traits}
    try:
        for k, v in traits.items():
            setattr(widget, k, v)
        path = widget.save_html(path)
    finally:
        for k, v in before.items():
            setattr(widget, k, v)
    page.goto(path.as_uri())
