"""ActivationCache: what a capture recorded, one tensor per site, detached."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

from .sites import Site, glob_regex

__all__ = ["ActivationCache"]


def tensor_version(t: torch.Tensor) -> int:
    """``t``'s autograd version counter (bumped by in-place changes); -1 for an inference-mode tensor, which
    has none (captures under ``torch.inference_mode()`` cannot be checked for later in-place changes)."""
    return -1 if t.is_inference() else t._version


class ActivationCache(Mapping):
    """Activations recorded by :func:`interpwidgets.capture`, keyed by site name.

    Each forward call of the model is one *call*. During cached generation the steps that continue a
    sequence are appended to their call along the sequence axis (``attn.pattern`` rows are padded to
    the final key length), so ``cache[site]`` after ``model.generate`` covers prompt and new tokens.
    Several independent calls of the same shape (the denoising steps of a diffusers pipeline) are
    stacked on a new leading axis; :meth:`calls` gives them as a list in every case.

    Examples
    --------
    >>> import torch, interpwidgets as iw
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4)).eval()
    >>> with iw.capture(model, "layers.*.resid_post") as cache:
    ...     _ = model(torch.tensor([[1, 2, 3]]))
    >>> cache["layers.1.resid_post"].shape
    torch.Size([1, 3, 64])
    >>> cache.stack("layers.*.resid_post").shape
    torch.Size([2, 1, 3, 64])
    """

    def __init__(self, sites: list[Site], device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None):
        self._sites = {s.name: s for s in sites}
        self._device = torch.device(device) if device is not None else None
        self._dtype = dtype
        self._calls: dict[str, list[list[tuple[torch.Tensor, int]]]] = {}
        self._merged: dict[str, list[torch.Tensor]] = {}

    # ------------------------------------------------------------------ recording (used by the hooks)
    def _record(self, site: Site, tensor: torch.Tensor, continuing: bool) -> None:
        t = tensor.detach()
        version = tensor_version(t)
        if self._device is not None or self._dtype is not None:
            t = t.to(device=self._device or t.device, dtype=self._dtype or t.dtype, copy=True)
            version = -1  # an own copy: later in-place edits by the model cannot reach it
        calls = self._calls.setdefault(site.name, [])
        if continuing and calls:
            calls[-1].append((t, version))
        else:
            calls.append([(t, version)])
        self._merged.pop(site.name, None)

    # ------------------------------------------------------------------ reading
    def calls(self, name: str) -> list[torch.Tensor]:
        """Every forward call's tensor for a site, in order."""
        if name not in self._merged:
            if name not in self._calls:
                raise self._missing(name)
            site = self._sites[name]
            self._merged[name] = [self._merge(site, chunks) for chunks in self._calls[name]]
        return self._merged[name]

    def __getitem__(self, name: str) -> torch.Tensor:
        calls = self.calls(name)
        if len(calls) == 1:
            return calls[0]
        if all(c.shape == calls[0].shape for c in calls):
            return torch.stack(calls)
        shapes = ", ".join(str(tuple(c.shape)) for c in calls[:4])
        raise ValueError(
            f"site {name!r} was recorded in {len(calls)} forward calls of different shapes ({shapes}, ...); "
            f"cache.calls({name!r}) gives them as a list"
        )

    def __iter__(self) -> Iterator[str]:
        return iter([n for n in self._sites if n in self._calls])

    def __len__(self) -> int:
        return sum(1 for n in self._sites if n in self._calls)

    def __contains__(self, name: object) -> bool:
        return name in self._calls

    def stack(self, pattern: str) -> torch.Tensor:
        """Stack the sites matching a glob (``layers.*.resid_post``) on a new leading axis."""
        rx = glob_regex(pattern)
        names = [n for n in self if rx.match(n)]
        if not names:
            raise KeyError(f"no recorded site matches {pattern!r}; recorded: {list(self)[:8]}")
        return torch.stack([self[n] for n in names])

    @property
    def sites(self) -> dict[str, Site]:
        """The requested sites, by name."""
        return dict(self._sites)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for calls in self._calls.values() for c in calls for t, _ in c)

    def to(self, device=None, dtype=None) -> dict[str, torch.Tensor]:
        """A plain dict of every site moved to ``device`` / cast to ``dtype``."""
        return {n: self[n].to(device=device, dtype=dtype) for n in self}

    def clear(self) -> None:
        """Forget everything recorded (the hooks stay on while the context is open)."""
        self._calls.clear()
        self._merged.clear()

    def __repr__(self) -> str:
        rows = []
        for n in list(self)[:12]:
            calls = self._calls[n]
            rows.append(f"  {n}: {len(calls)} call(s), first {tuple(self.calls(n)[0].shape)}")
        more = f"\n  ... {len(self) - 12} more" if len(self) > 12 else ""
        return f"ActivationCache({len(self)} sites, {self.nbytes / 1e6:.1f} MB)\n" + "\n".join(rows) + more

    # ------------------------------------------------------------------ helpers
    def _missing(self, name: str) -> KeyError:
        if name in self._sites:
            site = self._sites[name]
            why = ""
            if site.hook == "attn_fn":
                why = (" Its module never called transformers' attention-function registry during the "
                       "capture (a model with its own attention code offers only head_out and out).")
            return KeyError(f"site {name!r} was requested but no forward pass reached it.{why}")
        return KeyError(f"{name!r} was not captured; captured sites: {list(self)[:8]}")

    def _merge(self, site: Site, chunks: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
        for t, version in chunks:
            if version >= 0 and t._version != version:
                raise RuntimeError(
                    f"the model modified the activation at {site.name!r} in place after it was captured; "
                    f"capture with device='cpu' (or dtype=) to keep an own copy"
                )
        tensors = [t for t, _ in chunks]
        if len(tensors) == 1:
            return tensors[0]
        axis = site.seq_axis
        if site.kind == "pattern":  # rows of a growing key axis: pad every step to the last length
            k = max(t.shape[-1] for t in tensors)
            tensors = [torch.nn.functional.pad(t, (0, k - t.shape[-1])) for t in tensors]
        return torch.cat(tensors, dim=axis)
