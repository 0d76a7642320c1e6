"""What an ITI edit costs: cross-entropy on plain text and KL divergence from the unedited model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..capture.inputs import batches, model_device

__all__ = ["edit_costs"]


@torch.no_grad()
def edit_costs(model, iti, texts: Sequence[str], alphas: Sequence[float], *, tokenizer=None, batch_size: int = 16,
               progress: bool = True) -> dict[str, list[float]]:
    """Per alpha: the mean next-token cross-entropy on ``texts`` and the mean KL(unedited || edited) of
    the next-token distributions, over every real token position (ITI's two costs). ``texts`` are
    strings or tokenized rows (dicts with ``input_ids``).

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> from interpwidgets.iti import ITI
    >>> from interpwidgets.iti.metrics import edit_costs
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50)).eval()
    >>> iti = ITI.from_activations(torch.randn(100, 2, 4, 8), torch.arange(100) % 2, k=2)
    >>> texts = [{"input_ids": list(range(1, 12))}, {"input_ids": [5, 6, 7]}]  # or strings, with a tokenizer
    >>> costs = edit_costs(model, iti, texts, [0.0, 10.0], progress=False)
    >>> costs["kl"][0], costs["kl"][1] > 0
    (0.0, True)
    """
    device = model_device(model)
    feed, _, _ = batches(model, list(texts), batch_size, tokenizer)  # right-padded, with attention masks
    feed = [(b["input_ids"].to(device), b["attention_mask"].to(device)) for b in feed]

    def run():
        out = []
        for ids, mask in feed:
            logp = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float().log_softmax(-1)
            out.append((logp, ids[:, 1:], mask[:, 1:].bool() & mask[:, :-1].bool()))
        return out

    base = run()
    costs: dict[str, list[float]] = {"alpha": [float(a) for a in alphas], "cross_entropy": [], "kl": []}
    for alpha in tqdm(alphas, desc="alphas", disable=not progress):
        with iti.apply(model, alpha):
            edited = run()
        nll = kl = count = 0.0
        for (lp0, target, keep), (lp1, _, _) in zip(base, edited, strict=True):
            nll += -lp1.gather(-1, target[..., None])[..., 0][keep].sum().item()
            kl += (lp0.exp() * (lp0 - lp1)).sum(-1)[keep].sum().item()
            count += keep.sum().item()
        costs["cross_entropy"].append(nll / count)
        costs["kl"].append(max(kl / count, 0.0))
    return costs
