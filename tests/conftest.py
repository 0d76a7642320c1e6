import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402
import torch  # noqa: E402

# make test runs two xdist workers on CI's two cores: one torch thread each, so that they do not fight over
# the cores (a single pytest process has both)
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
torch.set_num_threads(THREADS)

# The files that take minutes, slowest first (measured by --durations on CI): they start first, so that the
# two workers of `--dist loadfile --no-loadscope-reorder` end at about the same time instead of one waiting
# on a late long file.
_SLOW_FILES = ("tests/test_notebooks.py", "tests/worlds/test_truthful.py", "tests/worlds/test_scenes_card.py",
               "tests/worlds/test_shapes_card.py", "tests/zoo/test_smollm2_iti.py", "tests/browser/test_jupyterlab.py",
               "tests/worlds/test_othello_card.py", "tests/attention/test_view.py",
               "tests/browser/test_saliency_view.py", "tests/browser/test_othello_view.py",
               "tests/worlds/test_personas_card.py", "tests/browser/test_chat_dashboard.py",
               "tests/dashboard/test_method.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return _SLOW_FILES.index(path) if path in _SLOW_FILES else len(_SLOW_FILES)

    items.sort(key=rank)  # stable: the order within a file and among the rest is kept


@pytest.fixture(autouse=True)
def _torch_threads():
    """Training functions set torch's thread count; the next test gets the worker's back."""
    yield
    if torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)
