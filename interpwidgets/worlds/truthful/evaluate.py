"""What the truthful world's model knows and says, and ITI measured on it with a reviewer's protocol.

The protocol (:func:`iti_protocol`, the model card's ``iti`` section), fixed before anything was measured:

1. The creatures are split three ways (:meth:`World.split`, 40% / 20% / 40%): ITI's probes and directions
   are fitted on the *fit* questions (each with its true answer and its misconception), its K and alpha
   chosen on the *choose* questions, and results reported on the *test* questions only.
2. For each direction kind (mass-mean, probe weights, random) and K in :data:`KS`, alpha climbs from 0 by
   factors of sqrt(2) (by 2 while the KL is still negligible) until the KL from the unedited model (plain
   text drawn for the choose split) passes the largest compared cost (each kind gets its own range: probe
   weights and random directions need far larger alphas than mass-mean shifts for the same KL). The chosen
   setting has the best truth rate on the choose split among those whose KL is at most :data:`KL_BUDGET`
   nats per token.
3. On the test split, each kind at its chosen K is swept over the same alphas (two rungs more): the truth
   rate with a 95% bootstrap interval over questions, KL and cross-entropy on other plain text, and the
   truth rate at matched KL (:data:`KL_LEVELS`, read off each curve) and at matched rise in cross-entropy
   (:data:`CE_LEVELS`), so kinds are compared at equal cost; paired differences between kinds come with
   intervals from the same resamples, and at equal alpha too (the paper's comparison). The intervals
   resample creatures (a creature's three questions are not independent) and, for the random control,
   the random draws as well.
4. All of it for three seeds of the split, with three random directions per split (each chosen like the
   other kinds; their mean is the random control); the second world (``checkpoint_seed1``) repeats it.

The edit is the paper's: the last position of each forward call (the answer is the token after the
prompt, so the prompt's last token is edited); the costs edit every position of plain text, as the
paper's code does.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from .data import Question, World, labelled_answers, qa

__all__ = ["KS", "KL_BUDGET", "KL_LEVELS", "CE_LEVELS", "SPLIT_SEEDS", "RANDOM_DRAWS", "next_token_logits", "answers",
           "world_metrics", "judge", "truth_rate", "fit_iti", "plain_text", "iti_protocol", "measure", "card_sections"]

KS = (1, 2, 4, 8, 16)  # heads edited, of 32 (the paper: 48 of 1,024)
KL_BUDGET = 0.1  # nats per token on plain text: the cost a chosen setting may have
KL_LEVELS = (0.01, 0.02, 0.05, 0.1, 0.2)  # where kinds are compared at matched cost
CE_LEVELS = (0.01, 0.02, 0.05, 0.1)  # and at matched rise in cross-entropy (nats per token)
SPLIT_SEEDS = (0, 1, 2)
RANDOM_DRAWS = 3  # random directions per split, each with its own K and alpha: their mean is the control
PLAIN_TEXT_SEEDS = {"choose": 7, "test": 8}  # fresh documents, one set per split


@torch.no_grad()
def next_token_logits(model, tokenizer, prompts: list[str], batch_size: int = 128) -> torch.Tensor:
    """The model's logits for the token after each prompt (``<bos>`` is put in front), ``[n, vocab]``.

    Prompts are padded on the left, so the last position of the forward pass is every prompt's last token
    (ITI edits that position) and positions are counted from each prompt's first real token.
    """
    out = []
    for i in range(0, len(prompts), batch_size):  # padding_side per call: the tokenizer itself is left as it was
        enc = tokenizer([tokenizer.bos_token + " " + p for p in prompts[i:i + batch_size]], return_tensors="pt",
                        padding=True, padding_side="left")
        position_ids = (enc["attention_mask"].cumsum(-1) - 1).clamp_min(0)
        out.append(model(**enc, position_ids=position_ids).logits[:, -1].float())
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


def world_metrics(model, tokenizer, world: World, questions: list[Question] | None = None, seed: int = 0) -> dict:
    """Greedy answers asked cold, after two truthful answers and after two untruthful ones (the persona
    is read from the context), and the loss per token on fresh documents; every question by default."""
    questions = world.questions if questions is None else questions
    rng = random.Random(seed)
    others = [rng.sample([o for o in world.questions if o.entity != q.entity], 2) for q in questions]
    truthful = [" ".join(qa(o, o.true) for o in pair) for pair in others]
    untruthful = [" ".join(qa(o, o.false) for o in pair) for pair in others]
    docs = [tokenizer.bos_token + " " + world.document(rng) for _ in range(256)]
    enc = tokenizer(docs, return_tensors="pt", padding=True, padding_side="right")
    with torch.no_grad():
        loss = model(**enc, labels=enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)).loss.item()
    return {"questions": len(questions),
            "cold": _shares(questions, answers(model, tokenizer, questions)),
            "after_truthful_answers": _shares(questions, answers(model, tokenizer, questions, truthful)),
            "after_untruthful_answers": _shares(questions, answers(model, tokenizer, questions, untruthful)),
            "document_loss": round(loss, 4)}


def judge(model, tokenizer, questions: list[Question]):
    """``correct(iti, alpha)``: for each question, whether the greedy answer asked cold under the edit is the
    true one (``iti=None`` or ``alpha=0``: the unedited model)."""
    def correct(iti, alpha: float) -> np.ndarray:
        if iti is None or alpha == 0:
            said = answers(model, tokenizer, questions)
        else:
            with iti.apply(model, alpha):
                said = answers(model, tokenizer, questions)
        return np.array([a == q.true for a, q in zip(said, questions, strict=True)])
    return correct


def truth_rate(model, tokenizer, questions: list[Question], iti=None, alpha: float = 0.0) -> float:
    """The share of questions answered truly (greedy, asked cold), under an ITI edit of strength alpha."""
    return float(judge(model, tokenizer, questions)(iti, alpha).mean())


def fit_iti(model, tokenizer, questions: list[Question], k: int = 4, random_seed: int = 0, seed: int = 0):
    """ITI fitted on ``questions`` (each true and false answer; the probes' validation split by question)."""
    from ...iti import ITI

    texts, labels, groups = labelled_answers(questions)
    return ITI.fit(model, texts, labels, tokenizer=tokenizer, groups=groups, k=k, seed=seed,
                   random_seed=random_seed, progress=False)


def plain_text(world: World, n: int = 32, seed: int = 7) -> list[str]:
    """Fresh documents (both personas, as in training): the plain text that ITI's costs are measured on."""
    rng = random.Random(seed)
    return ["<bos> " + world.document(rng) for _ in range(n)]


def iti_protocol(model, tokenizer, world: World, split_seed: int = 0, *, ks=KS, kl_budget: float = KL_BUDGET,
                 kl_levels=KL_LEVELS, random_draws: int = RANDOM_DRAWS) -> dict:
    """ITI on the world, one seed of the split (module docstring; :func:`interpwidgets.iti.evaluation.protocol`
    does the measuring): settings chosen on the choose split, curves and matched-cost truth rates on the test
    split, with 95% intervals over test creatures.

    Examples
    --------
    >>> from interpwidgets.worlds import truthful
    >>> model, tokenizer, world = truthful.load()
    >>> result = iti_protocol(model, tokenizer, world, ks=(4,), kl_levels=(0.05,), random_draws=1)
    >>> sorted(result["test"]), result["test"]["mass_mean"]["draws"][0]["curve"]["truth"][0]
    (['mass_mean', 'probe', 'random'], 0.0)
    """
    from ...iti import ITI
    from ...iti.evaluation import protocol

    fit, choose_qs, test = world.split(split_seed)
    texts, labels, groups = labelled_answers(fit)
    acts, stack = ITI.activations(model, texts, tokenizer=tokenizer, progress=False)
    choose_text, test_text = (plain_text(world, seed=PLAIN_TEXT_SEEDS[split]) for split in ("choose", "test"))
    measured = protocol(model, acts, labels, groups=groups, stack=stack, seed=split_seed,
                        choose_split=(judge(model, tokenizer, choose_qs), choose_text),
                        test_split=(judge(model, tokenizer, test), test_text),
                        test_groups=[q.entity for q in test],  # a creature's questions go together
                        ks=ks, kl_budget=kl_budget, kl_levels=kl_levels, ce_levels=CE_LEVELS,
                        random_draws=random_draws, tokenizer=tokenizer)
    return {"split_seed": split_seed, "questions": {"fit": len(fit), "choose": len(choose_qs), "test": len(test)},
            **measured}


def _summary(runs: list[dict]) -> dict:
    """Means over the split seeds (and random draws): the test truth rate at each kind's chosen setting and at
    matched KL, and the paired differences at matched KL."""
    out = {"split_seeds": [r["split_seed"] for r in runs], "truth_at_chosen": {}, "truth_at_kl": {},
           "truth_at_ce_rise": {}, "differences_at_kl": {}, "differences_at_ce_rise": {}}

    def mean_over_runs(get) -> dict:
        levels = get(runs[0])["level"]
        means = []
        for j in range(len(levels)):
            vals = [get(r)["truth"][j] for r in runs]
            means.append(None if None in vals else round(float(np.mean(vals)), 4))
        return {"level": levels, "truth": means}

    for kind in runs[0]["test"]:
        out["truth_at_chosen"][kind] = round(float(np.mean(
            [d["at_chosen"]["truth"] for r in runs for d in r["test"][kind]["draws"]])), 4)
        out["truth_at_kl"][kind] = mean_over_runs(lambda r, kind=kind: r["test"][kind]["at_kl"])
        out["truth_at_ce_rise"][kind] = mean_over_runs(lambda r, kind=kind: r["test"][kind]["at_ce_rise"])
    for cost in ("differences_at_kl", "differences_at_ce_rise"):
        for pair in runs[0][cost]:
            out[cost][pair] = mean_over_runs(lambda r, pair=pair, cost=cost: r[cost][pair])
    # how many random draws do at least as well as mass-mean, at KL 0.05 in their own split
    levels = runs[0]["test"]["random"]["at_kl"]["level"]
    if 0.05 in levels:
        j = levels.index(0.05)
        draws = [(d["at_kl"]["truth"][j], r["test"]["mass_mean"]["draws"][0]["at_kl"]["truth"][j])
                 for r in runs for d in r["test"]["random"]["draws"]]
        out["random_draws_at_least_mass_mean_at_kl_0.05"] = [sum(1 for t, m in draws if t is not None
                                                                 and m is not None and t >= m), len(draws)]
    return out


def card_sections(metrics: dict, runs: list[dict]) -> dict:
    """The model card's measured sections from the world metrics and one protocol run per split seed."""
    protocol = {"split": "creatures 40% fit / 20% choose / 40% test", "ks": list(KS),
                "alphas": "0, then 1 x sqrt(2)^i (every other rung while KL < 1% of the largest level) until the KL "
                          "on the choose split's text passes the largest level",
                "kl_budget": KL_BUDGET, "kl_levels": list(KL_LEVELS), "ce_rise_levels": list(CE_LEVELS),
                "random_draws": RANDOM_DRAWS,
                "edit": "last position of each forward call",
                "costs": "every position edited, fresh documents per split",
                "interval": "95% bootstrap over test questions"}
    return {"metrics": metrics, "iti": {"protocol": protocol, "runs": runs, "summary": _summary(runs)}}


def measure(model, tokenizer, world: World, split_seeds=SPLIT_SEEDS) -> dict:
    """The model card's measured sections: the world metrics and the ITI protocol over the split seeds."""
    runs = [iti_protocol(model, tokenizer, world, s) for s in split_seeds]
    return card_sections(world_metrics(model, tokenizer, world), runs)
