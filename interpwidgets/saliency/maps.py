"""Several methods' maps of the same pictures, as a view compares them: computed once, revealed by level.

:func:`saliency_maps` runs the named methods (``METHODS``) on pictures for their targets and returns a
:class:`Maps`: one ``[n, S, S]`` map per method (higher = more salient), the attributions and XRAI's regions
kept. XRAI is built on the IG of the same call (its steps and baselines; computed for XRAI when IG is not
asked for), so that the two differ only in how pixels are grouped: the same cost.
:meth:`Maps.reveal` gives the pixels shown at a level: a pixel map's top fraction, or XRAI's regions whole,
in their order; :func:`revealed` draws them over the PIC metric's blurred start, with the model's top classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .attribution import Attribution, blur_ig, integrated_gradients, smoothgrad, vanilla_gradient
from .classifier import Classifier
from .pic import blurred, random_maps
from .xrai import XraiResult, xrai

__all__ = ["METHODS", "Maps", "check_methods", "run_order", "saliency_maps", "revealed", "top_classes"]

METHODS = ("IG", "XRAI", "gradient", "SmoothGrad", "Blur IG", "random")


@dataclass
class Maps:
    """``maps[name]`` ``[n, S, S]`` for each method, in the order asked; ``attributions`` the pixel methods'
    :class:`Attribution` and ``regions`` XRAI's :class:`XraiResult` per picture (when XRAI was asked)."""

    pictures: np.ndarray
    targets: np.ndarray
    maps: dict[str, np.ndarray]
    attributions: dict[str, Attribution] = field(default_factory=dict)
    regions: list[XraiResult] | None = None

    @property
    def methods(self) -> list[str]:
        return list(self.maps)

    def reveal(self, method: str, index: int, fraction: float) -> np.ndarray:
        """The pixels shown when ``fraction`` of picture ``index`` is revealed by ``method`` (``[S, S]`` bool):
        a pixel map's top ``fraction`` (as the PIC metric thresholds them), XRAI's top regions whole."""
        if method not in self.maps:
            raise KeyError(f"no map for {method!r}: the methods are {self.methods}")
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction={fraction}: give a share of the image between 0 and 1")
        if method == "XRAI":
            return self.regions[index].reveal(fraction)
        m = self.maps[method][index]
        if fraction == 0:
            return np.zeros(m.shape, bool)
        return m >= np.quantile(m, 1 - fraction)


def check_methods(methods: Sequence[str]) -> list[str]:
    """``methods`` as a list, or a ValueError that names the valid ones."""
    methods = [methods] if isinstance(methods, str) else list(methods)
    if not methods or any(m not in METHODS for m in methods) or len(set(methods)) != len(methods):
        raise ValueError(f"methods={methods}: give distinct names among {list(METHODS)}")
    return methods


def run_order(methods: Sequence[str]) -> list[str]:
    """The order :func:`saliency_maps` runs ``methods`` in: XRAI last, since it is built on the IG."""
    return [m for m in methods if m != "XRAI"] + [m for m in methods if m == "XRAI"]


def saliency_maps(clf: Classifier, pictures: np.ndarray, targets: np.ndarray, methods: Sequence[str] = ("IG", "XRAI"),
                  *, steps: int = 32, baselines: str | Sequence = ("black", "white"), batch_size: int = 32,
                  progress: bool = True, on_progress: Callable[[str, float], None] | None = None) -> Maps:
    """Each of ``methods`` (names in ``METHODS``) on ``pictures`` ``[n, S, S, 3]`` for ``targets`` ``[n]``.
    IG takes ``steps`` points from each of ``baselines`` (default black and white, the XRAI paper's);
    ``on_progress(method, fraction)`` is called as each method runs, in the order of :func:`run_order`."""
    check_methods(methods)
    out = Maps(np.asarray(pictures), np.asarray(targets), {})

    def report(name):
        return None if on_progress is None else (lambda f: on_progress(name, f))

    common = dict(batch_size=batch_size, progress=progress)
    for name in methods:
        if name == "IG":
            a = integrated_gradients(clf, pictures, targets, baselines=baselines, steps=steps,
                                     on_progress=report(name), **common)
        elif name == "gradient":
            a = vanilla_gradient(clf, pictures, targets, on_progress=report(name), **common)
        elif name == "SmoothGrad":
            a = smoothgrad(clf, pictures, targets, on_progress=report(name), **common)
        elif name == "Blur IG":
            a = blur_ig(clf, pictures, targets, on_progress=report(name), **common)
        elif name == "random":
            out.maps[name] = random_maps(len(pictures), clf.size, seed=1)
            continue
        else:  # XRAI: after the pixel methods (below), so that it can reuse IG
            continue
        out.attributions[name] = a
        out.maps[name] = a.maps().astype(np.float32)
    if "XRAI" in methods:  # on this call's IG (the same steps and baselines), computed for it if not asked
        out.regions = xrai(clf, pictures, targets, steps=steps, baselines=baselines, base=out.attributions.get("IG"),
                           on_progress=report("XRAI"), **common)
        out.maps["XRAI"] = np.stack([r.attribution for r in out.regions]).astype(np.float32)
    out.maps = {m: out.maps[m] for m in methods}
    return out


def top_classes(clf: Classifier, pictures: np.ndarray, k: int = 5) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each picture, with their probabilities."""
    probs = clf.predict(pictures)
    order = np.argsort(-probs, 1)[:, :k]
    return [[(clf.classes[j], float(p[j])) for j in row] for p, row in zip(probs, order, strict=True)]


def revealed(clf: Classifier, picture: np.ndarray, shown: np.ndarray, start: np.ndarray, k: int = 5
             ) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """The picture with only ``shown`` (and the ``start`` pixels) kept, the rest rebuilt as the PIC metric
    blurs it, and the model's top ``k`` classes on it."""
    image = blurred(picture, np.asarray(shown, bool) | np.asarray(start, bool))
    return image, top_classes(clf, image[None], k)[0]
