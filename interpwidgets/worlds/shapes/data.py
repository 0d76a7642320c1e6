"""The shapes world's images: one coloured shape on a textured background, its mask exact.

The class is the shape. Everything else (the shape's colour, size and place, the background's texture and
colours) is drawn independently of it, so that nothing but the object's pixels tells the class: a model
that reads the background alone is at chance (the card measures it on :func:`dataset`'s ``backgrounds``).
A pixel belongs to the object when its centre falls inside the shape; that is the mask, and the picture
takes the object's colour exactly there (no anti-aliasing), so the mask is the ground truth of where the
evidence is. Sensor-like noise (``NOISE``) covers the whole picture, object and background alike: without it
the flat colours compress to a few hundred bytes of lossless WebP, less than the PIC metric's blurred start
image, and the metric (which measures information as WebP size) skipped 9 images in 12.

Each image is drawn from its own seed: ``SPLITS`` gives every split its own range, so fit, choose and test
images never coincide, and image ``i`` of a split is the same on every machine.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SIZE", "CLASSES", "TEXTURES", "SPLITS", "NOISE", "draw", "dataset"]

SIZE = 64
CLASSES = ("circle", "square", "triangle", "cross")
TEXTURES = ("stripes", "checks", "blobs", "dots")
SPLITS = {"fit": 0, "choose": 10_000_000, "test": 20_000_000}  # the first seed of each split
NOISE = 8.0  # the noise's standard deviation, in uint8 levels
_MIN_CONTRAST = 0.35  # the object's colour is at least this far (RGB distance, 0..1) from both background colours


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.05, 0.95, 3)


def _texture(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A [SIZE, SIZE] pattern in [0, 1] that mixes the background's two colours."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    if kind == "stripes":
        angle, period = rng.uniform(0, np.pi), rng.uniform(5, 14)
        return (np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period) > 0).astype(float)
    if kind == "checks":
        cell = rng.uniform(4, 12)
        return ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(float)
    if kind == "blobs":  # smooth noise: a few random waves
        t = np.zeros((SIZE, SIZE))
        for _ in range(4):
            k = rng.normal(0, 0.25, 2)
            t += np.sin(xx * k[0] + yy * k[1] + rng.uniform(0, 2 * np.pi))
        return (t - t.min()) / max(np.ptp(t), 1e-9)
    dots = np.zeros((SIZE, SIZE))
    for _ in range(int(rng.integers(8, 20))):
        cy, cx, r = rng.uniform(0, SIZE), rng.uniform(0, SIZE), rng.uniform(1.5, 4)
        dots[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    return dots


def _shape(kind: str, cy: float, cx: float, r: float, angle: float) -> np.ndarray:
    """The exact mask: pixel centres inside the shape of radius ``r`` at (cy, cx), turned by ``angle``."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    c, s = np.cos(angle), np.sin(angle)
    u, v = (xx - cx) * c + (yy - cy) * s, -(xx - cx) * s + (yy - cy) * c  # the shape's own frame
    if kind == "circle":
        return u * u + v * v <= r * r
    if kind == "square":
        h = r * 0.8
        return (np.abs(u) <= h) & (np.abs(v) <= h)
    if kind == "triangle":  # equilateral, centred on its centroid
        normals = 2 * np.pi * np.arange(3) / 3 - np.pi / 2  # its sides' outward normals; inradius r / 2
        return np.all([u * np.cos(a) + v * np.sin(a) <= r / 2 for a in normals], axis=0)
    arm = r * 0.32  # a plus sign: two bars
    return ((np.abs(u) <= r) & (np.abs(v) <= arm)) | ((np.abs(v) <= r) & (np.abs(u) <= arm))


def draw(seed: int) -> dict:
    """One image from its seed: ``image`` (uint8 [SIZE, SIZE, 3]), ``background`` (the same picture without
    the object), ``mask`` (bool), ``label`` (index into ``CLASSES``), ``texture`` (index into ``TEXTURES``)."""
    rng = np.random.default_rng(seed)
    label, texture = int(rng.integers(len(CLASSES))), int(rng.integers(len(TEXTURES)))
    a, b = _colour(rng), _colour(rng)
    t = _texture(rng, TEXTURES[texture])[..., None]
    background = a * (1 - t) + b * t
    while True:  # a colour that stands out from both of the background's
        colour = _colour(rng)
        if min(np.linalg.norm(colour - a), np.linalg.norm(colour - b)) >= _MIN_CONTRAST:
            break
    r = rng.uniform(9, 16)
    cy, cx = rng.uniform(r + 2, SIZE - r - 2, 2)
    mask = _shape(CLASSES[label], cy, cx, r, rng.uniform(0, 2 * np.pi))
    noise = rng.normal(0, NOISE, (SIZE, SIZE, 3))

    def picture(x):
        return np.clip(np.round(x * 255 + noise), 0, 255).astype(np.uint8)

    image = np.where(mask[..., None], colour, background)
    return {"image": picture(image), "background": picture(background), "mask": mask, "label": label,
            "texture": texture}


def dataset(n: int, split: str = "fit", start: int = 0) -> dict[str, np.ndarray]:
    """Images ``start .. start + n - 1`` of a split (``"fit"``, ``"choose"`` or ``"test"``), stacked:
    ``images``, ``backgrounds`` (uint8 [n, SIZE, SIZE, 3]), ``masks`` (bool [n, SIZE, SIZE]), ``labels``,
    ``textures`` ([n]).

    >>> d = dataset(4, "test")
    >>> d["images"].shape, d["masks"].dtype, [CLASSES[i] for i in d["labels"]]
    ((4, 64, 64, 3), dtype('bool'), ['square', 'cross', 'circle', 'cross'])
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: choose one of {list(SPLITS)}")
    if n < 1 or start < 0 or start + n > SPLITS["choose"]:
        raise ValueError(f"n={n}, start={start}: ask for at least one image, within a split's images 0 to "
                         f"{SPLITS['choose'] - 1}")
    rows = [draw(SPLITS[split] + start + i) for i in range(n)]
    return {"images": np.stack([r["image"] for r in rows]), "backgrounds": np.stack([r["background"] for r in rows]),
            "masks": np.stack([r["mask"] for r in rows]), "labels": np.array([r["label"] for r in rows], np.int64),
            "textures": np.array([r["texture"] for r in rows], np.int64)}
