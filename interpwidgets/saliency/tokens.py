"""Integrated gradients over a text model's input embeddings, per token: a classifier's class, or a causal
LM's next token. The path runs to the embeddings entering the first block (the engine's ``embed`` site:
token plus position embeddings, after any embedding norm) from a baseline there: the same text with every
token replaced by the pad token (as Captum's BERT tutorial does; a zero vector after a LayerNorm sends the
next LayerNorm's gradient to infinity), or zeros. No hook of our own is needed and every family the engine
knows works; each token's attribution is the sum over its embedding's dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..capture import capture, intervene
from .attribution import _alphas

__all__ = ["TokenAttribution", "token_attributions"]


@dataclass
class TokenAttribution:
    """One text: its ``tokens``, their attributions ``values [seq]`` to the ``target`` (``target_name``);
    ``score`` the explained score and ``start_score`` the baseline's (``gap``: completeness)."""

    text: str
    tokens: list[str]
    values: np.ndarray
    target: int
    target_name: str
    score: float
    start_score: float

    @property
    def gap(self) -> float:
        delta = self.score - self.start_score
        return float((self.values.sum() - delta) / max(abs(delta), 1e-12))


def _explained(out, target: int | None, output: str) -> tuple[torch.Tensor, int, bool]:
    logits = getattr(out, "logits", out)
    if not isinstance(logits, torch.Tensor) or logits.ndim not in (2, 3):
        raise ValueError(f"the model returned {type(logits).__name__}: token attributions need logits [batch, "
                         f"classes] (a classifier) or [batch, seq, vocab] (a causal LM)")
    lm = logits.ndim == 3
    last = (logits[:, -1] if lm else logits).float()
    if target is None:
        target = int(last[0].argmax())
    if not 0 <= target < last.shape[-1]:
        raise ValueError(f"target {target} is out of range: the model has {last.shape[-1]} "
                         f"{'tokens' if lm else 'classes'} (0 to {last.shape[-1] - 1})")
    s = last.softmax(-1) if output == "softmax" else last
    return s[:, target], target, lm


def _baseline(model, enc: dict, tokenizer, baseline) -> torch.Tensor | None:
    """The baseline at ``embed`` (``None``: zeros): the text's embeddings with every token replaced."""
    if baseline == "zeros":
        return None
    if baseline == "pad":
        baseline = next((getattr(tokenizer, k) for k in ("pad_token_id", "unk_token_id", "eos_token_id")
                         if getattr(tokenizer, k, None) is not None), None)
        if baseline is None:
            raise ValueError("the tokenizer has no pad, unk or eos token: give baseline=<token id> or 'zeros'")
    if not isinstance(baseline, int):
        raise ValueError(f"baseline={baseline!r}: give 'pad', 'zeros' or a token id")
    with torch.no_grad(), capture(model, ["embed"]) as cache:
        model(**(enc | {"input_ids": torch.full_like(enc["input_ids"], baseline)}))
    return cache["embed"]


def token_attributions(model, tokenizer, texts, target: int | str | None = None, *, steps: int = 32,
                       baseline: str | int = "pad", rule: str = "pair", output: str = "softmax",
                       batch_size: int = 32, progress: bool = True) -> list[TokenAttribution]:
    """IG per token for each text: ``target`` a class index, a token (a string is tokenized; its first
    token counts) or ``None`` (the predicted class or next token), from ``baseline`` at ``embed``: ``"pad"``
    (the pad token, or unk, or eos, in every position), a token id, or ``"zeros"``.

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> lm = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50)).eval()
    >>> tok = lambda text, **kw: {"input_ids": torch.tensor([[int(c) for c in text.split()]])}
    >>> (a,) = token_attributions(lm, tok, ["3 7 11"], baseline=0, steps=64, rule="trapezoid", progress=False)
    >>> len(a.values), abs(a.gap) < 0.02
    (3, True)
    """
    if output not in ("softmax", "logit"):
        raise ValueError(f"output={output!r}: choose 'softmax' or 'logit'")
    texts = [texts] if isinstance(texts, str) else list(texts)
    alphas, weights = _alphas(steps, rule)
    device = next(model.parameters()).device
    results = []
    for text in tqdm(texts, desc="token IG", disable=not progress or len(texts) < 2):
        enc = {k: v.to(device) for k, v in dict(tokenizer(text, return_tensors="pt")).items()
               if k in ("input_ids", "attention_mask")}
        tid = target
        if isinstance(target, str):
            tid = int(tokenizer(target, return_tensors="pt")["input_ids"][0, 0])
        with torch.no_grad():
            score, tid, lm = _explained(model(**enc), tid, output)
        base = _baseline(model, enc, tokenizer, baseline)
        total = start = None
        for lo in range(0, steps, batch_size):
            a = torch.tensor(alphas[lo:lo + batch_size], dtype=torch.float32, device=device)
            w = torch.tensor(weights[lo:lo + batch_size], dtype=torch.float32, device=device)
            held = {}

            def path(t, ctx, a=a, held=held, base=base):
                b = torch.zeros_like(t[:1]) if base is None else base.to(t)
                x = (b + a.view(-1, 1, 1).to(t.dtype) * (t.detach() - b)).requires_grad_(True)
                held["x"], held["diff"] = x, (t.detach() - b)[:1]
                return x

            batch = {k: v.expand(len(a), -1) for k, v in enc.items()}
            with torch.enable_grad(), intervene(model, {"embed": path}):
                s, _, _ = _explained(model(**batch), tid, output)
                (g,) = torch.autograd.grad(s.sum(), held["x"])
            part = ((g.float() * held["diff"].float()) * w.view(-1, 1, 1)).sum((0, 2))
            total = part if total is None else total + part
            if lo == 0:  # both rules' first point is the baseline itself
                start = float(s[0].detach())
        ids = enc["input_ids"][0].tolist()
        toks = tokenizer.convert_ids_to_tokens(ids) if hasattr(tokenizer, "convert_ids_to_tokens") else \
            [str(i) for i in ids]
        name = (tokenizer.decode([tid]) if lm and hasattr(tokenizer, "decode") else str(tid))
        if not lm and getattr(getattr(model, "config", None), "id2label", None):
            name = model.config.id2label.get(tid, name)
        results.append(TokenAttribution(text, toks, total.cpu().numpy(), tid, name, float(score[0]), start))
    return results
