"""Edits applied to a site's activation during a forward pass: Add, Scale, Ablate, Set, Patch.

Every edit works in the site's layout (``[batch, seq, heads, d_head]`` for per-head sites,
``[batch, heads, q, k]`` for ``attn.pattern``) and returns a new tensor; ``heads=`` and
``positions=`` select what it touches.

Positions: a non-negative position is absolute (token ``p`` of the sequence, also during cached
generation, where it is edited in the forward call that computes it); a negative one counts from
the end of each forward call, so ``positions=-1`` edits the last prompt token and every generated token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .cache import tensor_version
from .sites import HEAD_KINDS, Site

__all__ = ["HookContext", "Intervention", "Add", "Scale", "Ablate", "Set", "Patch", "as_edit"]

Index = int | Sequence[int] | torch.Tensor | None


@dataclass
class HookContext:
    """What an edit knows about the forward call it runs in."""

    site: Site
    call: int  # forward call of the model (0-based) since the context opened
    offset: int  # tokens already in the KV cache: 0 outside cached generation
    module: nn.Module


def _as_index(x: Index) -> torch.Tensor | None:
    if x is None:
        return None
    t = torch.as_tensor(x, dtype=torch.long).reshape(-1)
    return t


class Intervention:
    """Base of the edits. Subclasses implement :meth:`apply` on the selected region.

    ``heads`` and ``positions`` can be changed between forward passes (a slider moving): setting them
    converts the value and drops whatever an edit cached from the old one.
    """

    def __init__(self, heads: Index = None, positions: Index = None):
        self.heads = heads
        self.positions = positions

    @property
    def heads(self) -> torch.Tensor | None:
        return self._heads

    @heads.setter
    def heads(self, value: Index) -> None:
        self._heads = _as_index(value)
        self._changed()

    @property
    def positions(self) -> torch.Tensor | None:
        return self._positions

    @positions.setter
    def positions(self, value: Index) -> None:
        self._positions = _as_index(value)
        self._changed()

    def _changed(self) -> None:
        """A setting changed: forget anything derived from the old one."""

    def validate(self, site: Site) -> None:
        """Raise ``ValueError`` if this edit cannot apply to ``site`` (checked before any forward)."""
        if self.heads is not None:
            if site.head_axis is None:
                raise ValueError(f"{type(self).__name__}(heads=...) needs a per-head site; {site.name!r} "
                                 f"is not one (per-head sites end in attn.q/k/v/pattern/head_out)")
            if site.heads and (self.heads.max() >= site.heads or self.heads.min() < -site.heads):
                raise ValueError(f"heads={self.heads.tolist()} out of range for {site.name!r}, which has "
                                 f"{site.heads} heads (valid: 0..{site.heads - 1})")

    def _select(self, t: torch.Tensor, site: Site, ctx: HookContext) -> tuple | None:
        """An index into ``t`` for the selected heads x positions, or None if nothing is selected."""
        idx: list = [slice(None)] * t.ndim
        adv: dict[int, torch.Tensor] = {}
        if self.positions is not None:
            axis = site.seq_axis
            n = t.shape[axis]
            pos = self.positions
            # the keys and values an attention function sees include the cached past: index them absolutely
            offset = 0 if site.hook == "attn_fn" and site.kind in ("k", "v") else ctx.offset
            local = torch.where(pos < 0, pos + n, pos - offset)
            local = local[(local >= 0) & (local < n)]
            if local.numel() == 0:
                return None
            adv[axis] = local.to(t.device)
        if self.heads is not None:
            adv[site.head_axis] = (self.heads % t.shape[site.head_axis]).to(t.device)
        if len(adv) == 2:  # outer product of the two selections (axes are adjacent)
            first, second = sorted(adv)
            adv[first] = adv[first][:, None]
            adv[second] = adv[second][None, :]
        for axis, ix in adv.items():
            idx[axis] = ix
        return tuple(idx)

    def __call__(self, t: torch.Tensor, ctx: HookContext) -> torch.Tensor:
        idx = self._select(t, ctx.site, ctx)
        if idx is None:
            return t
        out = t.clone()
        out[idx] = self._new_values(t, idx, ctx).to(out.dtype)
        return out

    def _new_values(self, t: torch.Tensor, idx: tuple, ctx: HookContext) -> torch.Tensor:
        return self.apply(t[idx], ctx)

    def apply(self, region: torch.Tensor, ctx: HookContext) -> torch.Tensor:
        """The new values of the selected region."""
        raise NotImplementedError

    def _shape_hint(self, site: Site) -> str:
        fs = site.feature_shape
        if fs is None:
            return "a tensor that broadcasts against the site"
        if site.kind in HEAD_KINDS:
            n = len(self.heads) if self.heads is not None else fs[0]
            return f"({fs[1]},) or ({n}, {fs[1]})"
        return f"{fs}"

    def _check_vector(self, v: torch.Tensor, site: Site, what: str) -> None:
        fs = site.feature_shape
        if fs is None:
            return
        if site.kind in HEAD_KINDS:
            n = len(self.heads) if self.heads is not None else fs[0]
            ok = tuple(v.shape) in {(fs[1],), (n, fs[1])}
        else:
            ok = tuple(v.shape) == fs or v.ndim == 0
        if not ok:
            raise ValueError(f"{type(self).__name__}: {what} has shape {tuple(v.shape)}, but site "
                             f"{site.name!r} expects {self._shape_hint(site)}")


class Add(Intervention):
    """Add ``alpha * vector`` to the selected activations (ITI's and steering's edit).

    ``vector`` has the site's feature shape: ``(d_model,)``; for a per-head site ``(d_head,)``
    (the same for every selected head) or ``(n_selected_heads, d_head)``.

    Examples
    --------
    >>> import torch, interpwidgets as iw
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4)).eval()
    >>> edit = iw.Add(torch.ones(16), alpha=2.0, heads=[1])
    >>> with iw.intervene(model, {"layers.0.attn.head_out": edit}):
    ...     _ = model(torch.tensor([[1, 2, 3]]))
    """

    def __init__(self, vector, alpha: float = 1.0, heads: Index = None, positions: Index = None):
        self._cached, self._generation = None, 0
        super().__init__(heads, positions)
        self.vector = vector
        self.alpha = alpha

    @property
    def vector(self) -> torch.Tensor:
        return self._vector

    @vector.setter
    def vector(self, value) -> None:
        self._vector = torch.as_tensor(value)
        self._changed()

    @property
    def alpha(self) -> float:
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha = float(value)
        self._changed()

    def _changed(self) -> None:
        self._generation += 1  # in the cache key: a value computed from the old settings is never reused
        self._cached = None

    def validate(self, site: Site) -> None:
        super().validate(site)
        self._check_vector(self.vector, site, "the vector")

    def apply(self, region, ctx):
        return region + self.alpha * self.vector.to(region.device, region.dtype)

    def __call__(self, t: torch.Tensor, ctx: HookContext) -> torch.Tensor:
        broadcast = self.heads is None or ctx.site.head_axis == t.ndim - 2
        if broadcast and self.positions is None:
            return t + self._delta(t)  # every position: one broadcast add
        p = self.positions
        if broadcast and ctx.site.seq_axis == 1 and p.numel() == 1 and int(p[0]) < 0:
            # one position counted from the end of the call (ITI's edit during generation): a clone and one add
            if -int(p[0]) > t.shape[1]:
                return t  # this call is shorter: nothing selected, as for every other edit
            out = t.clone()
            out[:, int(p[0])] += self._delta(t)
            return out
        return super().__call__(t, ctx)

    def _delta(self, t: torch.Tensor) -> torch.Tensor:
        """``alpha * vector`` in ``t``'s dtype, zero on unselected heads. The key holds what it is made from:
        the settings' generation (bumped by every setter), the layout, dtype and device, and the version
        counters of the vector and the heads (changed in place)."""
        heads = self.heads
        key = (self._generation, t.shape[-2] if heads is not None else None, t.dtype, t.device,
               tensor_version(self.vector), -2 if heads is None else tensor_version(heads))
        cached = self._cached  # read once: another thread may replace it meanwhile
        if cached is None or cached[0] != key:
            v = self.alpha * self.vector.to(t.device, t.dtype)
            if heads is not None:
                full = t.new_zeros(t.shape[-2], v.shape[-1])
                full[heads.to(t.device) % t.shape[-2]] = v
                v = full
            cached = self._cached = (key, v)
        return cached[1]


class Scale(Intervention):
    """Multiply the selected activations by ``factor``."""

    def __init__(self, factor: float, heads: Index = None, positions: Index = None):
        super().__init__(heads, positions)
        self.factor = float(factor)

    def apply(self, region, ctx):
        return region * self.factor


class Ablate(Intervention):
    """Zero the selected activations, or replace them by a mean.

    ``mode="mean"`` uses ``mean`` (e.g. a dataset mean, of the site's feature shape) when given,
    otherwise the mean over the batch and positions of the current forward call.
    """

    def __init__(self, mode: str = "zero", mean=None, heads: Index = None, positions: Index = None):
        super().__init__(heads, positions)
        if mode not in ("zero", "mean"):
            raise ValueError(f"Ablate mode must be 'zero' or 'mean', got {mode!r}")
        self.mode = mode
        self.mean = None if mean is None else torch.as_tensor(mean)

    def validate(self, site: Site) -> None:
        super().validate(site)
        fs = site.feature_shape
        if self.mean is not None and fs is not None and tuple(self.mean.shape) not in {fs, fs[-1:]}:
            raise ValueError(f"Ablate: the mean has shape {tuple(self.mean.shape)}, but site {site.name!r} "
                             f"expects {fs} or {fs[-1:]}")

    def _replacement(self, t, ctx):
        if self.mode == "zero":
            return torch.zeros((), dtype=t.dtype, device=t.device).expand(t.shape)
        if self.mean is not None:
            return torch.broadcast_to(self.mean.to(t.device, t.dtype), t.shape)
        return t.mean(dim=(0, ctx.site.seq_axis), keepdim=True).expand(t.shape)

    def _new_values(self, t, idx, ctx):
        return self._replacement(t, ctx)[idx]


class Set(Intervention):
    """Set the selected activations to ``value`` (broadcast)."""

    def __init__(self, value, heads: Index = None, positions: Index = None):
        super().__init__(heads, positions)
        self.value = torch.as_tensor(value)

    def apply(self, region, ctx):
        return torch.broadcast_to(self.value.to(region.device, region.dtype), region.shape)


class Patch(Intervention):
    """Replace the selected activations by those of another run (activation patching).

    ``source`` is an :class:`~interpwidgets.ActivationCache` holding this site (``source[site]``
    is used) or a tensor in the site's layout. The source must have the shape of this run's
    activation at the site.
    """

    def __init__(self, source, heads: Index = None, positions: Index = None):
        super().__init__(heads, positions)
        self.source = source

    def _replacement(self, t, ctx):
        src = self.source[ctx.site.name] if hasattr(self.source, "calls") else torch.as_tensor(self.source)
        if src.shape != t.shape:
            raise ValueError(f"Patch at {ctx.site.name!r}: the source has shape {tuple(src.shape)}, this run's "
                             f"activation {tuple(t.shape)}; patch runs of the same batch and length")
        return src.to(t.device, t.dtype)

    _new_values = Ablate._new_values


class _Function(Intervention):
    def __init__(self, fn: Callable):
        super().__init__()
        self.fn = fn

    def __call__(self, t, ctx):
        out = self.fn(t, ctx)
        if not isinstance(out, torch.Tensor) or out.shape != t.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"edit function {getattr(self.fn, '__name__', self.fn)!r} at {ctx.site.name!r} "
                             f"must return a tensor of shape {tuple(t.shape)}, got {got}")
        return out


def as_edit(edit) -> Intervention:
    """An :class:`Intervention` from an intervention or a callable ``fn(tensor, ctx) -> tensor``."""
    if isinstance(edit, Intervention):
        return edit
    if callable(edit):
        return _Function(edit)
    raise TypeError(f"an edit is an iw.Add/Scale/Ablate/Set/Patch or a function (tensor, ctx) -> tensor, "
                    f"got {type(edit).__name__}")
