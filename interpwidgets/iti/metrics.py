"""What an ITI edit costs (cross-entropy on plain text, KL divergence from the unedited model), and how it
scores answers (the log-likelihood of an answer after its question, for multiple-choice truth)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..capture.inputs import batches, model_device

__all__ = ["edit_costs", "answer_log_likelihoods"]


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


@torch.no_grad()
def answer_log_likelihoods(model, pairs: Sequence, iti=None, alpha: float = 0.0, *, tokenizer=None,
                           progress: bool = True) -> torch.Tensor:
    """The summed log-probability of each answer's tokens after its prompt: ``pairs`` of ``(prompt,
    answer)``, strings (with ``tokenizer``: the prompt with its special tokens, the answer tokenized on
    its own and appended, so give it its leading space) or token-id lists. Multiple choice compares these
    for a question's true and false answers.

    With ``iti``, each pass is edited by ``alpha`` from the answer's first token on, the prompt read
    unedited, as the paper's multiple-choice code does (``start_edit_location``); one pair per pass, as
    there. So the answer's first token, predicted at the prompt's last position, scores as unedited.

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50)).eval()
    >>> ll = answer_log_likelihoods(model, [([1, 2, 3], [4, 5]), ([1, 2, 3], [6])], progress=False)
    >>> ll.shape, bool((ll < 0).all())
    (torch.Size([2]), True)
    """
    device = model_device(model)
    out = torch.empty(len(pairs), dtype=torch.float64)
    for i, (prompt, answer) in enumerate(tqdm(pairs, desc="answers", disable=not progress)):
        if isinstance(prompt, str) or isinstance(answer, str):
            if tokenizer is None:
                raise ValueError("text pairs need a tokenizer= (or give token-id lists)")
            prompt = tokenizer(prompt)["input_ids"]
            answer = tokenizer(answer, add_special_tokens=False)["input_ids"]
        prompt, answer = list(prompt), list(answer)
        if not prompt or not answer:
            raise ValueError(f"pair {i}: the prompt and the answer need at least one token each")
        ids = torch.tensor([prompt + answer], device=device)
        start = len(prompt)
        if iti is None or alpha == 0:
            logits = model(input_ids=ids).logits
        else:
            with iti.apply(model, alpha, positions=list(range(start, ids.shape[1]))):
                logits = model(input_ids=ids).logits
        lp = logits[0, start - 1:-1].float().log_softmax(-1)
        out[i] = lp.gather(-1, ids[0, start:, None])[:, 0].sum().item()
    return out
