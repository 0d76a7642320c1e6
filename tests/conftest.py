import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402

# the machines have 2 cores: 2 torch threads in a serial run, 1 in each of pytest-xdist's 2 workers
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
