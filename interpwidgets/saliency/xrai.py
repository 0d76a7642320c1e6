"""XRAI (Kapishnikov et al. 2019): attributions summed into regions. The image is over-segmented at several
scales (Felzenszwalb, scikit-image), each segment dilated; regions are added greedily, the one whose
not-yet-covered pixels have the highest mean attribution first, tiny additions skipped.

Follows the PAIR ``saliency`` package (the paper's code) step for step: segments on the image min-max
scaled to [-1, 1] and resized to 224 x 224, scales 50, 100, 150, 250, 500, 1200, sigma 0.8, min size 150,
masks dilated by a disk of radius 5; IG from two constant baselines at the input's min and max (the prose
says black and white), averaged, reduced over channels by max; masks adding fewer than 50 new pixels are
dropped; the ranking is re-sorted by gain; uncovered pixels get their mean attribution. The greedy search
keeps each mask's uncovered sum and count and updates them as pixels are covered (PAIR recomputes every
mask's mean over the whole image at every step), and re-checks near-ties exactly, so the order is PAIR's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage import segmentation
from skimage.morphology import dilation, disk
from skimage.transform import resize
from tqdm.auto import tqdm

from .attribution import Attribution, Progress, integrated_gradients
from .classifier import Classifier

__all__ = ["XraiResult", "segments", "xrai", "xrai_regions", "SCALES"]

SCALES = (50, 100, 150, 250, 500, 1200)  # Felzenszwalb scales
SEGMENT_SIZE = 224  # the segmentation runs at this size, whatever the image's
MIN_SEGMENT = 150  # pixels, at SEGMENT_SIZE
SIGMA = 0.8
DILATION = 5
MIN_PIXEL_DIFF = 50
IG_SHARE = 0.95  # of xrai()'s progress, when it computes its own IG


@dataclass
class XraiResult:
    """XRAI for one image.

    ``attribution [H, W]``: each pixel carries the gain of the region that covered it. ``regions`` the
    boolean masks ``[R, H, W]`` in rank order (most important first), disjoint and covering the image;
    ``ranks [H, W]`` the 1-based rank of each pixel's region; ``gains [R]`` each region's gain (the mean
    attribution of its pixels); ``base`` the pixel attribution regions were built from ``[H, W]``.
    """

    attribution: np.ndarray
    regions: np.ndarray
    ranks: np.ndarray
    gains: np.ndarray
    base: np.ndarray

    def reveal(self, fraction: float) -> np.ndarray:
        """The pixels shown when the top regions covering at least ``fraction`` of the image are revealed,
        whole regions at a time (``[H, W]`` bool)."""
        area = np.cumsum(self.regions.reshape(len(self.regions), -1).sum(1)) / self.ranks.size
        k = int(np.searchsorted(area, fraction - 1e-12)) + 1 if fraction > 0 else 0
        return self.regions[:k].any(0) if k else np.zeros(self.ranks.shape, bool)


def segments(picture: np.ndarray, scales=SCALES, dilation_radius: int = DILATION) -> np.ndarray:
    """The candidate regions of one picture ``[H, W, C]``: ``[M, H, W]`` bool, every segment of every scale,
    dilated (PAIR's ``_get_segments_felzenszwalb``)."""
    im = np.asarray(picture, dtype=np.float64)
    lo, hi = im.min(), im.max()
    if hi == lo:
        raise ValueError("the picture is a single colour: there is nothing to segment")
    shape = im.shape[:2]
    im = resize((im - lo) / (hi - lo) * 2 - 1, (SEGMENT_SIZE, SEGMENT_SIZE), order=3, mode="constant",
                preserve_range=True, anti_aliasing=True)
    masks = []
    for scale in scales:
        seg = segmentation.felzenszwalb(im, scale=scale, sigma=SIGMA, min_size=MIN_SEGMENT)
        seg = resize(seg, shape, order=0, preserve_range=True, mode="constant", anti_aliasing=False).astype(int)
        masks += [seg == label for label in range(seg.min(), seg.max() + 1)]
    if dilation_radius:
        foot = disk(dilation_radius)
        masks = [dilation(m, footprint=foot) for m in masks]
    return np.stack(masks)


def _mean_gain(mask: np.ndarray, attr: np.ndarray) -> float:
    return float(attr[mask].mean()) if mask.any() else -np.inf


def xrai_regions(attribution: np.ndarray, masks: np.ndarray, *, algorithm: str = "full",
                 min_pixel_diff: int = MIN_PIXEL_DIFF) -> XraiResult:
    """Rank candidate ``masks [M, H, W]`` by an ``attribution [H, W]`` map (XRAI's greedy search).

    ``algorithm="full"``: at each step, the mask whose uncovered pixels have the highest mean attribution;
    ``"fast"``: masks sorted once by their mean over the whole mask, overlaps ignored (PAIR's fast variant).

    Examples
    --------
    >>> attr = np.zeros((20, 20)); attr[:10] = 1.0
    >>> masks = np.zeros((2, 20, 20), bool); masks[0, 10:] = True; masks[1, :10] = True
    >>> r = xrai_regions(attr, masks, min_pixel_diff=1)
    >>> r.gains.tolist(), bool(r.regions[0, 0, 0])
    ([1.0, 0.0], True)
    """
    attr = np.asarray(attribution, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if attr.ndim != 2 or masks.ndim != 3 or masks.shape[1:] != attr.shape:
        raise ValueError(f"attribution {attr.shape} and masks {masks.shape}: give [H, W] and [M, H, W]")
    if not np.isfinite(attr).all():
        raise ValueError("the attribution has NaN or infinite values: XRAI cannot rank regions by it")
    if algorithm == "full":
        trace = _greedy(attr, masks, min_pixel_diff)
    elif algorithm == "fast":
        trace = _fast(attr, masks, min_pixel_diff)
    else:
        raise ValueError(f"algorithm={algorithm!r}: choose 'full' or 'fast'")
    out = np.full(attr.shape, -np.inf)
    for diff, gain in trace:
        out[diff] = gain
    uncovered = out == -np.inf
    out[uncovered] = _mean_gain(uncovered, attr)
    trace = sorted(trace, key=lambda t: -t[1])  # PAIR ranks by gain (stable), not by the order of addition
    if uncovered.any():
        trace.append((uncovered, float(out[uncovered][0])))
    regions = np.stack([t[0] for t in trace]) if trace else np.ones((1, *attr.shape), bool)
    gains = np.array([t[1] for t in trace]) if trace else np.array([attr.mean()])
    ranks = np.zeros(attr.shape, int)
    for i, m in enumerate(regions):
        ranks[m] = i + 1
    return XraiResult(out, regions, ranks, gains, attr)


def _greedy(attr: np.ndarray, masks: np.ndarray, min_pixel_diff: int) -> list[tuple[np.ndarray, float]]:
    flat = masks.reshape(len(masks), -1)
    a = attr.reshape(-1)
    count = flat.sum(1).astype(np.int64)  # uncovered pixels of each mask
    total = flat @ a  # their attribution sum
    alive = np.ones(len(masks), bool)
    covered = np.zeros(a.shape, bool)
    trace = []
    while True:
        alive &= count >= min_pixel_diff
        if not alive.any():
            return trace
        gain = np.where(alive, total / np.maximum(count, 1), -np.inf)
        best = _first_best(gain, alive, flat, covered, a)
        new = flat[best] & ~covered
        trace.append((new.reshape(attr.shape), float(a[new].mean())))
        covered |= new
        idx = np.flatnonzero(new)
        hit = flat[:, idx]
        count -= hit.sum(1)
        total -= hit @ a[idx]
        alive[best] = False


def _first_best(gain: np.ndarray, alive: np.ndarray, flat: np.ndarray, covered: np.ndarray, a: np.ndarray) -> int:
    """The first mask (in index order) of the highest gain, as PAIR's strict ``>`` scan picks it: candidates
    within rounding of the best are re-measured exactly, as PAIR measures them."""
    top = gain.max()
    near = np.flatnonzero(alive & (gain >= top - 1e-9 * max(1.0, abs(top))))
    if len(near) == 1:
        return int(near[0])
    exact = [a[flat[k] & ~covered].mean() for k in near]
    return int(near[int(np.argmax(exact))])


def _fast(attr: np.ndarray, masks: np.ndarray, min_pixel_diff: int) -> list[tuple[np.ndarray, float]]:
    whole = [_mean_gain(m, attr) for m in masks]
    order = sorted(range(len(masks)), key=lambda k: -whole[k])
    covered = np.zeros(attr.shape, bool)
    trace = []
    for k in order:
        new = masks[k] & ~covered
        if new.sum() < min_pixel_diff:
            continue
        trace.append((new, _mean_gain(new, attr)))
        covered |= masks[k]
    return trace


def xrai(clf: Classifier, images, target=None, *, steps: int = 100, baselines=("min", "max"),
         algorithm: str = "full", base: Attribution | None = None, batch_size: int = 32,
         progress: bool = True, on_progress: Progress = None) -> list[XraiResult]:
    """XRAI for each image: IG (``steps`` points from each of ``baselines``, averaged; PAIR's defaults) or a
    given ``base`` attribution, reduced over channels by max, then :func:`xrai_regions` on the picture's
    :func:`segments`.

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.saliency import Classifier
    >>> from interpwidgets.zoo import Preprocess
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    >>> clf = Classifier(net.eval(), Preprocess(64, 64, (0.5,) * 3, (0.5,) * 3))
    >>> pictures = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    >>> (r,) = xrai(clf, pictures, steps=8, progress=False)
    >>> bool(r.regions.sum(0).max() == 1 and r.regions.any(0).all())  # disjoint, and covering the image
    True
    """
    from .attribution import _start

    pictures, _, targets = _start(clf, images, target)

    def part(lo: float, hi: float) -> Progress:  # ``on_progress`` over [lo, hi] of the whole
        return None if on_progress is None else (lambda f: on_progress(lo + (hi - lo) * f))

    own = base is None  # then IG is most of the time (95% of the bar: the bench's region search took 4%)
    if own:
        base = integrated_gradients(clf, pictures, targets.numpy(), baselines=baselines, steps=steps,
                                    batch_size=batch_size, progress=progress, on_progress=part(0, IG_SHARE))
    maps = base.maps("max")
    if maps.shape != pictures.shape[:3]:
        raise ValueError(f"the base attribution's maps are {maps.shape[1:]} for {pictures.shape[1:3]} pictures")
    report, out = part(IG_SHARE if own else 0, 1), []
    for i, (p, m) in enumerate(tqdm(list(zip(pictures, maps, strict=True)), desc="XRAI regions", unit="image",
                                    disable=not progress or len(pictures) < 2)):
        out.append(xrai_regions(m, segments(p), algorithm=algorithm))
        if report is not None:
            report((i + 1) / len(pictures))
    return out
