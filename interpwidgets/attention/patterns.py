"""AttentionPatterns: the classic views of attention (every head as a thumbnail; one head as lines
between tokens, or as a matrix).

The patterns come from the engine (``iw.capture`` of ``layers.*.attn.pattern``), so they exist under
sdpa and for every family the engine reads. The view asks for what is on screen: a thumbnail per
visible head, the full matrix of the selected head. Nothing else crosses to the browser.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
import traitlets

from ..capture import capture, sites
from ..capture.inputs import check_token_ids, context_length, find_tokenizer, model_device, texts_or_ids
from ..transport import encode
from ..widgets import Widget, serves

__all__ = ["AttentionPatterns", "thumbnail"]

THUMB = 48  # thumbnails are at most THUMB x THUMB cells


def _encode(tokenizer, text, limit: int | None) -> tuple[dict, bool]:
    """A text (tokenized) or token ids as a batch of one, cut to ``limit`` tokens; and whether it was cut."""
    if isinstance(text, str):
        enc = tokenizer(text, return_tensors="pt", truncation=limit is not None, max_length=limit)
        return dict(enc), limit is not None and len(tokenizer(text)["input_ids"]) > limit
    ids = torch.tensor([text[:limit] if limit else text])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, limit is not None and len(text) > limit


def _names(tokenizer, ids: torch.Tensor) -> list[str]:
    return tokenizer.convert_ids_to_tokens(ids) if tokenizer is not None else [str(i) for i in ids.tolist()]


def thumbnail(pattern: torch.Tensor, size: int = THUMB) -> torch.Tensor:
    """A ``[q, k]`` pattern shrunk to at most ``size x size``: each cell is the attention a block of
    queries pays (on average) to a block of keys (in total), so rows still sum to 1 and colours
    compare with the full matrix. Blocks partition the axes (no overlap), so the sums are exact."""
    q, k = pattern.shape[-2:]
    if q <= size and k <= size:
        return pattern.float()
    rows, cols = _blocks(q, min(q, size)), _blocks(k, min(k, size))
    rows = rows / rows.sum(-1, keepdim=True)
    return rows @ pattern.float() @ cols.T


def _blocks(n: int, m: int) -> torch.Tensor:
    """``[m, n]`` one-hot matrix assigning ``n`` positions to ``m`` contiguous, near-equal blocks."""
    return F.one_hot(torch.arange(n) * m // n, m).T.float()


class AttentionPatterns(Widget):
    """Every layer x head of a model's attention as thumbnails; click one to see it as lines or a matrix.

    Parameters
    ----------
    model
        A transformers model (any family the engine reads).
    texts
        One text or a list of texts (a selector picks among them), or token ids: a list of ints, a 1-D
        tensor, a list of those, or a ``[batch, seq]`` integer tensor.
    tokenizer
        Found from the model when not given (with token ids alone it only names the tokens).
    attention
        For encoder-decoders: ``"encoder"`` (default) or ``"decoder"`` self-attention, or ``"cross"``
        (decoder tokens attending to encoder tokens).
    targets
        For encoder-decoders: the decoder's texts, one per text (default: the texts themselves).

    Examples
    --------
    >>> import interpwidgets as iw
    >>> from interpwidgets.worlds import truthful
    >>> model, tokenizer, _ = truthful.load()  # a small GPT shipped with the package
    >>> view = iw.AttentionPatterns(model, ["Q : what color is the blick ? A : red ."], tokenizer=tokenizer)
    >>> view.layer, view.head = 2, 5  # linked widgets can drive the selection
    >>> view.n_layers, view.n_heads
    (4, 8)
    """

    _bundle = "attention_patterns"

    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    text_index = traitlets.Int(0).tag(sync=True)
    view = traitlets.Unicode("model").tag(sync=True)  # "model" | "head" (lines) | "matrix"
    hovered = traitlets.List([-1, -1]).tag(sync=True)  # (query, key) under the pointer; key -1: a whole row
    n_layers = traitlets.Int(0).tag(sync=True)
    n_heads = traitlets.Int(0).tag(sync=True)
    tokens = traitlets.List([]).tag(sync=True)  # per text: the query tokens
    key_tokens = traitlets.List([]).tag(sync=True)  # per text: the key tokens where they differ (cross-attention)
    notice = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model, texts: str | Sequence, tokenizer=None, attention: str | None = None,
                 targets: str | Sequence | None = None, **kwargs):
        texts = texts_or_ids(texts, "texts")
        if not texts:
            raise ValueError("AttentionPatterns needs at least one text (or token ids)")
        # token ids alone need no tokenizer: one only names the tokens, when there is one
        tokenizer = find_tokenizer(model, tokenizer, required=any(isinstance(t, str) for t in texts))
        names = [n for n in sites(model) if n.endswith("attn.pattern")]
        if not names:
            raise ValueError(f"{type(model).__name__} has no attention-pattern sites the engine can read "
                             f"(its attention code does not go through transformers' attention registry); "
                             f"iw.sites(model) lists what it offers")
        seq2seq = any(n.startswith("decoder.") for n in names)
        choices = ("encoder", "decoder", "cross") if seq2seq else ("self",)
        attention = attention or choices[0]
        if attention not in choices:
            raise ValueError(f"attention must be one of {choices} for {type(model).__name__}, got {attention!r}")
        pattern = {"self": "layers.", "encoder": "encoder.layers.", "decoder": "decoder.layers.",
                   "cross": "decoder.layers."}[attention]
        part = ".cross_attn.pattern" if attention == "cross" else ".attn.pattern"
        self._sites = [n for n in names if n.startswith(pattern) and n.endswith(part)]
        if targets is not None:
            targets = texts_or_ids(targets, "targets")
            if not seq2seq or len(targets) != len(texts):
                raise ValueError("targets= gives an encoder-decoder's decoder texts, one per text "
                                 f"({len(texts)} here)" if seq2seq else
                                 f"targets= is for encoder-decoders; {type(model).__name__} has one stack")
        limit = context_length(model, tokenizer)
        self._patterns: list[torch.Tensor] = []  # per text: [layers, heads, q, k], float16 on the CPU
        query_tokens, key_tokens, truncated = [], [], []
        for i, text in enumerate(texts):
            enc, cut = _encode(tokenizer, text, limit)
            if cut:
                truncated.append(i)
            check_token_ids(model, enc["input_ids"])
            source = _names(tokenizer, enc["input_ids"][0])
            inputs = dict(enc)
            target = source
            if seq2seq:  # the decoder reads the target text, or the source again
                dec = _encode(tokenizer, targets[i], None)[0] if targets is not None else enc
                inputs["decoder_input_ids"] = dec["input_ids"]
                target = _names(tokenizer, dec["input_ids"][0])
            self._patterns.append(self._run(model, inputs))
            query_tokens.append(target if attention in ("decoder", "cross") else source)
            key_tokens.append(source if attention == "cross" else [])
        first = self._patterns[0]
        notice = ""
        if truncated:
            notice = (f"Text(s) {', '.join(map(str, truncated))} were longer than the model's context and were "
                      f"truncated to {limit} tokens.")
        super().__init__(n_layers=first.shape[0], n_heads=first.shape[1], tokens=query_tokens,
                         key_tokens=key_tokens, notice=notice, **kwargs)

    def _run(self, model, inputs) -> torch.Tensor:
        device = model_device(model)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        with torch.no_grad(), capture(model, self._sites, device="cpu", dtype=torch.float16) as cache:
            model(**inputs)
        return torch.stack([cache[s][0] for s in self._sites])

    # ------------------------------------------------------------------ what the view asks for
    def _check(self, text: int, layer: int, head: int) -> torch.Tensor:
        if not 0 <= text < len(self._patterns):
            raise IndexError(f"text {text} out of range: there are {len(self._patterns)}")
        p = self._patterns[text]
        if not (0 <= layer < p.shape[0] and 0 <= head < p.shape[1]):
            raise IndexError(f"layer {layer}, head {head} out of range: {p.shape[0]} layers x {p.shape[1]} heads")
        return p[layer, head]

    @serves("thumb")
    def _thumb(self, text: int, layer: int, head: int) -> dict:
        small = thumbnail(self._check(text, layer, head)).half()  # fp16 is plenty for 256 colours, half the bytes
        return {"text": text, "layer": layer, "head": head, "pattern": encode(small)}

    @serves("pattern")
    def _pattern(self, text: int, layer: int, head: int) -> dict:
        return {"text": text, "layer": layer, "head": head, "pattern": encode(self._check(text, layer, head))}

    def pattern(self, layer: int | None = None, head: int | None = None, text: int | None = None) -> torch.Tensor:
        """The ``[q, k]`` attention pattern shown for a head (the selected one by default)."""
        return self._check(self.text_index if text is None else text, self.layer if layer is None else layer,
                           self.head if head is None else head).float()

    def _snapshot_requests(self):
        """Every thumbnail of the current text and the selected head's matrix, for offline pages."""
        text = self.text_index
        n_layers, n_heads = self._patterns[text].shape[:2]
        yield from (("thumb", {"text": text, "layer": i, "head": j}) for i in range(n_layers) for j in range(n_heads))
        yield "pattern", {"text": text, "layer": self.layer, "head": self.head}
