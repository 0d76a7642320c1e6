import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402

# make test runs two xdist workers on CI's two cores: one torch thread each, so that they do not fight over
# the cores (a single pytest process has both)
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)

# The files that take minutes, slowest first (measured by --durations on CI): they start first, so that the
# two workers of `--dist loadfile` end at about the same time instead of one waiting on a late long file.
_SLOW_FILES = ("test_notebooks.py", "test_truthful.py", "test_scenes_card.py", "test_shapes_card.py",
               "test_smollm2_iti.py", "test_jupyterlab.py", "test_view.py", "test_saliency_view.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return _SLOW_FILES.index(name) if name in _SLOW_FILES else len(_SLOW_FILES)

    items.sort(key=rank)  # stable: the order within a file and among the rest is kept
