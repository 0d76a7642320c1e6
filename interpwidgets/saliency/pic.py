"""Performance Information Curves (Kapishnikov et al. 2019): how fast a saliency map's top pixels bring the
model's answer back, against how much of the image's information they reveal.

Each image starts "blurred": rebuilt by linear interpolation (scipy, Delaunay) from a sparse random 1% of
its pixels. The top ``t`` of the salient pixels are added to those for each threshold ``t`` and the image
rebuilt; its information is its lossless WebP size. x: that size normalised between the blurred image's and
the original's; y: the class's softmax (SIC) or whether the answer is right (AIC), normalised the same way
and kept monotone (a running max); the curve is resampled on 1000 points and its area (AUC) taken.
Images are aggregated by the *median curve* (its AUC), as the paper does. Images are skipped, with the
reason kept, when the model's score on the original is below ``min_score``, or the blurred image is not
less informative or not less recognised than the original: the package's rules.

Follows the PAIR ``saliency`` package's ``pic.py`` in every choice; departures: one triangulation serves
the three channels (the same numbers as PAIR's per-channel ``griddata``, a third of the work), and the
blurred images of every threshold and method go through the model in batches.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy.interpolate import LinearNDInterpolator, interp1d
from scipy.spatial import Delaunay
from tqdm.auto import tqdm

from ..stats import resample_indices
from .classifier import Classifier

__all__ = ["THRESHOLDS", "PicCurve", "PicResult", "pic", "blurred", "webp_size", "random_mask", "random_maps"]

THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.10, 0.13, 0.21, 0.34, 0.5, 0.75)  # PAIR's docstring
POINTS = 1000  # the resampled curve (plus x = 1)
KINDS = ("sic", "aic")


def random_mask(height: int, width: int, fraction: float = 0.01, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``[H, W]`` bool with ``int(H * W * fraction)`` pixels set, drawn without replacement."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(height * width, bool)
    mask[rng.choice(height * width, size=int(height * width * fraction), replace=False)] = True
    return mask.reshape(height, width)


def start_masks(n: int, size: int, fraction: float = 0.01, seed: int = 0) -> np.ndarray:
    """The random start pixels of ``n`` pictures ``[n, size, size]``, as :func:`pic` draws them from ``seed``
    (give them to a view that blurs as the metric does)."""
    rng = np.random.default_rng(seed)
    return np.stack([random_mask(size, size, fraction, rng) for _ in range(n)])


def random_maps(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Uniform random saliency maps ``[n, size, size]``: the chance level a method must beat."""
    return np.random.default_rng(seed).random((n, size, size))


def blurred(picture: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The picture ``[H, W, C]`` uint8 rebuilt from its ``known`` pixels (``[H, W]`` bool; the four corners are
    always known) by linear interpolation; outside the hull, each channel's mean."""
    known = np.array(known, dtype=bool)
    h, w = known.shape
    known[[0, 0, h - 1, h - 1], [0, w - 1, 0, w - 1]] = True
    if known.all():
        return picture.copy()
    out = picture * known[..., None].astype(np.float32)
    pts, unknown = np.argwhere(known), np.argwhere(~known)
    values = LinearNDInterpolator(Delaunay(pts), picture[known].astype(np.float64), fill_value=np.nan)(unknown)
    values = np.where(np.isnan(values), picture.mean(axis=(0, 1)), values)
    out[~known] = values  # (cast to float32 first, as PAIR's assignment does, then rounded)
    return np.round(out).astype(picture.dtype)


def webp_size(picture: np.ndarray) -> int:
    """The picture's information: bytes of its lossless WebP encoding."""
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="webp", lossless=True, quality=100)
    return buf.tell()


@dataclass
class PicCurve:
    """One image's curve for one map: ``x``/``y`` the normalised (information, score) at each threshold,
    ``curve [POINTS + 1]`` the resampled curve on ``grid``, ``auc`` its area."""

    x: np.ndarray
    y: np.ndarray
    curve: np.ndarray
    auc: float
    scores: np.ndarray  # the raw score at each threshold


GRID = np.append(np.linspace(0, 1, POINTS, endpoint=False), 1.0)


def _curve(entropy: np.ndarray, score: np.ndarray, e0: float, e1: float, s0: float, s1: float,
           monotone: bool) -> PicCurve:
    x = np.clip((entropy - e0) / (e1 - e0), 0, 1)
    y = np.clip((score - s0) / (s1 - s0), 0, 1)
    if monotone:
        y = np.maximum.accumulate(y)
    xs, ys = np.append(x, [0.0, 1.0]), np.append(y, [0.0, 1.0])
    curve = np.append(interp1d(xs, ys)(GRID[:-1]), 1.0)
    return PicCurve(x, y, curve, float(np.trapezoid(curve, GRID)), score)


@dataclass
class PicResult:
    """PIC curves of several maps on the same images.

    ``curves[kind][method]``: one :class:`PicCurve` per image, ``None`` where the image was skipped (its
    reason in ``skipped[kind][image]``). ``thresholds`` the fractions revealed; ``blurred_score`` and
    ``score`` the model's scores on each image's blurred start and original.
    """

    thresholds: tuple[float, ...]
    curves: dict[str, dict[str, list[PicCurve | None]]]
    skipped: dict[str, dict[int, str]]
    targets: np.ndarray
    score: np.ndarray
    blurred_score: np.ndarray
    grid: np.ndarray = field(default_factory=lambda: GRID.copy())

    @property
    def methods(self) -> list[str]:
        return list(self.curves["sic"])

    def kept(self, kind: str = "sic") -> list[int]:
        """The images not skipped for ``kind``."""
        return [i for i in range(len(self.targets)) if i not in self.skipped[kind]]

    def median_curve(self, method: str, kind: str = "sic") -> np.ndarray:
        """The per-point median of the kept images' curves (the paper's aggregate)."""
        return np.median(self._stack(method, kind), axis=0)

    def _stack(self, method: str, kind: str) -> np.ndarray:
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: choose one of {KINDS}")
        if method not in self.curves[kind]:
            raise KeyError(f"no curves for {method!r}: the methods are {self.methods}")
        kept = [c.curve for c in self.curves[kind][method] if c is not None]
        if not kept:
            raise ValueError(f"every image was skipped for {kind.upper()}: {self.skipped[kind]}")
        return np.stack(kept)

    def auc(self, method: str, kind: str = "sic") -> float:
        """The AUC of the median curve."""
        return float(np.trapezoid(self.median_curve(method, kind), self.grid))

    def interval(self, method: str, kind: str = "sic", other: str | None = None, n_boot: int = 2000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
        """The median curve's AUC (minus ``other``'s, paired: the same images resampled) and its percentile
        interval over ``n_boot`` resamples of the kept images."""
        a = self._stack(method, kind)
        b = None if other is None else self._stack(other, kind)
        idx = resample_indices(len(a), n_boot, seed)

        def stat(rows):
            v = np.trapezoid(np.median(a[rows], 0), self.grid)
            return v if b is None else v - np.trapezoid(np.median(b[rows], 0), self.grid)

        boots = np.array([stat(r) for r in idx])
        tail = (1 - level) / 2 * 100
        lo, hi = np.percentile(boots, [tail, 100 - tail])
        return float(stat(np.arange(len(a)))), float(lo), float(hi)

    def table(self, n_boot: int = 2000, seed: int = 0) -> list[dict]:
        """One row per method: SIC and AIC AUCs of the median curves with their 95% intervals, images kept."""
        rows = []
        for m in self.methods:
            row = {"method": m}
            for kind in KINDS:
                try:
                    v, lo, hi = self.interval(m, kind, n_boot=n_boot, seed=seed)
                except ValueError:
                    v = lo = hi = float("nan")
                row |= {kind: round(v, 4), f"{kind}_lo": round(lo, 4), f"{kind}_hi": round(hi, 4),
                        f"{kind}_images": len(self.kept(kind))}
            rows.append(row)
        return rows


def _check_maps(maps: dict[str, np.ndarray], n: int, size: int) -> dict[str, np.ndarray]:
    if not isinstance(maps, dict) or not maps:
        raise TypeError("give the saliency maps as {method name: [n, H, W] array}")
    out = {}
    for name, m in maps.items():
        a = np.asarray(m, dtype=np.float64)
        if a.shape != (n, size, size):
            raise ValueError(f"the {name!r} maps have shape {a.shape}: PIC needs one [{size}, {size}] map per "
                             f"picture, [{n}, {size}, {size}] (reduce the channels first: Attribution.maps())")
        if not np.isfinite(a).all():
            raise ValueError(f"the {name!r} maps have NaN or infinite values: PIC cannot rank pixels by them")
        out[name] = a
    return out


def pic(clf: Classifier, pictures: np.ndarray, maps: dict[str, np.ndarray], target=None, *,
        thresholds: Sequence[float] = THRESHOLDS, fraction: float = 0.01, seed: int = 0,
        masks: np.ndarray | None = None, min_score: float = 0.8, monotone: bool = True, batch_size: int = 64,
        progress: bool = True, on_progress=None) -> PicResult:
    """SIC and AIC curves of each map in ``maps`` (``{name: [n, S, S]}``, higher = more salient) on
    ``pictures [n, S, S, 3]`` uint8, for the ``target`` classes (default: the predicted ones).

    Each image's random start pixels (``fraction`` of them, from ``seed``, or given as ``masks [n, S, S]``)
    are shared by every method, as the paper compares them.

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.saliency import Classifier
    >>> from interpwidgets.zoo import Preprocess
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    >>> clf = Classifier(net.eval(), Preprocess(32, 32, (0.5,) * 3, (0.5,) * 3))
    >>> pictures = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    >>> r = pic(clf, pictures, {"random": random_maps(2, 32)}, min_score=0, progress=False)
    >>> sorted(r.skipped), len(r.curves["sic"]["random"])
    (['aic', 'sic'], 2)
    """
    pictures = np.asarray(pictures)
    if pictures.dtype != np.uint8 or pictures.ndim != 4 or pictures.shape[1:] != (clf.size, clf.size, 3):
        raise ValueError(f"pictures {pictures.dtype} {pictures.shape}: PIC needs the model's uint8 pictures "
                         f"[n, {clf.size}, {clf.size}, 3] (Classifier.pictures(images))")
    n, size = len(pictures), clf.size
    maps = _check_maps(maps, n, size)
    thresholds = tuple(float(t) for t in thresholds)
    if not thresholds or any(not 0 < t < 1 for t in thresholds) or list(thresholds) != sorted(thresholds):
        raise ValueError(f"thresholds {thresholds}: give increasing fractions between 0 and 1")
    targets = clf.targets(pictures, target)
    if masks is None:
        masks = start_masks(n, size, fraction, seed)
    masks = np.asarray(masks, bool)
    if masks.shape != (n, size, size):
        raise ValueError(f"masks {masks.shape}: give one [{size}, {size}] start mask per picture")

    curves = {k: {m: [None] * n for m in maps} for k in KINDS}
    skipped = {k: {} for k in KINDS}
    score, blurred_score = np.zeros(n), np.zeros(n)
    bar = tqdm(total=n, desc="PIC", unit="image", disable=not progress)
    for i in range(n):
        start = blurred(pictures[i], masks[i])
        shown = [start, pictures[i]]
        for m in maps.values():
            for t in thresholds:
                shown.append(blurred(pictures[i], (m[i] >= np.quantile(m[i], 1 - t)) | masks[i]))
        probs = clf.predict(np.stack(shown), batch_size)
        sizes = np.array([webp_size(s) for s in shown], dtype=np.float64)
        sic = probs[:, targets[i]]
        aic = (probs.argmax(1) == targets[i]).astype(np.float64)
        score[i], blurred_score[i] = sic[1], sic[0]
        for kind, s in (("sic", sic), ("aic", aic)):
            reason = _skip(s[1], s[0], sizes[1], sizes[0], min_score)
            if reason:
                skipped[kind][i] = reason
                continue
            for j, name in enumerate(maps):
                part = slice(2 + j * len(thresholds), 2 + (j + 1) * len(thresholds))
                curves[kind][name][i] = _curve(sizes[part], s[part], sizes[0], sizes[1], s[0], s[1], monotone)
        bar.update()
        if on_progress is not None:
            on_progress((i + 1) / n)
    bar.close()
    return PicResult(thresholds, curves, skipped, targets, score, blurred_score)


def _skip(score: float, start_score: float, size: float, start_size: float, min_score: float) -> str | None:
    if score < min_score:
        return f"the model's score on the image, {score:.3f}, is below min_score={min_score}"
    if start_size >= size:
        return f"the blurred image is not smaller than the original ({start_size:.0f} >= {size:.0f} bytes)"
    if start_score >= score:
        return f"the model scores the blurred image as high as the original ({start_score:.3f} >= {score:.3f})"
    return None
