"""Jupyter servers and notebooks for the browser tests: start a server, write notebooks, run one in
Chromium, read what its kernel reports, move a slider as a person does."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(root: Path, app: list[str]):
    """Start a Jupyter server (``app``: the module and its own options) on a free port; its base URL, token."""
    port, token = free_port(), "iw-test-token"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".cfg"), "JUPYTER_RUNTIME_DIR": str(root / ".rt"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root / ".ws")}
    server = subprocess.Popen(
        [sys.executable, "-m", *app, "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
            return server, base, token
        except OSError:
            time.sleep(0.5)
    server.kill()
    pytest.fail(f"{app[0]} did not start")


def write_notebooks(root: Path, notebooks: dict[str, list[str]]) -> None:
    for name, cells in notebooks.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / f"{name}.ipynb")


def kernel_state(root: Path, until, timeout: float = 30.0, name: str = "state.json") -> dict:
    end = time.time() + timeout
    while time.time() < end:
        try:
            state = json.loads((root / name).read_text())
            if until(state):
                return state
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the kernel never reported the expected state; last: {(root / name).read_text()}")


def run_in_kernel(page, code: str) -> None:
    page.evaluate("""code => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel
                         .requestExecute({code}).done""", code)


def run_notebook(browser, url, height: int = 900):
    page = browser.new_page(viewport={"width": 1200, "height": height})
    page.goto(url)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel"
                           "?.connectionStatus === 'connected'", timeout=90000)
    # the code collapsed: the two views of a widget sit close enough to be on screen together
    page.evaluate("window.jupyterapp.commands.execute('notebook:hide-all-cell-code')")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return page


def move_slider(page, selector: str, value: float) -> None:
    """What a person's drag ends with: the value, an input event, then change on release."""
    page.locator(selector).evaluate("""(el, v) => { el.value = v; el.dispatchEvent(new Event('input'));
                                                    el.dispatchEvent(new Event('change')); }""", value)


@contextmanager
def jupyterlab(root: Path, notebooks: dict[str, list[str]]) -> Iterator[dict]:
    """A JupyterLab server over ``root`` with ``notebooks`` written there: ``{"root", "url_of": name -> URL}``."""
    write_notebooks(root, notebooks)
    server, base, token = serve(root, ["jupyterlab", "--LabApp.expose_app_in_browser=True"])
    try:
        yield {"root": root, "url_of": lambda name: f"{base}/lab/tree/{name}.ipynb?token={token}&reset"}
    finally:
        server.terminate()
        server.wait(timeout=20)
