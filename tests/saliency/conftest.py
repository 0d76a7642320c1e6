"""A tiny classifier for the saliency tests (seeded, eval mode) and the PAIR package's numpy-2 shims."""

import numpy as np
import pytest
import torch

from interpwidgets.saliency import Classifier
from interpwidgets.zoo import Preprocess


def tiny_net(classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(8, 8, 3, stride=2),
                               torch.nn.Softplus(), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(32, classes)).eval()


@pytest.fixture
def clf():
    return Classifier(tiny_net(), Preprocess(32, 32, (0.5,) * 3, (0.5,) * 3))


@pytest.fixture
def pictures():
    return np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)


@pytest.fixture
def pair(monkeypatch):
    """PAIR's ``saliency`` package with the two numpy-2 shims it needs (for this test only)."""
    core = pytest.importorskip("saliency.core")
    from saliency.metrics import pic

    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    return core, pic


def pair_model_function(clf: Classifier):
    """PAIR's ``call_model_function`` for a Classifier, as its PyTorch example writes it (softmax gradients,
    channels last)."""
    def call(xb, call_model_args=None, expected_keys=None):
        x = torch.tensor(np.asarray(xb), dtype=torch.float32).permute(0, 3, 1, 2).requires_grad_(True)
        s = clf.model(x).softmax(-1)[:, call_model_args["target"]]
        (g,) = torch.autograd.grad(s.sum(), x)
        return {"INPUT_OUTPUT_GRADIENTS": g.permute(0, 2, 3, 1).numpy()}
    return call
