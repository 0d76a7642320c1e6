"""Pixel attributions: vanilla gradient, SmoothGrad, integrated gradients (any baselines, averaged) and Blur
IG, each batched over images and path points with one memory budget (``batch_size`` points per
forward/backward) and a progress bar.

Conventions follow the PAIR ``saliency`` package (the XRAI paper's code), where its prose differs:

* IG's path points are ``linspace(0, 1, steps)`` *with both ends*, each weighted ``1 / steps`` (``rule="pair"``;
  the paper's prose is a right Riemann sum). ``rule="trapezoid"`` uses the same points with trapezoid
  weights, which closes the completeness gap faster.
* What is explained is the target's softmax probability (``Classifier(output="softmax")``).
* SmoothGrad's noise is ``0.15 x (max - min)`` of the model's input, and it averages squared gradients.
* Blur IG blurs the model's input with ``scipy.ndimage.gaussian_filter(mode="constant")``, sigma from
  ``max_sigma`` down to 0 in ``steps`` linear steps, the blur's derivative by a finite step ``grad_step``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from tqdm.auto import tqdm

from .classifier import Classifier

__all__ = ["Attribution", "vanilla_gradient", "smoothgrad", "integrated_gradients", "blur_ig", "baseline_pictures",
           "BASELINES", "REDUCTIONS"]

BASELINES = ("black", "white", "blur", "uniform", "min", "max")
BLUR_SIGMA = 10.0  # pixels: the "blur" baseline (Sturmfels et al. 2020 discuss blurred baselines)
REDUCTIONS = ("abs", "sum", "max")
Progress = Callable[[float], None] | None


@dataclass
class Attribution:
    """Attributions ``values [n, S, S, 3]`` (per pixel and channel of the model's input) of each picture's
    ``targets`` class, by ``method``.

    For path methods (IG, Blur IG), ``score`` is the explained score of the picture and ``start_score``
    that of the path's start (the mean over baselines); completeness says ``values.sum() == score -
    start_score``, and ``gap`` is how far it is from it, a convergence check (more steps make it smaller).
    """

    method: str
    values: np.ndarray
    targets: np.ndarray
    score: np.ndarray | None = None
    start_score: np.ndarray | None = None

    @property
    def gap(self) -> np.ndarray | None:
        """``sum(values) - (score - start_score)`` per picture, relative to ``|score - start_score|``."""
        if self.score is None:
            return None
        delta = self.score - self.start_score
        return (self.values.reshape(len(self.values), -1).sum(1) - delta) / np.maximum(np.abs(delta), 1e-12)

    def maps(self, reduce: str = "abs") -> np.ndarray:
        """``[n, S, S]`` maps: ``"abs"`` sums ``|value|`` over channels (PAIR's grayscale view; what ranks
        pixels for PIC and the reveal), ``"sum"`` keeps the sign, ``"max"`` is XRAI's channel reduction."""
        if reduce == "abs":
            return np.abs(self.values).sum(-1)
        if reduce == "sum":
            return self.values.sum(-1)
        if reduce == "max":
            return self.values.max(-1)
        raise ValueError(f"reduce={reduce!r}: choose one of {REDUCTIONS}")


def _start(clf: Classifier, images, target) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    pictures = images if _is_pictures(clf, images) else clf.pictures(images)
    targets = torch.as_tensor(clf.targets(pictures, target))
    return pictures, clf.pixels(pictures), targets


def _is_pictures(clf: Classifier, images) -> bool:
    return isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 4 \
        and images.shape[1:] == (clf.size, clf.size, 3)


def _scores(clf: Classifier, x: torch.Tensor, targets: torch.Tensor, batch_size: int) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            s = clf.scores(x[i:i + batch_size])
            out.append(s.gather(1, targets[i:i + batch_size].to(s.device).view(-1, 1)).squeeze(1).cpu())
    return torch.cat(out).numpy()


def _integrate(clf: Classifier, n: int, points: int, path, targets: torch.Tensor, batch_size: int,
               progress: bool, on_progress: Progress, desc: str, square: bool = False) -> np.ndarray:
    """``sum_k g(p_k) * d_k`` per image (``g**2 * d_k`` with ``square``), where ``path(i, ks) -> (p [len(ks),
    3, S, S], d [...])`` gives the points and their weighted steps for image ``i``; ``batch_size`` points go
    through each backward."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: give at least 1 (points per forward and backward pass)")
    total = torch.zeros(n, 3, clf.size, clf.size)
    jobs = [(i, k) for i in range(n) for k in range(points)]
    bar = tqdm(total=len(jobs), desc=desc, unit="point", disable=not progress or len(jobs) <= batch_size)
    try:
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            images = sorted({i for i, _ in chunk})
            ps, ds, rows = [], [], []
            for i in images:
                ks = [k for j, k in chunk if j == i]
                p, d = path(i, ks)
                ps.append(p)
                ds.append(d)
                rows += [i] * len(ks)
            rows = torch.tensor(rows)
            _, g = clf.gradients(torch.cat(ps), targets[rows])
            g = g.cpu()
            total.index_add_(0, rows, (g * g if square else g) * torch.cat(ds).float())
            bar.update(len(chunk))
            if on_progress is not None:
                on_progress((start + len(chunk)) / len(jobs))
    finally:
        bar.close()
    return total.permute(0, 2, 3, 1).numpy()


def vanilla_gradient(clf: Classifier, images, target=None, *, batch_size: int = 32, progress: bool = True,
                     on_progress: Progress = None) -> Attribution:
    """The gradient of the explained score with respect to the model's input (Simonyan et al. 2014)."""
    pictures, x, targets = _start(clf, images, target)
    values = _integrate(clf, len(x), 1, lambda i, ks: (x[i:i + 1], torch.ones(1, *x.shape[1:])), targets,
                        batch_size, progress, on_progress, "gradients")
    return Attribution("gradient", values, targets.numpy())


def smoothgrad(clf: Classifier, images, target=None, *, samples: int = 25, noise: float = 0.15,
               magnitude: bool = True, seed: int = 0, batch_size: int = 32, progress: bool = True,
               on_progress: Progress = None) -> Attribution:
    """SmoothGrad (Smilkov et al. 2017): gradients averaged over ``samples`` noisy copies (Gaussian, sd
    ``noise x (max - min)`` of the input); with ``magnitude`` the squared gradients are averaged (PAIR)."""
    pictures, x, targets = _start(clf, images, target)
    gen = torch.Generator().manual_seed(seed)
    sd = noise * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).cpu()
    eps = torch.randn(len(x), samples, *x.shape[1:], generator=gen) * sd.view(-1, 1, 1, 1, 1)
    values = _integrate(clf, len(x), samples,
                        lambda i, ks: (x[i].cpu() + eps[i, ks], torch.full((len(ks), *x.shape[1:]), 1 / samples)),
                        targets, batch_size, progress, on_progress, "SmoothGrad", square=magnitude)
    return Attribution("smoothgrad", values, targets.numpy())


def baseline_pictures(clf: Classifier, pictures: np.ndarray, baselines, seed: int = 0) -> torch.Tensor:
    """Baselines as model inputs ``[n, B, 3, S, S]``: names from ``BASELINES`` (``"min"``/``"max"`` are the
    constant images at the input's own min and max, PAIR's XRAI baselines) or pictures ``[S, S, 3]`` /
    ``[n, S, S, 3]`` (uint8 or floats on 0..255)."""
    items = [baselines] if isinstance(baselines, str | np.ndarray) else list(baselines)
    if not items:
        raise ValueError(f"no baselines given: name some of {BASELINES} or give pictures")
    x = clf.pixels(pictures)
    n = len(pictures)
    rng = np.random.default_rng(seed)
    out = []
    for b in items:
        if isinstance(b, str):
            if b == "black":
                t = clf.pixels(np.zeros_like(pictures))
            elif b == "white":
                t = clf.pixels(np.full_like(pictures, 255))
            elif b == "blur":
                t = clf.pixels(ndimage.gaussian_filter(pictures.astype(np.float32),
                                                       sigma=(0, BLUR_SIGMA, BLUR_SIGMA, 0)))
            elif b == "uniform":
                t = clf.pixels(rng.uniform(0, 255, pictures.shape))
            elif b in ("min", "max"):
                v = x.amin(dim=(1, 2, 3)) if b == "min" else x.amax(dim=(1, 2, 3))
                t = v.view(-1, 1, 1, 1).expand_as(x).clone()
            else:
                raise ValueError(f"baseline {b!r}: name one of {BASELINES}, or give a picture [S, S, 3]")
        else:
            a = np.asarray(b, dtype=np.float32)
            if a.shape == (clf.size, clf.size, 3):
                a = np.broadcast_to(a, (n, *a.shape))
            if a.shape != (n, clf.size, clf.size, 3):
                raise ValueError(f"a baseline picture has shape {a.shape}: give [{clf.size}, {clf.size}, 3] or "
                                 f"[{n}, {clf.size}, {clf.size}, 3] on 0..255")
            t = clf.pixels(a)
        out.append(t)
    return torch.stack(out, 1)


def _alphas(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    if steps < 2:
        raise ValueError(f"steps={steps}: integrated gradients needs at least 2 points on the path")
    alphas = np.linspace(0, 1, steps)
    if rule == "pair":
        return alphas, np.full(steps, 1 / steps)
    if rule == "trapezoid":
        w = np.full(steps, 1 / (steps - 1))
        w[[0, -1]] /= 2
        return alphas, w
    raise ValueError(f"rule={rule!r}: choose 'pair' (PAIR's: both ends, 1/steps each) or 'trapezoid'")


def integrated_gradients(clf: Classifier, images, target=None, *, baselines: str | Sequence = "black",
                         steps: int = 25, rule: str = "pair", batch_size: int = 32, seed: int = 0,
                         progress: bool = True, on_progress: Progress = None) -> Attribution:
    """Integrated gradients (Sundararajan et al. 2017) from each baseline, averaged over the baselines (the
    XRAI paper averages black and white). ``steps`` points per baseline; see the module's note on ``rule``.

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.saliency import Classifier, integrated_gradients
    >>> from interpwidgets.zoo import Preprocess
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    >>> clf = Classifier(net.eval(), Preprocess(16, 16, (0.5,) * 3, (0.5,) * 3))
    >>> pictures = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    >>> ig = integrated_gradients(clf, pictures, baselines=("black", "white"), steps=64, rule="trapezoid")
    >>> ig.values.shape, bool(np.abs(ig.gap).max() < 0.01)
    ((2, 16, 16, 3), True)
    """
    pictures, x, targets = _start(clf, images, target)
    base = baseline_pictures(clf, pictures, baselines, seed)  # [n, B, 3, S, S]
    alphas, weights = _alphas(steps, rule)
    nb = base.shape[1]
    a = torch.tensor(alphas, dtype=torch.float32)
    w = torch.tensor(weights, dtype=torch.float32)

    def path(i: int, ks: list[int]):
        b, k = torch.tensor(ks) // steps, torch.tensor(ks) % steps  # point = (baseline, step)
        diff = (x[i].cpu() - base[i, b].cpu())
        p = base[i, b].cpu() + a[k].view(-1, 1, 1, 1) * diff
        return p, diff * (w[k] / nb).view(-1, 1, 1, 1)

    values = _integrate(clf, len(x), steps * nb, path, targets, batch_size, progress, on_progress,
                        "integrated gradients")
    score = _scores(clf, x, targets, batch_size)
    start = _scores(clf, base.flatten(0, 1), targets.repeat_interleave(nb), batch_size).reshape(-1, nb).mean(1)
    return Attribution("ig", values, targets.numpy(), score, start)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """PAIR's Blur IG blur of a ``[S, S, 3]`` input: Gaussian over the two image axes, zero outside."""
    return image if sigma == 0 else ndimage.gaussian_filter(image, sigma=[sigma, sigma, 0], mode="constant")


def blur_ig(clf: Classifier, images, target=None, *, max_sigma: float = 50, steps: int = 100,
            grad_step: float = 0.01, batch_size: int = 32, progress: bool = True,
            on_progress: Progress = None) -> Attribution:
    """Blur IG (Xu et al. 2020): integrated gradients along a path from a blurred copy of the image (sigma
    ``max_sigma``) to the image itself; no baseline to choose. PAIR's defaults."""
    pictures, x, targets = _start(clf, images, target)
    sigmas = np.arange(steps + 1) * max_sigma / steps
    hwc = x.permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)

    def path(i: int, ks: list[int]):
        ps, ds = [], []
        for k in ks:
            here = _blur(hwc[i], sigmas[k])
            slope = (_blur(hwc[i], sigmas[k] + grad_step) - here) / grad_step
            ps.append(here)
            ds.append(-slope * (sigmas[k + 1] - sigmas[k]))  # the path runs from blurred to sharp: minus
        to = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float()  # noqa: E731
        return to(ps), to(ds)

    values = _integrate(clf, len(x), steps, path, targets, batch_size, progress, on_progress, "Blur IG")
    start = torch.from_numpy(np.stack([_blur(h, max_sigma) for h in hwc])).permute(0, 3, 1, 2).float()
    return Attribution("blur_ig", values, targets.numpy(), _scores(clf, x, targets, batch_size),
                       _scores(clf, start.to(x), targets, batch_size))
