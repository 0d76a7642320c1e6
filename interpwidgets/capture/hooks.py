"""capture() and intervene(): read and edit sites during any forward pass, then leave no trace.

One torch hook per (module, input|output) serves every open context: edits run first, in the order
their contexts opened, then captures, so a capture always records what flows on through the model,
whichever way the contexts are nested. Per-head q/k/v/pattern of transformers models come from a
wrapper around the attention function the model looks up in transformers' registry: the model keeps
running its own code, and the wrapper adds nothing to the outputs. Everything is removed in
``finally`` blocks, also when the forward pass raises.

A context applies to the forward passes of the thread that opened it: a widget generating with an
edit in a background thread neither edits nor shows up in what the notebook's own thread runs meanwhile.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

from .cache import ActivationCache
from .interventions import HookContext, Intervention, as_edit
from .sites import HEAD_KINDS, Site, resolve_sites, root_module

__all__ = ["capture", "intervene"]

Recorder = Callable[[Site, torch.Tensor, bool], None]


class _CallState(threading.local):
    """One thread's view of a root module's forward calls (threads running the model do not mix)."""

    call, offset, depth = -1, 0, 0


class _Tracker:
    """Counts the forward calls of a root module and reads how many tokens its KV cache holds, per thread."""

    def __init__(self, root: nn.Module):
        self.state = _CallState()
        self._handles = [
            root.register_forward_pre_hook(self._enter, with_kwargs=True),
            root.register_forward_hook(self._exit, always_call=True),
        ]

    def _enter(self, module, args, kwargs):
        st = self.state
        if st.depth == 0:
            st.call += 1
            st.offset = _cached_tokens(kwargs)
        st.depth += 1

    def _exit(self, module, args, output):
        st = self.state
        if st.depth == 0:  # a call that began before this tracker's hooks were registered
            return
        st.depth -= 1
        if st.depth == 0:
            st.offset = 0

    def next_call(self) -> int:
        """The index the running thread's next forward call will get (a context counts from it)."""
        st = self.state
        return st.call + 1 if st.depth == 0 else st.call

    @property
    def continuing(self) -> bool:
        return self.state.depth > 0 and self.state.offset > 0

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def _cached_tokens(kwargs: dict) -> int:
    for key in ("past_key_values", "cache"):
        cache = kwargs.get(key)
        if cache is not None and hasattr(cache, "get_seq_length"):
            return int(cache.get_seq_length())
    return 0


class _Handler:
    """One site of one open context: its edit or its recorder, and the thread whose passes it serves."""

    __slots__ = ("site", "edit", "record", "tracker", "thread", "first_call")

    def __init__(self, site: Site, edit: Intervention | None, record: Recorder | None, tracker: _Tracker,
                 any_thread: bool = False):
        self.site, self.edit, self.record, self.tracker = site, edit, record, tracker
        self.thread = None if any_thread else threading.get_ident()
        self.first_call = tracker.next_call()  # HookContext.call counts from the context's opening

    def context(self) -> HookContext:
        st = self.tracker.state
        return HookContext(self.site, max(st.call - self.first_call, 0), st.offset, self.site.module)


def _mine(handlers: tuple[_Handler, ...]) -> list[_Handler]:
    """The handlers that serve the running thread."""
    me = threading.get_ident()
    return [h for h in handlers if h.thread is None or h.thread == me]


# --------------------------------------------------------------------------- site layouts


def _to_site(site: Site, raw: torch.Tensor) -> torch.Tensor:
    if site.hook == "attn_fn" and site.kind in ("q", "k", "v"):
        return raw.transpose(1, 2)  # [b, heads, s, d] -> [b, s, heads, d]
    if site.kind in HEAD_KINDS:
        return raw.unflatten(-1, (-1, site.d_head))
    return raw


def _from_site(site: Site, t: torch.Tensor) -> torch.Tensor:
    if site.hook == "attn_fn" and site.kind in ("q", "k", "v"):
        return t.transpose(1, 2)
    if site.kind in HEAD_KINDS:
        return t.flatten(-2)
    return t


def _run(handlers: list[_Handler], raw: torch.Tensor, record_view=None) -> torch.Tensor:
    """Edits in order, then records of the edited value. Returns ``raw`` itself if nothing changed."""
    for h in handlers:
        if h.edit is not None:
            t = _to_site(h.site, raw)
            new = h.edit(t, h.context())
            if new is not t:
                raw = _from_site(h.site, new)
    for h in handlers:
        if h.record is not None:
            t = _to_site(h.site, raw)
            if record_view is not None:
                t = record_view(h, t)
                if t is None:
                    continue
            h.record(h.site, t, h.tracker.continuing)
    return raw


# --------------------------------------------------------------------------- torch module hooks


def _first_tensor(args: tuple, kwargs: dict) -> tuple[torch.Tensor | None, object]:
    if args and isinstance(args[0], torch.Tensor):
        return args[0], 0
    for key in ("hidden_states", "x", "input"):
        if isinstance(kwargs.get(key), torch.Tensor):
            return kwargs[key], key
    return None, None


def _output_tensor(output) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if isinstance(output, Mapping) and output:
        first = next(iter(output.values()))
        return first if isinstance(first, torch.Tensor) else None
    return None


def _replace_output(output, new: torch.Tensor):
    if isinstance(output, torch.Tensor):
        return new
    if isinstance(output, tuple):
        return type(output)((new, *output[1:])) if type(output) is tuple else (new, *output[1:])
    if isinstance(output, list):
        return [new, *output[1:]]
    output[next(iter(output.keys()))] = new  # a ModelOutput
    return output


class _Dispatch:
    """The single torch hook on one (module, input|output) that serves every handler.

    ``handlers`` is a tuple replaced whole under the registry lock, so a forward pass in another thread
    reads a consistent set while contexts open and close.
    """

    def __init__(self, module: nn.Module, where: str):
        self.handlers: tuple[_Handler, ...] = ()
        if where == "input":
            self.handle = module.register_forward_pre_hook(self._pre, with_kwargs=True)
        else:
            self.handle = module.register_forward_hook(self._post)

    def _pre(self, module, args, kwargs):
        raw, key = _first_tensor(args, kwargs)
        handlers = _mine(self.handlers)
        if raw is None or not handlers:
            return None
        new = _run(handlers, raw)
        if new is raw:
            return None
        if key == 0:
            return (new, *args[1:]), kwargs
        return args, {**kwargs, key: new}

    def _post(self, module, args, output):
        raw = _output_tensor(output)
        handlers = _mine(self.handlers)
        if raw is None or not handlers:
            return None
        new = _run(handlers, raw)
        return None if new is raw else _replace_output(output, new)


# --------------------------------------------------------------------------- transformers' attention registry

_ORIGINAL_GET_INTERFACE: list = []  # the get_interface our patch wraps (never cleared: see _patch)


def _attention_interface():
    from transformers.modeling_utils import AttentionInterface

    return AttentionInterface


def _patched_get_interface(self, attn_implementation, default):
    fn = _ORIGINAL_GET_INTERFACE[0](self, attn_implementation, default)
    return functools.partial(_attention_call, fn, default)


def _attention_call(fn, eager, module, query, key, value, attention_mask, *args, **kwargs):
    handlers = _mine(_attention_handlers(module))
    if not handlers:
        return fn(module, query, key, value, attention_mask, *args, **kwargs)
    by_kind: dict[str, list[_Handler]] = {}
    for h in handlers:
        by_kind.setdefault(h.site.kind, []).append(h)
    q_len = query.shape[2]

    def new_keys_only(h: _Handler, t: torch.Tensor):
        if not h.tracker.continuing:
            return t
        return None if h.site.cross else t[:, -q_len:]  # the cache holds the past keys already

    query = _run(by_kind.get("q", []), query)
    key = _run(by_kind.get("k", []), key, new_keys_only)
    value = _run(by_kind.get("v", []), value, new_keys_only)
    out, weights = fn(module, query, key, value, attention_mask, *args, **kwargs)
    if "pattern" in by_kind:
        probs = weights if weights is not None else _eager_weights(
            eager, module, query, key, value, attention_mask, args, kwargs,
            bottom_right="flash" in getattr(fn, "__name__", ""))
        new = _run(by_kind["pattern"], probs)
        if new is not probs:  # an edited pattern: attend with it
            n_rep = new.shape[1] // value.shape[1]
            v = value.repeat_interleave(n_rep, dim=1) if n_rep > 1 else value
            out = torch.matmul(new.to(v.dtype), v).transpose(1, 2).contiguous()
            weights = new
    return out, weights


def _eager_weights(eager, module, query, key, value, mask, args, kwargs, bottom_right: bool = False):
    """The attention probabilities, from the model's own eager function, with the mask it expects.

    Without a mask, a causal module is masked the way its kernel does it: sdpa's ``is_causal`` aligns
    the triangle to the top left, flash attention's to the bottom right (they differ only when there
    are more keys than queries, as in a chunked prefill).
    """
    if mask is not None and not isinstance(mask, torch.Tensor):
        raise NotImplementedError(
            f"attn.pattern cannot be read from a {type(mask).__name__} mask (flex attention); load the model "
            f"with attn_implementation='sdpa' or 'eager' to capture patterns")
    kw = {k: v for k, v in kwargs.items() if k not in ("dropout", "is_causal")}
    is_causal = kwargs.get("is_causal")
    is_causal = getattr(module, "is_causal", False) if is_causal is None else is_causal
    q_len, k_len = query.shape[2], key.shape[2]
    allowed = None
    if mask is not None and not mask.is_floating_point():  # boolean, or 0/1 integers (flash attention)
        allowed = mask.bool()
        if allowed.dim() == 2:  # a padding mask [batch, keys]: causality is left to the kernel
            allowed = allowed[:, None, None, :]
            mask = None
    if mask is None and is_causal and q_len > 1:
        causal = torch.ones(q_len, k_len, dtype=torch.bool, device=query.device).tril(
            k_len - q_len if bottom_right else 0)
        allowed = causal if allowed is None else allowed & causal
    if allowed is not None:
        mask = torch.zeros(allowed.shape, dtype=query.dtype, device=query.device).masked_fill(
            ~allowed, torch.finfo(query.dtype).min)
    _, weights = eager(module, query, key, value, mask, *args, dropout=0.0, **kw)
    return weights


# --------------------------------------------------------------------------- diffusers attention pattern


class _DiffusersPattern:
    """attn.pattern of a diffusers ``Attention``: from its to_q/to_k outputs in the same call.

    The q/k stash serves every thread (each keeps its own); the pattern goes to the running thread's handlers.
    """

    def __init__(self, attn: nn.Module, tracker: _Tracker):
        self.attn, self.handlers, self.stash = attn, (), threading.local()
        self.hooks = [_Handler(_stash_site(attn.to_q), None, self._keep("q"), tracker, any_thread=True),
                      _Handler(_stash_site(attn.to_k), None, self._keep("k"), tracker, any_thread=True)]
        for h in self.hooks:
            _add_module_handler(h, "output")
        self.handle = attn.register_forward_hook(self._post, with_kwargs=True)

    def _keep(self, part):
        def record(site, t, continuing):
            setattr(self.stash, part, t)
        return record

    def _post(self, module, args, kwargs, output):
        q, k = getattr(self.stash, "q", None), getattr(self.stash, "k", None)
        self.stash.q = self.stash.k = None
        handlers = _mine(self.handlers)
        if q is None or k is None or not handlers:
            return None
        a = self.attn
        mask = kwargs.get("attention_mask")
        if mask is not None:
            mask = a.prepare_attention_mask(mask, k.shape[1], q.shape[0])
        probs = a.get_attention_scores(a.head_to_batch_dim(q), a.head_to_batch_dim(k), mask)
        probs = probs.unflatten(0, (q.shape[0], a.heads))
        _run(handlers, probs)
        return None

    def remove(self):
        self.handle.remove()
        for h in self.hooks:
            _remove_module_handler(h, "output")


def _stash_site(module: nn.Module) -> Site:
    return Site("_stash", "raw", module, "", "output")


# --------------------------------------------------------------------------- registration
#
# One registry for the process, changed only under _LOCK: contexts open and close from any thread (a widget
# generating in the background, the notebook capturing meanwhile). Forward passes take no lock: every
# handler list they read is a tuple that set-up and teardown replace whole, so a pass sees the old set or
# the new one, never half of either. The registry is keyed by module, not by root: two roots can share
# modules (a context on ``model`` and one on ``model.transformer``), and one dispatcher per module keeps
# "edits first, in the order their contexts opened, then captures" across them. What is per root is the
# call tracker (each root counts its own forward calls). Handlers hold their sites and so their modules:
# an id in these keys cannot be reused while its entry exists.

_LOCK = threading.RLock()
_DISPATCH: dict[tuple[int, str], _Dispatch] = {}  # (id(module), "input"|"output")
_ATTN: dict[int, tuple[_Handler, ...]] = {}  # id(module inside an attention container) -> handlers
_DIFFUSERS: dict[int, _DiffusersPattern] = {}  # id(diffusers Attention)
_TRACKERS: dict[int, list] = {}  # id(root) -> [tracker, open contexts]
_PATCH_REFS = 0  # attention-registry handlers alive: get_interface stays patched while it is above 0


def _attention_handlers(module: nn.Module) -> tuple[_Handler, ...]:
    return _ATTN.get(id(module), ())


def _add_module_handler(h: _Handler, where: str) -> None:
    key = (id(h.site.module), where)
    if key not in _DISPATCH:
        _DISPATCH[key] = _Dispatch(h.site.module, where)
    d = _DISPATCH[key]
    d.handlers = (*d.handlers, h)


def _remove_module_handler(h: _Handler, where: str) -> None:
    key = (id(h.site.module), where)
    d = _DISPATCH[key]
    d.handlers = tuple(x for x in d.handlers if x is not h)
    if not d.handlers:
        d.handle.remove()
        del _DISPATCH[key]


def _add(h: _Handler) -> None:
    hook = h.site.hook
    if hook in ("input", "output"):
        _add_module_handler(h, hook)
    elif hook == "attn_fn":
        _patch(+1)
        for m in h.site.module.modules():
            _ATTN[id(m)] = (*_ATTN.get(id(m), ()), h)
    elif hook == "diffusers_pattern":
        key = id(h.site.module)
        if key not in _DIFFUSERS:
            _DIFFUSERS[key] = _DiffusersPattern(h.site.module, h.tracker)
        dp = _DIFFUSERS[key]
        dp.handlers = (*dp.handlers, h)
    else:  # pragma: no cover - sites are built by sites.py
        raise ValueError(f"unknown hook kind {hook!r}")


def _remove(h: _Handler) -> None:
    hook = h.site.hook
    if hook in ("input", "output"):
        _remove_module_handler(h, hook)
    elif hook == "attn_fn":
        for m in h.site.module.modules():
            rest = tuple(x for x in _ATTN[id(m)] if x is not h)
            if rest:
                _ATTN[id(m)] = rest
            else:
                del _ATTN[id(m)]
        _patch(-1)
    elif hook == "diffusers_pattern":
        dp = _DIFFUSERS[id(h.site.module)]
        dp.handlers = tuple(x for x in dp.handlers if x is not h)
        if not dp.handlers:
            dp.remove()
            del _DIFFUSERS[id(h.site.module)]


def _patch(change: int) -> None:
    """Count attention-registry handlers; patch get_interface at the first, restore it after the last.

    The function found at each first patch is kept (``_ORIGINAL_GET_INTERFACE``) and never forgotten: a
    pass that looked the patch up just before the restore still calls through it. The restore happens only
    if the class still holds our patch, so a wrapper someone installed over it meanwhile is left alone.
    """
    global _PATCH_REFS
    if _PATCH_REFS == 0 and change > 0:
        cls = _attention_interface()
        current = cls.get_interface
        if current is not _patched_get_interface:
            _ORIGINAL_GET_INTERFACE[:] = [current]
        cls.get_interface = _patched_get_interface
    elif _PATCH_REFS + change == 0 and change < 0:
        cls = _attention_interface()
        if cls.get_interface is _patched_get_interface:
            cls.get_interface = _ORIGINAL_GET_INTERFACE[0]
    _PATCH_REFS += change


@contextmanager
def _session(model, entries: list[tuple[Site, Intervention | None, Recorder | None]]) -> Iterator[None]:
    root = root_module(model)
    added: list[_Handler] = []
    with _LOCK:
        entry = _TRACKERS.get(id(root))
        if entry is None:
            entry = _TRACKERS[id(root)] = [_Tracker(root), 0]
        entry[1] += 1
        try:
            for site, edit, record in entries:
                h = _Handler(site, edit, record, entry[0])
                _add(h)
                added.append(h)
        except BaseException:
            _close(root, added)
            raise
    try:
        yield
    finally:
        with _LOCK:
            _close(root, added)


def _close(root: nn.Module, added: list[_Handler]) -> None:
    """Remove a context's handlers (all of them, even if one removal fails) and, after the root's last
    context, its call tracker."""
    failure = None
    for h in reversed(added):
        try:
            _remove(h)
        except Exception as err:  # keep removing the others; the first failure is raised at the end
            failure = failure or err
    added.clear()
    entry = _TRACKERS[id(root)]
    entry[1] -= 1
    if entry[1] == 0:
        entry[0].remove()
        del _TRACKERS[id(root)]
    if failure is not None:
        raise failure


def open_hooks() -> dict[str, int]:
    """What the engine has registered right now, process-wide (all zero when no context is open)."""
    with _LOCK:
        return {"roots": len(_TRACKERS), "dispatchers": len(_DISPATCH), "attention_modules": len(_ATTN),
                "diffusers_patterns": len(_DIFFUSERS), "registry_patches": _PATCH_REFS}


# --------------------------------------------------------------------------- public API


@contextmanager
def capture(model, sites, *, device: str | torch.device | None = None,
            dtype: torch.dtype | None = None) -> Iterator[ActivationCache]:
    """Record activations at ``sites`` during every forward pass inside the ``with`` block.

    Works around ``model(...)``, ``model.generate(...)`` (KV cache: the new tokens are appended along
    the sequence axis) and diffusers pipeline calls (one call per denoising step, stacked on a
    leading axis). Nothing about the model's outputs changes.

    Parameters
    ----------
    model
        A ``torch.nn.Module`` or a diffusers pipeline.
    sites
        A site name, a glob (``"layers.*.attn.q"``), a raw module path, or a list of them
        (see :func:`interpwidgets.sites`).
    device, dtype
        Move / cast each recorded tensor as it is captured (``device="cpu"`` offloads GPU activations).

    Yields
    ------
    ActivationCache
        Filled as the model runs; read it after the forward pass.

    Examples
    --------
    >>> import torch, interpwidgets as iw
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4)).eval()
    >>> with iw.capture(model, ["layers.*.attn.pattern", "layers.1.resid_post"]) as cache:
    ...     _ = model(torch.tensor([[1, 2, 3, 4]]))
    >>> cache["layers.0.attn.pattern"].shape
    torch.Size([1, 4, 4, 4])
    """
    resolved = resolve_sites(model, sites)
    cache = ActivationCache(resolved, device=device, dtype=dtype)
    with _session(model, [(s, None, cache._record) for s in resolved]):
        yield cache


@contextmanager
def intervene(model, edits: Mapping[str, object]) -> Iterator[None]:
    """Apply edits at sites during every forward pass inside the ``with`` block.

    Parameters
    ----------
    model
        A ``torch.nn.Module`` or a diffusers pipeline.
    edits
        ``{site or glob: edit}``, each edit an :class:`~interpwidgets.Add`, ``Scale``, ``Ablate``,
        ``Set``, ``Patch`` or a function ``fn(tensor, ctx) -> tensor`` in the site's layout.
        Shapes are checked before anything runs.

    Examples
    --------
    >>> import torch, interpwidgets as iw
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4)).eval()
    >>> ids = torch.tensor([[1, 2, 3]])
    >>> with iw.intervene(model, {"layers.*.attn.head_out": iw.Ablate(heads=[0])}):
    ...     out = model.generate(ids, max_new_tokens=3, do_sample=False, pad_token_id=0)
    """
    entries: list[tuple[Site, Intervention | None, Recorder | None]] = []
    for name, edit in edits.items():
        edit = as_edit(edit)
        for site in resolve_sites(model, name):
            if site.hook == "diffusers_pattern":
                raise ValueError(f"{site.name!r}: diffusers attention patterns can be captured, not edited; "
                                 f"edit attn.q / attn.k / attn.head_out instead")
            edit.validate(site)
            entries.append((site, edit, None))
    with _session(model, entries):
        yield
