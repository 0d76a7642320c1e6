"""Canonical site names, derived from a model's module structure by a few rules.

No table per checkpoint: the rules read what every transformer shares.

* An **attention container** (``GPT2Attention``, ``BertAttention``, ``T5LayerSelfAttention``, diffusers'
  ``Attention``): from each innermost module whose attribute or class name says ``attn``/``attention``
  and that holds a linear layer, climb through parents that say so too (``BertSelfAttention`` ->
  ``BertAttention``), never through a layer list or a block. Its name or class saying ``cross``,
  ``encdec`` or ``encoder_attn`` (or diffusers' ``is_cross_attention``) makes it cross-attention.
* A **block** is the nearest ancestor of an attention container that is an element of a
  ``ModuleList`` (a layer stack). Blocks are grouped by that list: one list gives ``layers.{i}``,
  an encoder-decoder gives ``encoder.layers.{i}`` and ``decoder.layers.{i}``. In a diffusers UNet
  every ``BasicTransformerBlock`` is one layer, numbered in execution order (down, mid, up).
* The attention's **output projection** is the last linear layer of its container that writes the
  width its first linear reads (q/k/v read the residual stream; the output projection writes back to
  it): ``attn.head_out`` is its input split into heads, ``attn.out`` its output.
* The **MLP down projection** is the last linear of the block, outside attention, whose output
  width equals the attention's: ``mlp.hidden`` is its input, ``mlp.out`` its output.
* Per-head ``q``/``k``/``v``/``pattern`` come from transformers' attention-function registry when
  the model's code calls it, and from ``to_q``/``to_k``/``to_v`` in diffusers.

Any raw module path (``transformer.h.3.mlp``) is a site too: the module's output, or its first
input with a ``:input`` suffix.
"""

from __future__ import annotations

import difflib
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from torch import nn

__all__ = ["Site", "SiteNotFoundError", "UnsupportedModelError", "sites", "resolve_sites", "root_module"]

# Site kinds and where their sequence / head axes sit in the site layout.
HEAD_KINDS = {"q", "k", "v", "head_out"}
SEQ_AXIS = {"pattern": 2}
HEAD_AXIS = {"q": 2, "k": 2, "v": 2, "head_out": 2, "pattern": 1}

_ATTN_RE = re.compile(r"attn|attention", re.I)
_CROSS_RE = re.compile(r"cross|encdec|encoder_?attn", re.I)
_HEAD_ATTRS = ("num_heads", "num_attention_heads", "n_heads", "heads", "n_head")
_KV_HEAD_ATTRS = ("num_key_value_heads", "num_kv_heads", "n_kv_heads")
_UNET_STAGES = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}


class SiteNotFoundError(KeyError):
    """An unknown site name; the message lists the close matches."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class UnsupportedModelError(SiteNotFoundError):
    """A canonical site was asked of a model that no family rule can read."""


@dataclass(eq=False)
class Site:
    """One readable and editable place in a model.

    ``hook`` says how it is reached: ``"input"`` / ``"output"`` of ``module`` (a torch hook),
    ``"attn_fn"`` (transformers' attention-function registry, ``module`` is the attention container),
    or ``"diffusers_pattern"`` (computed from diffusers' ``to_q``/``to_k`` in the same call).
    """

    name: str
    kind: str
    module: nn.Module = field(repr=False)
    path: str
    hook: str
    heads: int | None = None
    d_head: int | None = None
    width: int | None = None
    cross: bool = False

    @property
    def feature_shape(self) -> tuple[int, ...] | None:
        """Trailing shape of one token's activation (``(heads, d_head)`` or ``(width,)``)."""
        if self.kind in HEAD_KINDS and self.heads and self.d_head:
            return (self.heads, self.d_head)
        if self.width:
            return (self.width,)
        return None

    @property
    def seq_axis(self) -> int:
        return SEQ_AXIS.get(self.kind, 1)

    @property
    def head_axis(self) -> int | None:
        return HEAD_AXIS.get(self.kind)


def root_module(model) -> nn.Module:
    """The module whose forward calls are the steps of a run: the model, or a pipeline's denoiser."""
    if isinstance(model, nn.Module):
        return model
    for attr in ("unet", "transformer"):
        sub = getattr(model, attr, None)
        if isinstance(sub, nn.Module):
            return sub
    raise TypeError(
        f"expected a torch.nn.Module or a diffusers pipeline with a `unet`, got {type(model).__name__}"
    )


# --------------------------------------------------------------------------- module structure helpers


def _linear_dims(m: nn.Module) -> tuple[int, int] | None:
    if isinstance(m, nn.Linear):
        return m.in_features, m.out_features
    if type(m).__name__ == "Conv1D" and hasattr(m, "nf"):  # GPT-2's transposed linear
        return int(m.weight.shape[0]), int(m.nf)
    return None


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _is_container(m: nn.Module) -> bool:
    return isinstance(m, nn.ModuleList | nn.ModuleDict | nn.Sequential)


def _int_attr(modules: Iterable[nn.Module], names: tuple[str, ...]) -> int | None:
    for m in modules:
        for n in names:
            v = getattr(m, n, None)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                return v
    return None


def _config_value(model: nn.Module, names: tuple[str, ...], prefix: str) -> int | None:
    config = getattr(model, "config", None)
    if config is None:
        return None
    if prefix:  # e.g. Marian's encoder_attention_heads
        found = _int_attr([config], tuple(f"{prefix}_{n}" for n in ("attention_heads",) + names))
        if found:
            return found
    return _int_attr([config], names)


def _uses_attention_registry(container: nn.Module) -> bool:
    """Whether the container's code calls transformers' attention-function registry."""
    for m in container.modules():
        mod = sys.modules.get(type(m).__module__)
        if mod is not None and hasattr(mod, "ALL_ATTENTION_FUNCTIONS"):
            return True
    return False


def _is_diffusers_attention(m: nn.Module) -> bool:
    return all(hasattr(m, a) for a in ("to_q", "to_k", "to_v", "to_out")) and hasattr(m, "heads")


# --------------------------------------------------------------------------- the family rules


@dataclass
class _Attention:
    path: str
    module: nn.Module
    cross: bool


@dataclass
class _Block:
    path: str
    module: nn.Module
    stack: str
    index: int
    attentions: list[_Attention] = field(default_factory=list)


def _find_blocks(model: nn.Module) -> list[_Block]:
    modules = dict(model.named_modules())
    parents = {path: path.rsplit(".", 1)[0] if "." in path else "" for path in modules}
    order = {p: i for i, p in enumerate(modules)}
    def matches(path: str) -> bool:
        m = modules[path]
        return bool(path) and not _is_container(m) and bool(
            _ATTN_RE.search(_leaf(path)) or _ATTN_RE.search(type(m).__name__)
        )

    # innermost matching modules that hold a linear, climbed through parents that match too
    # (BertSelfAttention -> BertAttention), never through a block or a layer list
    hits = {p for p in modules if matches(p) and any(_linear_dims(s) for s in modules[p].modules())}
    innermost = [p for p in hits if not any(q.startswith(p + ".") for q in hits)]
    attns: dict[str, _Attention] = {}
    for path in innermost:
        while matches(parents[path]):
            path = parents[path]
        m = modules[path]
        cross = bool(
            _CROSS_RE.search(_leaf(path))
            or _CROSS_RE.search(type(m).__name__)
            or any(getattr(s, "is_cross_attention", False) for s in m.modules())
        )
        attns.setdefault(path, _Attention(path, m, cross))
    blocks: dict[str, _Block] = {}
    for att in sorted(attns.values(), key=lambda a: order[a.path]):
        path = parents[att.path]
        while path:
            parent = parents[path]
            if isinstance(modules.get(parent), nn.ModuleList) and not _is_container(modules[path]):
                break
            path = parent
        if not path:
            continue  # attention outside any layer stack (e.g. a pooling head)
        if path not in blocks:
            blocks[path] = _Block(path, modules[path], parents[path], int(_leaf(path)))
        blocks[path].attentions.append(att)
    return list(blocks.values())


def _name_stacks(model: nn.Module, blocks: list[_Block]) -> list[tuple[str, list[_Block]]]:
    """Group blocks into named stacks, each in execution order."""
    if any(b.path.split(".")[0] in _UNET_STAGES for b in blocks):  # a diffusers UNet: one stack
        order = {p: i for i, (p, _) in enumerate(model.named_modules())}
        blocks = sorted(blocks, key=lambda b: (_UNET_STAGES.get(b.path.split(".")[0], 3), order[b.path]))
        return [("", blocks)]
    stacks: dict[str, list[_Block]] = {}
    for b in blocks:
        stacks.setdefault(b.stack, []).append(b)
    for members in stacks.values():
        members.sort(key=lambda b: b.index)
    if len(stacks) == 1:
        return [("", next(iter(stacks.values())))]
    names = list(stacks)
    enc = [n for n in names if "encoder" in n.split(".") and "decoder" not in n]
    dec = [n for n in names if "decoder" in n.split(".")]
    if len(names) == 2 and len(enc) == 1 and len(dec) == 1:
        return [("encoder.", stacks[enc[0]]), ("decoder.", stacks[dec[0]])]
    return [(n.replace(".", "_") + ".", stacks[n]) for n in names]


def _attention_sites(model, prefix: str, att: _Attention, layer: str, stack_kind: str) -> list[Site]:
    m = att.module
    linears = [(p, s) for p, s in m.named_modules() if _linear_dims(s)]
    # q/k/v read the residual stream; the output projection writes back to it (Phi-3 registers it first)
    d_resid = _linear_dims(linears[0][1])[0]
    writers = [(p, s) for p, s in linears if _linear_dims(s)[1] == d_resid]
    if not writers:
        return []
    o_path, o_mod = writers[-1]
    o_in, o_out = _linear_dims(o_mod)
    mods = list(m.modules())
    heads = _int_attr(mods, _HEAD_ATTRS) or _config_value(model, ("num_attention_heads",), stack_kind)
    if not heads or o_in % heads:
        return []
    d_head = o_in // heads
    groups = _int_attr(mods, ("num_key_value_groups",))
    kv_heads = _int_attr(mods, _KV_HEAD_ATTRS) or (heads // groups if groups else None)
    kv_heads = kv_heads or _config_value(model, _KV_HEAD_ATTRS, "") or heads
    part = "cross_attn" if att.cross else "attn"
    base = f"{prefix}{layer}.{part}"
    o_full = f"{att.path}.{o_path}"
    out = []

    def add(kind, module, path, hook, *, n_heads=heads, width=None):
        out.append(Site(f"{base}.{kind if kind != 'attn_out' else 'out'}", kind, module, path, hook,
                        heads=n_heads if kind in HEAD_KINDS | {"pattern"} else None,
                        d_head=d_head if kind in HEAD_KINDS else None,
                        width=width, cross=att.cross))

    if _is_diffusers_attention(m) and getattr(m, "norm_q", None) is None:
        for kind, lin in (("q", "to_q"), ("k", "to_k"), ("v", "to_v")):
            add(kind, getattr(m, lin), f"{att.path}.{lin}", "output")
        add("pattern", m, att.path, "diffusers_pattern")
    elif _uses_attention_registry(m):
        for kind in ("q", "k", "v"):
            add(kind, m, att.path, "attn_fn", n_heads=heads if kind == "q" else kv_heads)
        add("pattern", m, att.path, "attn_fn")
    add("head_out", o_mod, o_full, "input")
    add("attn_out", o_mod, o_full, "output", width=o_out)
    return out


def _build(model) -> dict[str, Site]:
    root = root_module(model)
    blocks = _find_blocks(root)
    found: dict[str, Site] = {}
    for prefix, members in _name_stacks(root, blocks):
        stack_kind = prefix.rstrip(".") if prefix in ("encoder.", "decoder.") else ""
        for i, b in enumerate(members):
            layer = f"layers.{i}"
            site_list = [Site(f"{prefix}{layer}.resid_pre", "resid", b.module, b.path, "input")]
            if i == 0:  # what enters the first block: token (+ position) embeddings
                site_list.insert(0, Site(f"{prefix}embed", "resid", b.module, b.path, "input"))
            d_model = None
            for att in b.attentions:
                att_sites = _attention_sites(root, prefix, att, layer, stack_kind)
                site_list += att_sites
                d_model = d_model or next((s.width for s in att_sites if s.kind == "attn_out"), None)
            attn_paths = [a.path for a in b.attentions]
            mlp = None
            for p, s in root.get_submodule(b.path).named_modules(prefix=b.path):
                dims = _linear_dims(s)
                if dims and d_model and dims[1] == d_model and not any(
                    p.startswith(a + ".") for a in attn_paths
                ):
                    mlp = (p, s, dims)
            if mlp:
                p, s, (d_in, d_out) = mlp
                site_list.append(Site(f"{prefix}{layer}.mlp.hidden", "hidden", s, p, "input", width=d_in))
                site_list.append(Site(f"{prefix}{layer}.mlp.out", "mlp_out", s, p, "output", width=d_out))
            site_list.append(Site(f"{prefix}{layer}.resid_post", "resid", b.module, b.path, "output"))
            for s in site_list:
                if s.kind == "resid":
                    s.width = d_model
                found[s.name] = s
    return found


_CACHE: WeakKeyDictionary = WeakKeyDictionary()  # root module -> (module count, site table)
_CACHE_LOCK = threading.Lock()


def _current(root: nn.Module, sites: Iterable[Site]) -> bool:
    """Whether every site's module is still the one at its path (a module replaced by a copy is not)."""
    for s in sites:
        try:
            if root.get_submodule(s.path) is not s.module:
                return False
        except AttributeError:
            return False
    return True


def _site_table(model, check: Iterable[str] | None = None) -> dict[str, Site]:
    """The canonical sites, rebuilt when modules were added, removed or replaced since the last build.

    ``check`` names the sites whose modules are verified (all of them when None): a replaced module
    (``attn.c_proj = copy``) keeps the module count, so counting alone would miss it.
    """
    root = root_module(model)
    n_modules = sum(1 for _ in root.modules())
    with _CACHE_LOCK:
        cached = _CACHE.get(root)
    if cached is not None and cached[0] == n_modules:
        table = cached[1]
        names = table if check is None else [n for n in check if n in table]
        if _current(root, (table[n] for n in names)):
            return table
    table = _build(model)
    with _CACHE_LOCK:
        _CACHE[root] = (n_modules, table)
    return table


def sites(model, details: bool = False) -> list[str] | list[Site]:
    """List every canonical site a model offers.

    Parameters
    ----------
    model
        A ``torch.nn.Module`` (any transformers model, a plain module) or a diffusers pipeline.
    details
        Return :class:`Site` records (module path, hook, heads, widths) instead of names.

    Returns
    -------
    list
        Canonical names in execution order (for an encoder-decoder, the encoder's first). A model
        that no family rule can read has no canonical sites: its raw module paths are returned
        instead, each a valid site.

    Examples
    --------
    >>> import interpwidgets as iw
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4))
    >>> iw.sites(model)[:4]
    ['embed', 'layers.0.resid_pre', 'layers.0.attn.q', 'layers.0.attn.k']
    """
    table = _site_table(model)
    if not table:
        raw = [p for p, _ in root_module(model).named_modules() if p]
        return [_raw_site(model, p) for p in raw] if details else raw
    return list(table.values()) if details else list(table)


def _raw_site(model, name: str) -> Site:
    path, _, end = name.partition(":")
    if end not in ("", "input", "output"):
        raise SiteNotFoundError(f"raw site {name!r}: the suffix after ':' must be 'input' or 'output'")
    root = root_module(model)
    try:
        module = root.get_submodule(path)
    except AttributeError:
        head, _, rest = path.partition(".")
        component = getattr(model, head, None) if not isinstance(model, nn.Module) else None
        if not isinstance(component, nn.Module):
            raise
        module = component.get_submodule(rest) if rest else component
    return Site(name, "raw", module, path, end or "output")


def glob_regex(pattern: str) -> re.Pattern:
    """A regex for a site glob: ``*`` is one dot-free name part, ``**`` any run of parts.

    ``layers.*.attn.q`` matches every layer's queries; ``**.attn.pattern`` also those of an
    encoder-decoder's ``encoder.`` and ``decoder.`` stacks.
    """
    parts = [re.escape(p).replace(r"\*", r"[^.]+") for p in pattern.split("**")]
    return re.compile("^" + ".*".join(parts) + "$")


def resolve_sites(model, names: str | Iterable[str]) -> list[Site]:
    """Expand names and glob patterns (``layers.*.attn.q``) into sites, in the order given.

    Raises
    ------
    SiteNotFoundError
        For an unknown name, listing the close matches.
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    try:
        out = _resolve(model, _site_table(model, check=()), names)
    except SiteNotFoundError:  # perhaps a replaced module added or removed sites: look again before saying so
        out = _resolve(model, _site_table(model), names)
    canonical = [s.name for s in out if s.kind != "raw"]
    table = _site_table(model, check=canonical)  # rebuilt if one of these modules was replaced
    if canonical and any(table.get(s.name) is not s for s in out if s.kind != "raw"):
        out = _resolve(model, table, names)
    return out


def _resolve(model, table: dict[str, Site], names: list[str]) -> list[Site]:
    out: list[Site] = []
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"site names are strings, got {type(name).__name__}: {name!r}")
        if "*" in name:
            rx = glob_regex(name)
            hits = [s for n, s in table.items() if rx.match(n)]
            if not hits:
                raise _not_found(model, table, name)
        elif name in table:
            hits = [table[name]]
        else:
            try:
                hits = [_raw_site(model, name)]
            except AttributeError:
                raise _not_found(model, table, name) from None
        for s in hits:
            if s.name not in seen:
                seen.add(s.name)
                out.append(s)
    return out


def _not_found(model, table: dict[str, Site], name: str) -> SiteNotFoundError:
    root = root_module(model)
    kind = type(root).__name__
    if not table:
        raw = [p for p, _ in root.named_modules() if p][:6]
        return UnsupportedModelError(
            f"{kind} has no canonical site {name!r}: no family rule could find transformer blocks in it "
            f"(attention modules inside a ModuleList of layers). Address its modules by raw path "
            f"instead, e.g. {raw!r}; a raw path captures the module's output, add ':input' for its input. "
            f"iw.sites(model) lists them all."
        )
    pool = list(table) + [p for p, _ in root.named_modules() if p]
    close = difflib.get_close_matches(name, pool, n=5, cutoff=0.5)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    return SiteNotFoundError(
        f"{kind} has no site {name!r}.{hint} iw.sites(model) lists all {len(table)} canonical sites; "
        f"raw module paths such as {next(iter(p for p, _ in root.named_modules() if p))!r} work too."
    )
