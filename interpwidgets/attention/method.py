"""AttentionViz (Yeh et al. 2023), the science: queries and keys of every head, normalized so that
distance tracks attention, and per-head statistics that point at heads worth a look.

The projections to 2-D / 3-D live in :mod:`interpwidgets.attention.projection`; the widget in
:mod:`interpwidgets.attention.widget`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..capture import capture, sites
from ..capture.inputs import _pad, check_token_ids, context_length, find_tokenizer, model_device, texts_or_ids

__all__ = ["QKData", "collect_qk", "normalize_qk", "unit_patterns", "top_keys", "STATISTICS", "IMAGE_STATISTICS",
           "NORMALIZATIONS"]

SUPPORTED = ("GPT-2, Llama, Mistral, Qwen, Gemma, Phi-3, GPT-NeoX, OPT, GPT-J, BERT / RoBERTa / DistilBERT / "
             "MiniLM, ViT, CLIP, T5, BART and Marian (any model whose attention goes through transformers' "
             "attention registry)")
STATISTICS = {
    "qk_distance": "distance between the query and key centroids, in units of their spread",
    "entropy": "mean entropy of a query's attention, in nats (low: focused heads)",
    "offset": "mean attended offset, key minus query position, first and last tokens left out (-1: previous token)",
    "sink": "mean attention on the first and last tokens ([CLS], [SEP], BOS: where attention sinks sit)",
    "previous_token": "|offset + 1|: how far the mean attended offset is from the previous token (0 first)",
}
IMAGE_STATISTICS = {  # for vision transformers, in place of offset and previous_token
    "qk_distance": STATISTICS["qk_distance"], "entropy": STATISTICS["entropy"],
    "sink": "mean attention on [CLS]",
    "patch_distance": "mean distance from a patch to the patches it attends to, in patches ([CLS] left out; "
                      "low: spatial heads)",
    "colour_affinity": "colour difference of what a patch attends to 3+ patches away, over that of all patches that "
                       "far, weighted by that attention (below 1: heads that seek similar colours and brightness)",
}
FAR = 3.0  # patches: colour affinity is measured beyond this, where spatial heads do not reach


@dataclass
class QKData:
    """Queries and keys of every head over a set of inputs, one row per token.

    ``q`` and ``k`` are ``[layers, heads, tokens, d_head]`` (under grouped-query attention each query
    head is paired with its key-value head). The token tables say where each row came from: ``unit``
    is the input (a text, a window of a long text, or an image) and ``position`` the place in it.
    """

    q: torch.Tensor
    k: torch.Tensor
    tokens: list[str]
    unit: np.ndarray
    position: np.ndarray
    units: list[dict]  # per unit: {"source": input index, "start": first position, "inputs": model inputs}
    stack: str  # the site prefix: "layers." or "encoder.layers." / "decoder.layers."
    stats: dict[str, np.ndarray] = field(default_factory=dict)  # [layers, heads] each, see STATISTICS
    grid: tuple[int, int] | None = None  # ViT: patches per side (rows, cols)
    images: np.ndarray | None = None  # ViT: [units, H, W, 3] uint8, what the model saw

    @property
    def n_layers(self) -> int:
        return self.q.shape[0]

    @property
    def n_heads(self) -> int:
        return self.q.shape[1]

    def unit_length(self) -> np.ndarray:
        """Per token: the length of its unit (for positions normalized to [0, 1])."""
        return np.bincount(self.unit)[self.unit]

    def rows(self, unit: int) -> range:
        """The rows of one unit: they are contiguous, in unit order."""
        return range(int(np.searchsorted(self.unit, unit)), int(np.searchsorted(self.unit, unit, "right")))

    def sentence(self, i: int) -> str:
        """The text of token ``i``'s unit with the token marked, for hover cards and ``view.selected``."""
        rows = self.rows(self.unit[i])
        return " ".join(f"[{self.tokens[r]}]" if r == i else self.tokens[r] for r in rows)


def _stack_sites(model, attention: str | None) -> tuple[str, list[int], int]:
    """The site prefix of the stack read, its layer numbers and its number of query heads."""
    records = {s.name: s for s in sites(model, details=True)}
    names = list(records)
    qs = [n for n in names if n.endswith(".attn.q")]
    if not qs or not any(n.endswith(".attn.k") for n in names):
        raise ValueError(f"{type(model).__name__}: the engine cannot read separate queries and keys of this model "
                         f"(its attention code does not go through transformers' attention registry). "
                         f"AttentionView supports {SUPPORTED}.")
    prefixes = sorted({n[:n.index("layers.") + 7] for n in qs})
    choices = {p.split(".")[0] if p != "layers." else "self": p for p in prefixes}
    attention = attention or ("encoder" if "encoder" in choices else "self")
    if attention not in choices:
        raise ValueError(f"attention must be one of {sorted(choices)} for {type(model).__name__}, got {attention!r}"
                         + (" (cross-attention is shown by AttentionPatterns(attention='cross'))"
                            if attention == "cross" else ""))
    stack = choices[attention]
    layers = sorted(int(n[len(stack):].split(".")[0]) for n in qs if n.startswith(stack))
    return stack, layers, records[f"{stack}{layers[0]}.attn.q"].heads


def _is_vision(model) -> bool:
    params = inspect.signature(model.forward).parameters
    return "pixel_values" in params and "input_ids" not in params


def collect_qk(model, inputs, tokenizer=None, *, attention: str | None = None, window: int | None = None,
               batch_size: int = 8, processor=None, progress: bool = True) -> QKData:
    """Run ``model`` over ``inputs`` and keep every head's queries and keys, with the statistics.

    Parameters
    ----------
    model
        A transformers model whose q/k sites the engine reads (see ``SUPPORTED``).
    inputs
        Texts for language models; for ViTs, images: PIL images, ``[H, W, 3]`` uint8 arrays, or a float
        tensor ``[n, 3, H, W]`` of pixel values already prepared for the model.
    tokenizer, processor
        Found from the model when not given (texts); images are resized and normalized with mean and
        std 0.5 (ViT's default) unless an image ``processor`` is given.
    attention
        Encoder-decoders: ``"encoder"`` (default) or ``"decoder"`` self-attention.
    window
        Longer texts are cut into windows of this many tokens, each run on its own (default: the
        model's context, at most 512).

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> from interpwidgets.attention.method import collect_qk
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50)).eval()
    >>> data = collect_qk(model, [torch.tensor([1, 2, 3]), torch.tensor([4, 5])], progress=False)
    >>> data.q.shape, sorted(data.stats)
    (torch.Size([2, 4, 5, 8]), ['entropy', 'offset', 'previous_token', 'qk_distance', 'sink'])
    """
    stack, layers, n_heads = _stack_sites(model, attention)
    vision = _is_vision(model)
    one_image = vision and (_looks_like_image(inputs) or (isinstance(inputs, np.ndarray) and inputs.ndim == 3))
    if one_image:
        inputs = [inputs]
    elif not vision and _token_ids(inputs):  # token ids: a [batch, seq] tensor, one sequence, or a list of them
        inputs = texts_or_ids(inputs)
    elif isinstance(inputs, str | torch.Tensor) and not vision:
        inputs = [inputs]
    if len(inputs) == 0:
        raise ValueError("AttentionView needs at least one input")
    images = grid = None
    if vision:
        units, images, grid = _image_units(model, inputs, processor)
    else:
        if _looks_like_image(inputs[0]) or any(isinstance(x, np.ndarray | torch.Tensor) and x.ndim >= 2
                                               for x in inputs):
            raise TypeError(f"{type(model).__name__} reads text; got images (or float arrays). Images go to vision "
                            f"transformers (ViT); token ids go as integer tensors ([batch, seq] or one per text).")
        tok = find_tokenizer(model, tokenizer, required=any(isinstance(x, str) for x in inputs))  # ids: names only
        window = window or min(context_length(model, tok) or 512, 512)
        units = _text_units(inputs, tok, window)
        if getattr(model.config, "is_encoder_decoder", False):  # the decoder reads the same tokens
            for u in units:
                u["inputs"]["decoder_input_ids"] = u["inputs"]["input_ids"]
    names = [f"{stack}{i}.attn.{part}" for part in ("q", "k", "pattern") for i in layers]
    device = model_device(model)
    qs, ks, toks, unit_ids, pos = [], [], [], [], []
    sums: dict[str, torch.Tensor] = {}
    order = sorted(range(len(units)), key=lambda i: units[i]["length"])  # similar lengths batch together
    batches = _batches(order, [units[i]["length"] for i in order], batch_size, len(layers) * n_heads)
    per_unit: dict[int, tuple] = {}
    for batch in tqdm(batches, desc="queries and keys", disable=not progress or len(batches) < 2):
        feed = _batch([units[i]["inputs"] for i in batch])
        if "input_ids" in feed:
            check_token_ids(model, feed["input_ids"])
        feed = {k: v.to(device) for k, v in feed.items()}
        with torch.no_grad(), capture(model, names, device="cpu") as cache:
            model(**feed)
        for row, i in enumerate(batch):
            n = units[i]["length"]
            q = torch.stack([cache[f"{stack}{layer}.attn.q"][row, :n] for layer in layers])  # [L, n, H, d]
            k = torch.stack([cache[f"{stack}{layer}.attn.k"][row, :n] for layer in layers])
            p = torch.stack([cache[f"{stack}{layer}.attn.pattern"][row, :, :n, :n] for layer in layers])  # [L,H,n,n]
            k = k.repeat_interleave(q.shape[2] // k.shape[2], dim=2)  # GQA: query head h reads kv head h // rep
            per_unit[i] = (q.transpose(1, 2).half(), k.transpose(1, 2).half())
            stats = _pattern_stats(p) if grid is None else {**_pattern_stats(p),
                                                            **_image_stats(p, grid, images[i], _patch_size(model))}
            for name, value in stats.items():
                sums[name] = sums.get(name, 0) + value
            sums["n"] = sums.get("n", 0) + n
    for i, u in enumerate(units):
        q, k = per_unit.pop(i)
        qs.append(q)
        ks.append(k)
        n = u["length"]
        toks.extend(u["tokens"])
        unit_ids.append(np.full(n, i))
        pos.append(np.arange(u["start"], u["start"] + n))
    data = QKData(q=torch.cat(qs, 2), k=torch.cat(ks, 2), tokens=list(toks), unit=np.concatenate(unit_ids),
                  position=np.concatenate(pos), units=[{k: v for k, v in u.items() if k != "tokens"} for u in units],
                  stack=stack, grid=grid, images=images)
    nan = torch.full((data.n_layers, data.n_heads), float("nan"))
    data.stats = {"qk_distance": _centroid_distance(data.q, data.k), "entropy": (sums["entropy"] / sums["n"]).numpy(),
                  "offset": (sums["offset"] / sums["offset_mass"] if "offset" in sums else nan).numpy(),
                  "sink": (sums["sink"] / sums["n"]).numpy()}
    data.stats["previous_token"] = np.abs(data.stats["offset"] + 1)
    if grid is not None:  # a flattened patch grid has no "previous token": its own statistics instead
        for name in ("offset", "previous_token"):
            del data.stats[name]
        data.stats["sink"] = (sums["cls"] / sums["n"]).numpy()  # [CLS] only: the last token is a patch
        data.stats["patch_distance"] = (sums["patch_distance"] / sums["patch_mass"].clamp_min(1e-12)).numpy()
        base = sums["colour_base"]  # 0 where a head pays nothing beyond FAR: no value, not "0: colour-seeking"
        data.stats["colour_affinity"] = torch.where(base > 0, sums["colour_seen"] / base.clamp_min(1e-12), nan).numpy()
    return data


PATTERN_BUDGET = 256 * 2 ** 20  # bytes of attention patterns one batch may capture (long windows: smaller batches)


def _batches(order: list[int], lengths: list[int], batch_size: int, heads: int) -> list[list[int]]:
    """Batches of at most ``batch_size`` units (sorted by length) whose patterns fit ``PATTERN_BUDGET``."""
    out, current = [], []
    for i, n in zip(order, lengths, strict=True):
        if current and (len(current) == batch_size or (len(current) + 1) * n * n * heads * 4 > PATTERN_BUDGET):
            out.append(current)
            current = []
        current.append(i)
    return out + [current] if current else out


def _text_units(texts, tok, window: int) -> list[dict]:
    units = []
    for source, text in enumerate(texts):
        ids = list(text.tolist() if isinstance(text, torch.Tensor) else text) if not isinstance(text, str) \
            else tok(text)["input_ids"]
        if not ids:
            raise ValueError(f"input {source} has no tokens")
        for start in range(0, len(ids), window):
            part = ids[start:start + window]
            tokens = tok.convert_ids_to_tokens(part) if tok is not None else [str(i) for i in part]
            units.append({"source": source, "start": start, "length": len(part), "tokens": tokens,
                          "inputs": {"input_ids": part}})
    return units


def _batch(rows: list[dict]) -> dict[str, torch.Tensor]:
    if "pixel_values" in rows[0]:
        return {"pixel_values": torch.stack([r["pixel_values"] for r in rows])}
    out = _pad([{"input_ids": r["input_ids"]} for r in rows], 0)  # the pad id is masked: any will do
    if "decoder_input_ids" in rows[0]:
        out["decoder_input_ids"] = out["input_ids"]
        out["decoder_attention_mask"] = out["attention_mask"]
    return out


def _token_ids(x) -> bool:
    """Whether ``x`` is token ids: an integer ``[batch, seq]`` tensor, one sequence, or a list of them."""
    try:
        return all(not isinstance(v, str) for v in texts_or_ids(x))
    except TypeError:
        return False


def _looks_like_image(x) -> bool:
    return type(x).__module__.startswith("PIL.")


def _patch_size(model) -> tuple[int, int]:
    patch = model.config.patch_size
    return (patch, patch) if isinstance(patch, int) else tuple(patch)


def _image_units(model, images, processor) -> tuple[list[dict], np.ndarray, tuple[int, int]]:
    cfg = model.config
    size, patch = cfg.image_size, _patch_size(model)
    size = (size, size) if isinstance(size, int) else tuple(size)
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"pixel values must be a [n, 3, H, W] tensor, got shape {tuple(images.shape)}")
        pixels = images.float()
        lo = pixels.amin((1, 2, 3), keepdim=True)
        hi = pixels.amax((1, 2, 3), keepdim=True)
        shown = ((pixels - lo) / (hi - lo).clamp_min(1e-8) * 255).round().byte().permute(0, 2, 3, 1)
    else:
        arrays = []
        for i, im in enumerate(images):
            if isinstance(im, str):
                raise TypeError(f"{type(model).__name__} is a vision transformer: it reads images, not text "
                                f"(input {i} is a string). Pass PIL images, [H, W, 3] uint8 arrays or pixel values.")
            a = np.array(im.convert("RGB") if _looks_like_image(im) else im)  # a copy: torch wants it writable
            if a.ndim != 3 or a.shape[-1] != 3:
                raise ValueError(f"image {i} must be [H, W, 3] (RGB), got shape {a.shape}")
            arrays.append(torch.as_tensor(a).permute(2, 0, 1).float()[None])
        if processor is not None:
            pixels = processor(images=[np.asarray(a[0].permute(1, 2, 0).byte()) for a in arrays],
                               return_tensors="pt")["pixel_values"]
            size = tuple(pixels.shape[-2:])
        resized = torch.cat([F.interpolate(a, size=size, mode="bilinear", antialias=True, align_corners=False)
                             for a in arrays]).clamp(0, 255)
        shown = resized.round().byte().permute(0, 2, 3, 1)
        if processor is None:
            pixels = (resized / 255 - 0.5) / 0.5
    grid = (size[0] // patch[0], size[1] // patch[1])
    tokens = ["[CLS]"] + [f"patch {j // grid[1]},{j % grid[1]}" for j in range(grid[0] * grid[1])]
    units = [{"source": i, "start": 0, "length": len(tokens), "tokens": tokens,
              "inputs": {"pixel_values": pixels[i]}} for i in range(len(pixels))]
    return units, shown.numpy(), grid


def _pattern_stats(p: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per head, summed over one unit's queries (``p``: [L, H, n, n]).

    The offset leaves out the first and last tokens, as keys and as queries: attention sinks sit there
    ([CLS], [SEP], BOS). Each query's offsets count in proportion to the attention it pays to the
    other keys, so a previous-token head reads -1 even though its first token looks at [CLS].
    """
    p = p.float()
    n = p.shape[-1]
    out = {"entropy": -(p * p.clamp_min(1e-12).log()).sum((-1, -2)),
           "sink": p[..., 0].sum(-1) + (p[..., -1].sum(-1) if n > 1 else 0)}
    if n > 3:
        inner = p[..., 1:-1, 1:-1]
        ar = torch.arange(n - 2, dtype=torch.float32)
        out["offset"] = (inner * (ar[None, :] - ar[:, None])).sum((-1, -2))
        out["offset_mass"] = inner.sum((-1, -2))
    return out


def _image_stats(p: torch.Tensor, grid: tuple[int, int], image: np.ndarray, patch: tuple[int, int]) -> dict:
    """Per head, summed over one image's patch queries (``p``: [L, H, n, n], token 0 is [CLS]): the
    attention on [CLS]; ``patch_distance`` (attention-weighted distance in patches, and its mass); and
    ``colour_affinity``'s two sums: the mean-RGB difference of what each query attends to beyond ``FAR``
    patches, weighted by that attention, and what it would be if that attention were spread evenly over
    every patch that far. ``image``: [H, W, 3] uint8, what the model saw; ``patch``: its patch size."""
    rows, cols = grid
    inner = p.float()[..., 1:, 1:]  # patch to patch
    at = torch.stack(torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij"), -1).reshape(-1, 2).float()
    dist = torch.cdist(at, at)  # [patches, patches]
    h, w = patch
    rgb = torch.from_numpy(image[:rows * h, :cols * w].astype(np.float32) / 255)
    mean = rgb.reshape(rows, h, cols, w, 3).mean((1, 3)).reshape(-1, 3)
    colour = torch.cdist(mean, mean)  # mean-RGB distance between patches
    far = (dist >= FAR).float()
    paid = (inner * far).sum(-1)  # [L, H, q]: attention paid beyond FAR
    even = (far * colour).sum(-1) / far.sum(-1).clamp_min(1)  # [q]: colour difference of every far patch
    return {"cls": p.float()[..., 0].sum(-1), "patch_distance": (inner * dist).sum((-1, -2)),
            "patch_mass": inner.sum((-1, -2)), "colour_seen": (inner * far * colour).sum((-1, -2)),
            "colour_base": (paid * even).sum(-1)}


def _centroid_distance(q: torch.Tensor, k: torch.Tensor) -> np.ndarray:
    q, k = q.float(), k.float()
    mq, mk = q.mean(2), k.mean(2)
    spread = ((q - mq[:, :, None]).pow(2).sum(-1).mean(-1) + (k - mk[:, :, None]).pow(2).sum(-1).mean(-1)) / 2
    return ((mq - mk).norm(dim=-1) / spread.sqrt().clamp_min(1e-8)).numpy()


NORMALIZATIONS = ("norms", "centroid", None)


def normalize_qk(q: torch.Tensor, k: torch.Tensor, method: str | None = "norms") -> tuple[torch.Tensor, torch.Tensor]:
    """Make Euclidean distance track attention for one head's queries ``[n, d]`` and keys ``[m, d]``.

    Two moves leave every attention pattern unchanged: translating all keys by one vector t
    (q.(k + t) = q.k + q.t adds a constant per query, which softmax ignores) and scaling queries by c
    and keys by 1/c (q.k unchanged). For a query, |q - k|^2 = |q|^2 + |k|^2 - 2 q.k: distance ranks its
    keys as attention does exactly when the keys' norms are equal.

    ``method="centroid"`` is AttentionViz's choice: t moves the key centroid onto the query centroid.
    ``method="norms"`` (default) picks the t that makes the key norms as equal as possible (least
    squares: |k + t|^2 = |k|^2 + 2 k.t + |t|^2, so t solves K_c t = -(|k|^2 - mean) / 2). On MiniLM
    it brings a query's most-attended key nearer in rank than the raw vectors do (0.4 vs 3.1 keys
    nearer, mean over 72 heads), where the centroid move pushes it farther (14.5): sink keys such as
    [SEP] sit far from the key centroid. Where the keys are no more than their dimensions (short texts
    on small heads: any points then lie on a sphere) or the move would be longer than 3 spreads of the keys,
    "norms" falls back to the centroid move: a long move leaves the keys a point once the norms are
    matched. Both then scale so the mean norms of queries and keys match.

    Examples
    --------
    >>> import torch
    >>> q, k = torch.randn(5, 4), torch.randn(6, 4) * 3 + 2
    >>> for method in ("norms", "centroid"):
    ...     q2, k2 = normalize_qk(q, k, method)
    ...     print(torch.allclose(torch.softmax(q @ k.T, -1), torch.softmax(q2 @ k2.T, -1), atol=1e-5),
    ...           bool(torch.isclose(q2.norm(dim=-1).mean(), k2.norm(dim=-1).mean())))
    True True
    True True
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {method!r}")
    q, k = q.float(), k.float()
    if method is None:
        return q, k
    if method == "norms":
        centred = k - k.mean(0)
        sq = k.pow(2).sum(-1)
        t = -0.5 * torch.linalg.lstsq(centred.double(), (sq - sq.mean()).double()[:, None],
                                      driver="gelsd").solution[:, 0].float()
        # With no more keys than dimensions any keys lie on a sphere: the move is arbitrary, and a long one
        # (beyond 3 spreads; at most 2 on MiniLM's heads) shrinks the keys to a point once norms are matched
        if len(k) > k.shape[1] and t.norm() <= 3 * centred.norm(dim=-1).mean():
            k = k + t
        else:
            method = "centroid"
    if method == "centroid":
        k = k - k.mean(0) + q.mean(0)
    nq, nk = q.norm(dim=-1).mean(), k.norm(dim=-1).mean()
    if nq <= 1e-12 or nk <= 1e-12:  # a degenerate head (all-zero queries or keys): nothing to balance
        return q, k
    c = (nk / nq).sqrt()
    return q * c, k / c


def unit_patterns(model, data: QKData, unit: int) -> torch.Tensor:
    """Every head's attention pattern over one unit, ``[layers, heads, n, n]``, from a fresh forward pass."""
    if not 0 <= unit < len(data.units):
        raise IndexError(f"unit {unit} out of range: there are {len(data.units)}")
    names = f"{data.stack}*.attn.pattern"
    feed = {k: v.to(model_device(model)) for k, v in _batch([data.units[unit]["inputs"]]).items()}
    with torch.no_grad(), capture(model, names, device="cpu") as cache:
        model(**feed)
    stacked = cache.stack(names)
    return stacked[:, 0].float()


def top_keys(pattern_row: torch.Tensor, k: int = 8, min_weight: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """The keys one query attends to most (at most ``k``, weight at least ``min_weight``) and their weights."""
    w, i = pattern_row.topk(min(k, pattern_row.numel()))
    keep = w >= min_weight
    return i[keep].numpy(), w[keep].numpy()
