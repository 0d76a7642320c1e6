"""The front end's size, measured by js/check.mjs (acorn): no function over the limit, small bundles."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).parents[1] / "js"
MAX_LINES = 120  # a function longer than this is several functions
MAX_BUNDLE = 64_000  # bytes, minified, per widget
MAX_HOST = 4_000  # the exported page's host


@pytest.fixture(scope="module")
def report():
    if shutil.which("node") is None or not (JS / "node_modules" / "acorn").exists():
        pytest.skip("needs Node.js and js/node_modules (npm ci in js/)")
    out = subprocess.run(["node", str(JS / "check.mjs")], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_no_function_is_over_the_limit(report):
    assert len(report["functions"]) > 100  # it read our sources
    long = [f for f in report["functions"] if f["lines"] > MAX_LINES]
    assert long == [], f"functions over {MAX_LINES} lines: {long}"


def test_bundles_are_small(report):
    bundles = report["bundles"]
    widgets = {"attention_patterns.js", "attention_view.js", "probe_dashboard.js", "iti_view.js", "scene_view.js"}
    assert widgets | {"host.js"} <= set(bundles)
    assert bundles["host.js"] <= MAX_HOST
    big = {k: v for k, v in bundles.items() if v > MAX_BUNDLE}
    assert big == {}, f"bundles over {MAX_BUNDLE} bytes: {big}"
