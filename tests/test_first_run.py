"""The first run, as a newcomer meets it: `make demo` serves the tour notebook at the URL it prints, its
kernel is not cut off from the Hub (only the tests and benchmarks are), and save_png says how to get what
it needs."""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_demo_serves_the_tour_at_the_url_it_prints():
    port = _free_port()
    plan = subprocess.run(["make", "-n", "demo", f"PORT={port}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    line = next(x for x in plan.replace("\\\n", " ").splitlines() if "jupyter lab" in x)
    argv = shlex.split(line)
    argv[0] = str(Path(sys.executable).parent / "jupyter")  # this environment's, wherever it is
    server = subprocess.Popen([*argv, "--no-browser", "--allow-root"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        printed, end = "", time.time() + 90
        while time.time() < end and "token=" not in printed:
            printed += server.stdout.readline()
        url = re.search(rf"http://127\.0\.0\.1:{port}/lab/tree/notebooks/00_tour\.ipynb\?token=(\w+)", printed)
        assert url, printed  # the tour's own URL, not the launcher's
        for _ in range(60):  # the URL is printed as the server starts listening
            try:
                page = urllib.request.urlopen(url.group(0), timeout=20).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert "JupyterLab" in page
        content = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks/00_tour.ipynb"
                                         f"?token={url.group(1)}&content=0", timeout=20).read().decode()
        assert '"type": "notebook"' in content
    finally:
        server.terminate()
        server.wait(timeout=30)


def _environment_of(target: str, setup: str) -> str:
    """HF_HUB_OFFLINE as `target`'s recipe sees it: a probe made a prerequisite of the target inherits its
    target-specific variables; `-o` keeps the set-up from being made, and the probe stops make before the
    target's own recipe runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "MAKEFLAGS", "MAKELEVEL")}
    probe = ["make", "-s", "-o", setup, "-o", "browser", "--eval", f"{target}: iw-probe",
             "--eval", 'iw-probe: ; @echo "[$$HF_HUB_OFFLINE]"; exit 3', target]
    return subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True).stdout.strip()


def test_the_demo_kernel_is_not_cut_off_from_the_hub():
    """HF_HUB_OFFLINE is set for `make test` (and `make bench`), not for `make demo`: the demo's kernel runs
    the README's example, which downloads GPT-2 the first time."""
    assert _environment_of("demo", ".venv/.lab") == "[]"
    assert _environment_of("test", ".venv/.test") == "[1]"


def test_save_png_without_playwright_says_how_to_install_it(tmp_path, monkeypatch):
    from interpwidgets.widgets import Widget

    class Plain(Widget):
        _esm = "export default { render({ el }) { el.textContent = 'hi'; } }"

    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # as if it were not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'interpwidgets\[export\]'"):
        Plain().save_png(tmp_path / "x.png")


def test_the_readmes_first_example_runs_as_written(monkeypatch):
    """The README's "Ten lines", run as they are; only the download of GPT-2 is replaced by a small GPT-2
    of the same shape per head (head size 64, at least 6 layers) with a shipped tokenizer."""
    import models
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    code = re.search(r"## Ten lines\n+```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    tok = models.minilm_tokenizer()
    small = GPT2LMHeadModel(GPT2Config(n_layer=6, n_embd=256, n_head=4, vocab_size=tok.vocab_size)).eval()
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda name, **kw: small)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda name, **kw: tok)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    cache = scope["cache"]
    assert len(cache) == 12 and cache["layers.5.attn.pattern"].shape[1] == 4
