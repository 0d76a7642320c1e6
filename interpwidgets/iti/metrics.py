"""What an ITI edit costs: cross-entropy on plain text and KL divergence from the unedited model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..capture.inputs import batches, model_device

__all__ = ["edit_costs"]


@torch.no_grad()
def edit_costs(model, iti, texts: Sequence[str], alphas: Sequence[float], *, positions: str = "all", tokenizer=None,
               batch_size: int = 16, progress: bool = True) -> dict[str, list[float]]:
    """Per alpha: the mean next-token cross-entropy on ``texts`` and the mean KL(unedited || edited) of
    the next-token distributions, over every real token position (ITI's two costs). ``texts`` are
    strings or tokenized rows (dicts with ``input_ids``).

    The edit shifts every position (``positions="all"``), as the paper's code does for these costs: plain
    text read under the edit the way a generated text is written under it, every token edited. Each
    batch's unedited run is compared with its edited runs at once and only sums are kept, so memory stays
    at one batch's logits whatever the number of texts.

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
    feed, n_batches, _ = batches(model, list(texts), batch_size, tokenizer)  # right-padded, with attention masks
    nll = torch.zeros(len(alphas), dtype=torch.float64)
    kl = torch.zeros(len(alphas), dtype=torch.float64)
    count = 0
    for batch in tqdm(feed, total=n_batches, desc="edit costs", disable=not progress):
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        target, keep = ids[:, 1:], mask[:, 1:].bool() & mask[:, :-1].bool()

        base = _log_probs(model, ids, mask)
        for i, alpha in enumerate(alphas):
            with iti.apply(model, alpha, positions=positions):
                edited = _log_probs(model, ids, mask)
            nll[i] += -edited.gather(-1, target[..., None])[..., 0][keep].sum().item()
            kl[i] += (base.exp() * (base - edited)).sum(-1)[keep].sum().item()
        count += int(keep.sum())
    return {"alpha": [float(a) for a in alphas], "cross_entropy": (nll / count).tolist(),
            "kl": (kl / count).clamp_min(0).tolist()}


def _log_probs(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, attention_mask=mask).logits[:, :-1].float().log_softmax(-1)
