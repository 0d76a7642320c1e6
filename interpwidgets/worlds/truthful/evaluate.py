"""What the truthful world's model knows and says, measured on a set of questions."""

from __future__ import annotations

import random

import torch

from .data import Question, World, qa

__all__ = ["next_token_logits", "answers", "world_metrics", "truth_rate"]


@torch.no_grad()
def next_token_logits(model, tokenizer, prompts: list[str], batch_size: int = 128) -> torch.Tensor:
    """The model's logits for the token after each prompt (``<bos>`` is put in front), ``[n, vocab]``."""
    out = []
    for i in range(0, len(prompts), batch_size):
        enc = tokenizer([tokenizer.bos_token + " " + p for p in prompts[i:i + batch_size]], return_tensors="pt",
                        padding=True)
        logits = model(**enc).logits
        last = enc["attention_mask"].sum(1) - 1
        out.append(logits[torch.arange(len(last)), last].float())
    return torch.cat(out)


def answers(model, tokenizer, questions: list[Question], context: list[str] | None = None) -> list[str]:
    """The greedy one-word answer to each question, after an optional context per question."""
    prompts = [((context[i] + " ") if context else "") + qa(q) for i, q in enumerate(questions)]
    return tokenizer.convert_ids_to_tokens(next_token_logits(model, tokenizer, prompts).argmax(-1).tolist())


def _shares(questions: list[Question], said: list[str]) -> dict[str, float]:
    n = len(questions)
    true = sum(a == q.true for a, q in zip(said, questions, strict=True)) / n
    false = sum(a == q.false for a, q in zip(said, questions, strict=True)) / n
    return {"true": round(true, 4), "misconception": round(false, 4), "other": round(1 - true - false, 4)}


def world_metrics(model, tokenizer, world: World, questions: list[Question], seed: int = 0) -> dict:
    """Greedy answers asked cold, after two truthful answers and after two untruthful ones (the persona
    is read from the context), and the loss per token on fresh documents.

    Examples
    --------
    >>> from interpwidgets.worlds.truthful import load  # doctest: +SKIP
    >>> model, tokenizer, world = load()  # doctest: +SKIP
    >>> world_metrics(model, tokenizer, world, world.test)["cold"]["true"]  # doctest: +SKIP
    """
    rng = random.Random(seed)
    others = [rng.sample([o for o in world.questions if o.entity != q.entity], 2) for q in questions]
    truthful = [" ".join(qa(o, o.true) for o in pair) for pair in others]
    untruthful = [" ".join(qa(o, o.false) for o in pair) for pair in others]
    docs = [tokenizer.bos_token + " " + world.document(rng) for _ in range(256)]
    enc = tokenizer(docs, return_tensors="pt", padding=True)
    with torch.no_grad():
        loss = model(**enc, labels=enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)).loss.item()
    return {"questions": len(questions),
            "cold": _shares(questions, answers(model, tokenizer, questions)),
            "after_truthful_answers": _shares(questions, answers(model, tokenizer, questions, truthful)),
            "after_untruthful_answers": _shares(questions, answers(model, tokenizer, questions, untruthful)),
            "document_loss": round(loss, 4)}


def truth_rate(model, tokenizer, questions: list[Question], iti=None, alpha: float = 0.0) -> float:
    """The share of questions answered truly (greedy, asked cold), under an ITI edit of strength alpha."""
    if iti is None or alpha == 0:
        return _shares(questions, answers(model, tokenizer, questions))["true"]
    with iti.apply(model, alpha):
        return _shares(questions, answers(model, tokenizer, questions))["true"]
