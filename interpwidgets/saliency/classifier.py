"""An image classifier as the saliency methods see it: pictures in (uint8, at the model's size), class
scores out, gradients with respect to the normalised pixels.

Every method works on *pictures*: ``[n, S, S, 3]`` uint8 at the size the model reads (what a map is drawn
on, what the PIC metric blurs). Images of another size are resized and centre-cropped by the classifier's
``Preprocess`` (and a warning says which); ``pixels`` normalises pictures into the model's input.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from ..zoo.images import Preprocess, _single, to_rgb

__all__ = ["Classifier", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's and timm's defaults
IMAGENET_STD = (0.229, 0.224, 0.225)
OUTPUTS = ("softmax", "logit")


class Classifier:
    """A PyTorch image classifier (``model(pixels) -> [batch, classes]``) with its preprocessing.

    Parameters
    ----------
    model
        Any ``nn.Module`` taking ``[n, 3, S, S]`` normalised pixels and returning logits ``[n, classes]``
        (or an object with ``.logits``: Hugging Face classifiers). Put in eval mode (said) if it is not.
    preprocess
        How images become its input (``zoo.Preprocess``); its ``crop`` is the size ``S``. Default: torchvision's
        ImageNet recipe (shorter side 256, centre crop 224, ImageNet mean and std).
    classes
        Class names (default ``"class i"``).
    output
        What the methods explain: ``"softmax"`` (the class probability: the paper's and PAIR's choice) or
        ``"logit"`` (Captum's usual choice).

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.saliency import Classifier
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    >>> clf = Classifier(net.eval(), Preprocess(32, 32, (0.5,) * 3, (0.5,) * 3))
    >>> clf.pictures([np.zeros((32, 32, 3), np.uint8)]).shape, clf.predict(np.zeros((1, 32, 32, 3), np.uint8)).shape
    ((1, 32, 32, 3), (1, 4))
    """

    def __init__(self, model: torch.nn.Module, preprocess: Preprocess | None = None, *,
                 classes: Sequence[str] | None = None, output: str = "softmax"):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model is a {type(model).__name__}: give a torch.nn.Module image classifier")
        if output not in OUTPUTS:
            raise ValueError(f"output={output!r}: choose one of {OUTPUTS}")
        if preprocess is None:
            preprocess = Preprocess(256, 224, IMAGENET_MEAN, IMAGENET_STD)
        if preprocess.crop is None:
            raise ValueError("the preprocess must crop to a square (crop=None resizes without one): give crop=S")
        if model.training:
            warnings.warn("the model was in training mode (BatchNorm and dropout would mix the images of a batch): "
                          "put in eval mode", stacklevel=2)
            model.eval()
        self.model, self.preprocess, self.output = model, preprocess, output
        self.size = preprocess.crop
        p = next(model.parameters(), None)
        self.device = p.device if p is not None else torch.device("cpu")
        self.dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
        self._classes = None if classes is None else list(classes)

    @classmethod
    def efficientnet_lite0(cls, output: str = "softmax") -> Classifier:
        """EfficientNet-Lite0 on ImageNet, from the project's offline model zoo."""
        from ..zoo import efficientnet_lite0

        model, preprocess, classes = efficientnet_lite0()
        return cls(model, preprocess, classes=classes, output=output)

    def __repr__(self) -> str:
        return f"Classifier({type(self.model).__name__}, size={self.size}, classes={self.num_classes}, " \
               f"output={self.output!r})"

    @property
    def num_classes(self) -> int:
        if self._classes is None:
            self._classes = [f"class {i}" for i in range(self._logits(self._blank()).shape[1])]
        return len(self._classes)

    @property
    def classes(self) -> list[str]:
        self.num_classes  # noqa: B018 (measured from the model when no names were given)
        return self._classes

    def _blank(self) -> torch.Tensor:
        return torch.zeros(1, 3, self.size, self.size, device=self.device, dtype=self.dtype)

    # -- pictures and pixels -------------------------------------------------------------------------------
    def pictures(self, images) -> np.ndarray:
        """``[n, S, S, 3]`` uint8 from one image or several (PIL, arrays; grey and RGBA converted). Images
        already ``S x S`` are kept as they are; others are resized and centre-cropped, with a warning."""
        items = [images] if _single(images) else list(images)
        if not items:
            raise ValueError("no images given: pass one image or a list of them")
        out, resized = [], []
        for i, im in enumerate(items):
            rgb = to_rgb(im, i)
            if rgb.shape[:2] == (self.size, self.size):
                out.append(rgb)
            else:
                out.append(self.preprocess.picture(rgb, i))
                resized.append(f"{i} ({rgb.shape[1]} x {rgb.shape[0]})")
        if resized:
            warnings.warn(f"images {', '.join(resized[:8])}{' ...' if len(resized) > 8 else ''} resized and "
                          f"centre-cropped to the model's {self.size} x {self.size}", stacklevel=2)
        return np.stack(out)

    def pixels(self, pictures) -> torch.Tensor:
        """The model's input ``[n, 3, S, S]`` from pictures ``[n, S, S, 3]`` (uint8, or floats on 0..255)."""
        x = torch.as_tensor(np.asarray(pictures, dtype=np.float32)).permute(0, 3, 1, 2) / 255
        x = (x - self.preprocess.mean) / self.preprocess.std
        return x.to(device=self.device, dtype=self.dtype)

    def to_pixel_units(self, values: np.ndarray) -> np.ndarray:
        """Picture values (0..255, ``[..., 3]``) in the units of the model's input, channel by channel."""
        mean = self.preprocess.mean.flatten().numpy()
        std = self.preprocess.std.flatten().numpy()
        return (np.asarray(values, dtype=np.float32) / 255 - mean) / std

    # -- outputs -------------------------------------------------------------------------------------------
    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        out = getattr(out, "logits", out)
        if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
            out = out[0]
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the model returned {shape} for a batch of {x.shape[0]}: saliency needs logits "
                             f"[batch, classes] (wrap the model so that it returns them)")
        return out

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """What is explained, ``[n, classes]``: softmax probabilities or logits (``output``), float32."""
        logits = self._logits(x).float()
        return logits.softmax(-1) if self.output == "softmax" else logits

    def predict(self, pictures, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``[n, classes]`` for pictures ``[n, S, S, 3]``."""
        pictures = np.asarray(pictures)
        out = []
        with torch.no_grad():
            for i in range(0, len(pictures), batch_size):
                out.append(self._logits(self.pixels(pictures[i:i + batch_size])).float().softmax(-1).cpu())
        return torch.cat(out).numpy()

    def targets(self, pictures, target=None) -> np.ndarray:
        """One class per picture: ``None`` the predicted class, an int for all, or one int per picture."""
        n = len(pictures)
        if target is None:
            return self.predict(pictures).argmax(-1)
        t = np.broadcast_to(np.asarray(target), (n,)) if np.ndim(target) == 0 else np.asarray(target)
        if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"target={target!r}: give None (the predicted class), one class index, or one per "
                             f"image ({n} images)")
        bad = t[(t < 0) | (t >= self.num_classes)]
        if bad.size:
            raise ValueError(f"target class {int(bad[0])} is out of range: the model has {self.num_classes} "
                             f"classes (0 to {self.num_classes - 1})")
        return t.astype(np.int64)

    def gradients(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The explained score of each row's target and its gradient with respect to ``x`` (float32)."""
        x = x.detach().to(device=self.device, dtype=self.dtype)
        x = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)  # faster convolutions on CPU
        with torch.enable_grad():
            s = self.scores(x).gather(1, targets.to(self.device).view(-1, 1)).squeeze(1)
            (g,) = torch.autograd.grad(s.sum(), x)  # rows are independent (eval mode): one backward for all
        return s.detach().float(), g.float()
