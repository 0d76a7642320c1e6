"""Standalone exports of a widget: one offline HTML file, and a PNG rendered by headless Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ipywidgets.embed import escape_script

from .base import STATIC

__all__ = ["save_html", "save_png", "CHROMIUM_ARGS", "find_chromium"]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 16px; background: #fff; }}</style>
</head>
<body>
<script type="application/vnd.jupyter.widget-state+json">
{state}
</script>
<div class="iw-export" data-iw-model="{model_id}"></div>
<script type="module">
{host}
</script>
</body>
</html>
"""


def _script_safe(js: str) -> str:
    """JS to inline in a <script>: no sequence in it may end the element or open an HTML comment (in JS,
    ``<\\/script`` and ``<\\!--`` inside strings mean the same as before)."""
    return re.sub(r"<(/script|!--)", lambda m: "<\\" + m.group(1), js, flags=re.IGNORECASE)


def save_html(widget, path: str | os.PathLike, title: str | None = None, snapshot: bool = True) -> Path:
    """Write ``widget`` (with its state and code) as one HTML file that works from ``file://`` offline.

    The page holds the widget's state in ipywidgets' embed format (arrays as base64 buffers) with the
    answers to what its view shows (see ``Widget._snapshot``; ``snapshot=False``: code and state only, as
    the benchmarks use to weigh the snapshot), and our own small host (``js/host``), which renders the
    widget's ESM without a kernel: the page loads nothing from the network.
    """
    host = STATIC / "host.js"
    if not host.exists():
        raise FileNotFoundError(f"host.js missing from {STATIC}: it is built when the package is installed "
                                f"(pip install .), or by `make js`")
    state = {"version_major": 2, "version_minor": 0, "state": {widget.model_id: widget._embed_state(snapshot)}}
    path = Path(path)
    path.write_text(_PAGE.format(title=html.escape(title or type(widget).__name__), model_id=widget.model_id,
                                 state=escape_script(json.dumps(state)),
                                 host=_script_safe(host.read_text())))
    return path


def find_chromium() -> str:
    """The Chromium to drive: ``$IW_CHROMIUM``, else Debian's ``chromium`` on the PATH."""
    found = os.environ.get("IW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise FileNotFoundError("no Chromium found: install it (apt-get install chromium) or set IW_CHROMIUM")
    return found


# Our views mark an element (a canvas, an svg) data-drawn when they ask for its data and data-painted
# once it is drawn: the page is ready when the view has rendered, something is painted and nothing asked
# for is pending.
_DRAWN = """() => {
  const root = document.querySelector('.iw-export');
  if (!root || !root.querySelector('*')) return false;
  const parts = [...root.querySelectorAll('canvas, [data-drawn]')];
  return parts.length === 0 || (parts.some(c => c.dataset.painted)
                                && !parts.some(c => c.dataset.drawn && !c.dataset.painted));
}"""


def save_png(widget, path: str | os.PathLike, width: int = 1000, height: int = 700, timeout_ms: int = 20000) -> Path:
    """Render ``widget`` in headless Chromium (through :func:`save_html`) and save a PNG of it.

    The page grows to the widget's height, and the shot waits until the view's canvases are drawn
    (see ``_DRAWN``), so asynchronously painted parts are in the picture.

    Runs in a worker thread: Playwright's sync API refuses a thread with a running event loop, and a
    Jupyter kernel always has one.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="iw-png-") as tmp:
        page_file = widget.save_html(Path(tmp) / "widget.html")
        with ThreadPoolExecutor(1) as pool:
            pool.submit(_screenshot, page_file, path, width, height, timeout_ms).result()
    return path


def _screenshot(page_file: Path, path: Path, width: int, height: int, timeout_ms: int) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError("save_png drives a headless Chromium through Playwright, which is not installed: "
                                  "pip install 'interpwidgets[export]' (or playwright), and a Chromium "
                                  "(apt-get install chromium, or set IW_CHROMIUM)") from err

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_file.as_uri())
            view = page.locator(".iw-export").first
            view.wait_for(state="visible", timeout=timeout_ms)
            box = view.bounding_box()
            page.set_viewport_size({"width": width, "height": max(height, int(box["y"] + box["height"]) + 16)})
            page.wait_for_function(_DRAWN, timeout=timeout_ms)
            page.wait_for_timeout(100)
            view.screenshot(path=str(path))
        finally:
            browser.close()
