"""The shapes world: one coloured shape on a textured background, the object's mask exact, and a small CNN
trained to name the shape (``train.py``), with its random-label twin for the sanity checks.

``load()`` gives the shipped CNN as a :class:`interpwidgets.saliency.Classifier`; ``dataset(n, split)`` the
images, masks and labels (fit, choose and test splits never share an image).

>>> from interpwidgets.worlds import shapes
>>> clf = shapes.load()
>>> d = shapes.dataset(8, "test")
>>> bool((clf.predict(d["images"]).argmax(-1) == d["labels"]).mean() > 0.5)
True
"""

from __future__ import annotations

from pathlib import Path

from ...zoo.images import Preprocess
from .data import CLASSES, SIZE, SPLITS, TEXTURES, dataset, draw
from .models import MEAN, STD

__all__ = ["CHECKPOINT", "RANDOM_LABELS", "PREPROCESS", "load", "dataset", "draw", "CLASSES", "TEXTURES", "SIZE",
           "SPLITS"]

HERE = Path(__file__).resolve().parent
CHECKPOINT, RANDOM_LABELS = HERE / "checkpoint", HERE / "checkpoint_random_labels"
PREPROCESS = Preprocess(SIZE, SIZE, MEAN, STD)


def load(path: str | Path = CHECKPOINT, output: str = "softmax"):
    """The shipped CNN (float32, CPU, eval mode) as a saliency ``Classifier``; ``path=RANDOM_LABELS`` gives the
    twin trained on shuffled labels."""
    from safetensors.torch import load_file

    from ...saliency import Classifier
    from .models import ShapesCNN

    path = Path(path)
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no shapes checkpoint at {path}: train one with "
                                f"`python -m interpwidgets.worlds.shapes.train --out {path}`")
    model = ShapesCNN()
    model.load_state_dict({k: v.float() for k, v in load_file(path / "model.safetensors").items()})
    return Classifier(model.eval(), PREPROCESS, classes=CLASSES, output=output)
