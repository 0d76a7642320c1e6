"""Images as the zoo's vision models read them: any PIL image or array made RGB (or refused, with what was
wrong), resized, centre-cropped and normalised, as a Hugging Face image processor would return them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

__all__ = ["Preprocess", "to_rgb"]

MIN_SIDE = 8  # pixels: anything smaller is not a picture a classifier can be asked about


def to_rgb(image, index: int = 0) -> np.ndarray:
    """``[H, W, 3]`` uint8 from a PIL image (any mode: grey, palette, RGBA are converted) or an array:
    ``[H, W]`` grey, ``[H, W, 3]`` RGB, ``[H, W, 4]`` RGBA (alpha dropped); uint8, or floats in [0, 1]."""
    if type(image).__module__.startswith("PIL."):
        if image.mode.startswith(("I", "F")):  # 16- and 32-bit: convert("RGB") would clip, not scale
            raise ValueError(f"image {index} is a {image.mode!r} PIL image (16/32-bit or float): scale it to "
                             f"8 bits first, e.g. Image.fromarray((array / array.max() * 255).astype('uint8'))")
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float().numpy() if image.is_floating_point() else image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image {index} is a {type(image).__name__}: give PIL images or [H, W, 3] arrays")
    a = image
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    elif a.ndim == 3 and a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    elif a.ndim == 3 and a.shape[-1] == 4:
        a = a[..., :3]  # (alpha dropped, not composited)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"image {index} has shape {image.shape}: give [H, W] (grey), [H, W, 3] (RGB) or "
                         f"[H, W, 4] (RGBA) arrays (channels last)")
    if min(a.shape[:2]) < MIN_SIDE:
        raise ValueError(f"image {index} is {a.shape[1]} x {a.shape[0]} pixels: at least {MIN_SIDE} on each side")
    if a.dtype == np.uint8:
        return np.array(a)  # a copy: the caller's array may be read-only, and torch wants it writable
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError(f"image {index} is {a.dtype} with values outside [0, 1] (or not finite): give floats "
                             f"in [0, 1] or uint8 in [0, 255]")
        return np.round(a * 255).astype(np.uint8)
    raise TypeError(f"image {index} has dtype {a.dtype}: give uint8 in [0, 255] or floats in [0, 1]")


def _single(images) -> bool:
    """One image rather than several: a PIL image, or an array or tensor of 2 or 3 dimensions (a [3, H, W]
    one is refused as channels first, not read as three grey images). Several: a list, a tuple, or 4-D."""
    if type(images).__module__.startswith("PIL."):
        return True
    return isinstance(images, np.ndarray | torch.Tensor) and images.ndim in (2, 3)


class Preprocess:
    """``preprocess(images) -> {"pixel_values": [n, 3, crop, crop]}``, for ``model(**preprocess(images))``.

    The shorter side is resized to ``resize`` (bicubic, antialiased), then a centre ``crop`` square is
    cut (``crop=None``: the whole image resized to ``resize`` x ``resize``, no crop, as AttentionView
    shows it), and each channel normalised by ``mean`` and ``std`` (on [0, 1]). Also works as
    AttentionView's ``processor=`` (it is called as ``preprocess(images=..., return_tensors="pt")``).
    The pixels come in the model's ``dtype`` and on its ``device`` (the loaders pass theirs).
    """

    def __init__(self, resize: int, crop: int | None, mean: Sequence[float], std: Sequence[float],
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        self.resize, self.crop, self.dtype, self.device = resize, crop, dtype, torch.device(device)
        self.mean = torch.tensor(mean, dtype=torch.float32).reshape(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).reshape(3, 1, 1)

    def __repr__(self) -> str:
        return f"Preprocess(resize={self.resize}, crop={self.crop}, mean={self.mean.flatten().tolist()}, " \
               f"std={self.std.flatten().tolist()})"

    def _resized(self, image, index: int) -> torch.Tensor:
        """``[3, h, w]`` floats in [0, 1]: resized and cropped, not yet normalised."""
        x = torch.from_numpy(to_rgb(image, index)).permute(2, 0, 1).float()[None] / 255
        h, w = x.shape[-2:]
        if self.crop is None:
            size = (self.resize, self.resize)
        else:
            s = self.resize / min(h, w)
            size = (max(self.crop, round(h * s)), max(self.crop, round(w * s)))
        x = torch.nn.functional.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
        x = x.clamp(0, 1)[0]
        if self.crop is not None:
            top, left = (x.shape[1] - self.crop) // 2, (x.shape[2] - self.crop) // 2
            x = x[:, top:top + self.crop, left:left + self.crop]
        return x

    def one(self, image, index: int = 0) -> torch.Tensor:
        return (self._resized(image, index) - self.mean) / self.std

    def picture(self, image, index: int = 0) -> np.ndarray:
        """The picture the model is shown, as ``[h, w, 3]`` uint8: resized and cropped, not normalised
        (what saliency maps are drawn on and what the PIC metric blurs)."""
        return np.round(self._resized(image, index).permute(1, 2, 0).numpy() * 255).astype(np.uint8)

    def __call__(self, images=None, return_tensors: str | None = "pt") -> dict[str, torch.Tensor]:
        if images is None:
            raise TypeError("give the images: preprocess(images)")
        items: Iterable = [images] if _single(images) else images
        pixels = [self.one(im, i) for i, im in enumerate(items)]
        if not pixels:
            raise ValueError("no images given: pass one image or a list of them")
        return {"pixel_values": torch.stack(pixels).to(device=self.device, dtype=self.dtype)}
