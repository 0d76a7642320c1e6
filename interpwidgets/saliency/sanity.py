"""Sanity checks for saliency maps (Adebayo et al. 2018): a map that explains the model must change when the
model's weights are destroyed. ``cascading_randomization`` re-initialises the layers one by one from the
top and measures how far each map moves from the trained model's (Spearman rank correlation of ``|map|``,
and SSIM of the maps scaled to [0, 1] by their 99th percentile); ``compare_models`` does the same between
two models (e.g. one trained on randomly permuted labels). ``edges`` is the control that must be flagged:
an edge detector, which never looks at the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from tqdm.auto import tqdm

from .classifier import Classifier

__all__ = ["dummy_check", "Randomization", "cascading_randomization", "compare_models", "compare_maps",
           "randomizable_layers", "edges", "FLAG"]

MapFn = Callable[[Classifier, np.ndarray, np.ndarray], np.ndarray]  # (clf, pictures, targets) -> [n, S, S]
FLAG = 0.5  # a method whose maps keep a rank correlation above this with every layer randomized is flagged


def randomizable_layers(model: torch.nn.Module) -> list[str]:
    """The model's layers in forward order, as names: its top-level children, containers (``Sequential``,
    ``ModuleList``) opened one level, those without parameters left out."""
    out = []
    for name, child in model.named_children():
        container = isinstance(child, torch.nn.Sequential | torch.nn.ModuleList)
        parts = child.named_children() if container else [("", child)]
        for sub, m in parts:
            if any(True for _ in m.parameters()):
                out.append(f"{name}.{sub}" if sub else name)
    if not out:
        raise ValueError("the model has no layers with parameters to randomize")
    return out


def _scaled(m: np.ndarray) -> np.ndarray:
    a = np.abs(m)
    top = np.percentile(a, 99)
    return np.clip(a / top, 0, 1) if top > 0 else np.zeros_like(a)


def compare_maps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per map: Spearman rank correlation of ``|a|`` and ``|b|``, and SSIM of both scaled to [0, 1]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"maps {a.shape} and {b.shape}: give two [n, H, W] arrays of the same shape")
    rho = np.array([spearmanr(np.abs(x).ravel(), np.abs(y).ravel())[0] for x, y in zip(a, b, strict=True)])
    ssim = np.array([structural_similarity(_scaled(x), _scaled(y), data_range=1.0) for x, y in zip(a, b, strict=True)])
    return np.nan_to_num(rho), ssim


@dataclass
class Randomization:
    """Maps as layers are randomized: ``stages[0]`` is the trained model, ``stages[k]`` has its top ``k``
    layers re-initialised. ``spearman`` and ``ssim`` ``[stages, n]`` against the trained model's maps."""

    method: str
    stages: list[str]
    maps: np.ndarray  # [stages, n, S, S]
    spearman: np.ndarray
    ssim: np.ndarray

    @property
    def flagged(self) -> bool:
        """True when the maps barely depend on the weights (the fully randomized model's maps still rank
        pixels like the trained one's: mean correlation above ``FLAG``)."""
        return bool(self.spearman[-1].mean() > FLAG)

    def summary(self) -> dict:
        return {"method": self.method, "stages": self.stages, "spearman": self.spearman.mean(1).round(4).tolist(),
                "ssim": self.ssim.mean(1).round(4).tolist(), "flagged": self.flagged}


def _reinit(module: torch.nn.Module, name: str, seed: int) -> None:
    """Re-initialise ``module`` through its modules' ``reset_parameters``; an error when no weight changed."""
    before = [p.detach().clone() for p in module.parameters()]
    with torch.random.fork_rng(devices=[]):  # the user's global generator is left as it was
        torch.manual_seed(seed)
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    same = [n for (n, p), a in zip(module.named_parameters(), before, strict=True) if torch.equal(a, p)]
    if len(same) == len(before):
        raise ValueError(f"layer {name!r} ({type(module).__name__}) was not randomized: its weights {same} are as "
                         f"they were (none of its modules has reset_parameters(), or it restores these values); "
                         f"give layers= that can be, or randomize it yourself")


def cascading_randomization(clf: Classifier, pictures: np.ndarray, method: MapFn, target=None, *,
                            name: str = "", layers: Sequence[str] | None = None, seed: int = 0,
                            progress: bool = True, on_progress=None) -> Randomization:
    """Re-initialise ``layers`` (default :func:`randomizable_layers`) cumulatively from the top, computing
    ``method(clf, pictures, targets)`` after each; the targets stay the trained model's. The caller's model
    is left untouched (a copy is randomized).

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.saliency import Classifier, vanilla_gradient
    >>> from interpwidgets.zoo import Preprocess
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Conv2d(4, 4, 3),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> clf = Classifier(net.eval(), Preprocess(16, 16, (0.5,) * 3, (0.5,) * 3))
    >>> pics = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    >>> grad = lambda c, p, t: vanilla_gradient(c, p, t, progress=False).maps()
    >>> r = cascading_randomization(clf, pics, grad, progress=False)
    >>> r.stages, r.spearman.shape
    (['trained', '5', '2', '0'], (4, 2))
    """
    pictures = np.asarray(pictures)
    targets = clf.targets(pictures, target)
    layers = list(layers) if layers is not None else randomizable_layers(clf.model)
    model = copy.deepcopy(clf.model)
    for layer in layers:
        model.get_submodule(layer)  # a wrong name fails before any work
    work = Classifier(model, clf.preprocess, classes=clf.classes, output=clf.output)
    maps = [np.asarray(method(work, pictures, targets), np.float32)]
    for k, layer in enumerate(tqdm(list(reversed(layers)), desc="randomizing", disable=not progress)):
        _reinit(model.get_submodule(layer), layer, seed + k)
        maps.append(np.asarray(method(work, pictures, targets), np.float32))
        if on_progress is not None:
            on_progress((k + 1) / len(layers))
    maps = np.stack(maps)
    scores = [compare_maps(maps[0], m) for m in maps]
    return Randomization(name or getattr(method, "__name__", "method"), ["trained", *reversed(layers)], maps,
                         np.stack([s[0] for s in scores]), np.stack([s[1] for s in scores]))


def compare_models(a: Classifier, b: Classifier, pictures: np.ndarray, method: MapFn, target=None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Spearman and SSIM per picture between ``method``'s maps on two models (for the same targets: ``a``'s
    predictions unless given), e.g. a model and its twin trained on permuted labels."""
    targets = a.targets(pictures, target)
    return compare_maps(method(a, pictures, targets), method(b, pictures, targets))


def edges(clf: Classifier, pictures: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """A control "method": the Sobel edge magnitude of each picture, which ignores the model (Adebayo et al.
    show maps that look like it can pass for explanations)."""
    grey = np.asarray(pictures, np.float64).mean(-1)
    return np.hypot(ndimage.sobel(grey, axis=1), ndimage.sobel(grey, axis=2))


class _Blindfold(torch.nn.Module):
    """The model reading its input with ``hidden`` pixels set to 0 (in the model's units): it cannot see them."""

    def __init__(self, model: torch.nn.Module, hidden: np.ndarray):
        super().__init__()
        self.model = model
        self.register_buffer("keep", torch.as_tensor(~hidden, dtype=torch.float32)[None, None])

    def forward(self, x):
        return self.model(x * self.keep.to(x.dtype))


def dummy_check(clf: Classifier, pictures: np.ndarray, method: MapFn, target=None, *,
                hidden: np.ndarray | None = None) -> np.ndarray:
    """Our reading of the XRAI paper's axiom-style check, through the *dummy* axiom of integrated gradients
    (Sundararajan et al. 2017: an input the function does not depend on gets no attribution). The model is
    wrapped so that it cannot see the ``hidden`` pixels (``[S, S]`` bool; default the left half), and
    ``method``'s maps are computed on the wrapped model. Returns, per picture, the share of the map's total
    ``|value|`` that falls on the hidden pixels: 0 for IG and the gradient, about the hidden area for a map
    that ignores the model (:func:`edges`). The targets are the wrapped model's predictions unless given.

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.saliency import Classifier, integrated_gradients
    >>> from interpwidgets.zoo import Preprocess
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    >>> clf = Classifier(net.eval(), Preprocess(16, 16, (0.5,) * 3, (0.5,) * 3))
    >>> pics = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    >>> ig = lambda c, p, t: integrated_gradients(c, p, t, progress=False).maps()
    >>> dummy_check(clf, pics, ig).round(6).tolist(), bool(dummy_check(clf, pics, edges).min() > 0.2)
    ([0.0, 0.0], True)
    """
    size = clf.size
    if hidden is None:
        hidden = np.zeros((size, size), bool)
        hidden[:, : size // 2] = True
    hidden = np.asarray(hidden, bool)
    if hidden.shape != (size, size) or not hidden.any() or hidden.all():
        raise ValueError(f"hidden {hidden.shape}: give a [{size}, {size}] bool mask that hides some pixels, not all")
    blind = Classifier(_Blindfold(clf.model, hidden).to(clf.device).eval(), clf.preprocess, classes=clf.classes,
                       output=clf.output)
    pictures = np.asarray(pictures)
    maps = np.abs(np.asarray(method(blind, pictures, blind.targets(pictures, target)), np.float64))
    return maps[:, hidden].sum(1) / np.maximum(maps.reshape(len(maps), -1).sum(1), 1e-30)
