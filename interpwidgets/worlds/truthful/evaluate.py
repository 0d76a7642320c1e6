"""What the truthful world's model knows and says, measured on a set of questions."""

from __future__ import annotations

import random

import torch

from .data import Question, World, labelled_answers, qa

ITI_K = 4  # heads edited, of 32 (the paper: 48 of 1,024)
ALPHAS = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0]  # the sweep the model card records

__all__ = ["ITI_K", "ALPHAS", "next_token_logits", "answers", "world_metrics", "truth_rate", "fit_iti", "iti_curves",
           "plain_text"]


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


def fit_iti(model, tokenizer, world: World, k: int = ITI_K, random_seed: int = 0):
    """ITI fitted on the world's training questions (each true and false answer, split by question)."""
    from ...iti import ITI

    texts, labels, groups = labelled_answers(world.train)
    return ITI.fit(model, texts, labels, tokenizer=tokenizer, groups=groups, k=k, random_seed=random_seed,
                   progress=False)


def plain_text(world: World, n: int = 64, seed: int = 7) -> list[str]:
    """Fresh documents (both personas, as in training): the plain text that ITI's costs are measured on."""
    rng = random.Random(seed)
    return ["<bos> " + world.document(rng) for _ in range(n)]


def iti_curves(model, tokenizer, world: World, k: int = ITI_K, alphas: list[float] = ALPHAS,
               random_seeds: int = 3) -> dict:
    """ITI on the held-out questions as alpha grows: the truthful-answer rate per direction kind
    (random averaged over ``random_seeds`` draws for the same heads), and cross-entropy and KL on
    plain text for the default (mass-mean) edit; plus how probe accuracy spreads over the heads.

    Examples
    --------
    >>> from interpwidgets.worlds.truthful import load  # doctest: +SKIP
    >>> model, tokenizer, world = load()  # doctest: +SKIP
    >>> iti_curves(model, tokenizer, world, k=4, alphas=[0, 4])["truth"]["mass_mean"]  # doctest: +SKIP
    """
    from ...iti.metrics import edit_costs

    itis = [fit_iti(model, tokenizer, world, k, random_seed=s) for s in range(random_seeds)]
    truth = {kind: [truth_rate(model, tokenizer, world.test, itis[0].select(kind=kind), a) for a in alphas]
             for kind in ("mass_mean", "probe")}
    runs = [[truth_rate(model, tokenizer, world.test, it.select(kind="random"), a) for a in alphas] for it in itis]
    truth["random"] = [round(sum(col) / len(col), 4) for col in zip(*runs, strict=True)]
    costs = edit_costs(model, itis[0], plain_text(world), alphas, tokenizer=tokenizer, progress=False)
    acc = itis[0].probes.metrics["val_accuracy"].flatten().sort(descending=True).values
    return {"k": k, "alpha": list(alphas), "truth": truth,
            "cross_entropy": [round(v, 4) for v in costs["cross_entropy"]],
            "kl": [round(v, 4) for v in costs["kl"]],
            "heads": [list(h) for h in itis[0].heads],
            "probe_val_accuracy": {"top": [round(float(a), 4) for a in acc[:k]],
                                   "median": round(float(acc.median()), 4),
                                   "heads_above_0.7": int((acc > 0.7).sum()), "heads": len(acc)}}
