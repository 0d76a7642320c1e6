"""The personas world's model card: what the shipped chat LM believes about its users and itself, and how far
pins steer it, measured on held-out conversations with 95% bootstrap intervals over conversations.

``python -m interpwidgets.worlds.personas.card`` writes ``checkpoint/model_card.json``.

1. **Probes** (:class:`interpwidgets.ChatProbes`): for every attribute, reading and control probes at every
   layer, fitted on conversations whose cue phrases and names come from the generator's first half, the
   layer chosen on other first-half conversations, accuracy reported on conversations of the second half
   (phrases and names the probes never saw), against chance, and apart on the conversations that told the
   attribute and those that did not (there the best any reader can do is chance). Beside them, what the
   model itself says after the reading phrase (it was trained to finish it), on the same conversations.
2. **Judges**: per steered attribute, a :class:`~interpwidgets.dashboard.ReplyJudge` fitted on the world's
   ideal replies (each written from a random part of the user's attributes: a reply shows a value, or
   ``"unknown"`` where the user did not tell it), its accuracy on other ideal replies.
3. **Steering**: for the attributes that shape a reply (age, socioeconomic status, education, persona), on
   held-out conversations that did not tell the attribute, each value pinned in turn at strengths N and the
   reply judged: the success rate is the share judged as the pinned value (unpinned, the replies say
   "unknown" for a user's attribute; the persona is a guess, chance 1/3). The control probe's directions
   against random directions of the same norms. Nothing is chosen: the whole curve is reported.
"""

from __future__ import annotations

import json
import random
import time

import numpy as np
import torch

from ...dashboard import ChatProbes, ReplyJudge, middle_band
from ...dashboard.evaluation import probe_table, steering_effect
from ...stats import bootstrap
from . import CHECKPOINT, SPLIT_SEEDS, TOPICS, attributes, conversations, load, reply
from .data import ATTRIBUTES, SYSTEM_ATTRIBUTES, UNKNOWN, USER_ATTRIBUTES, reply_labels

__all__ = ["CARD", "COUNTS", "STRENGTHS", "STEERED", "measure", "fit_probes", "judges", "ideal_replies",
           "model_says", "steering_conversations", "steering_table"]

CARD = CHECKPOINT / "model_card.json"
COUNTS = {"fit": 400, "choose": 100, "test": 200, "steer": 30, "judge": 800}  # sized for the test's re-measure
STRENGTHS = (0.0, 2.0, 4.0, 8.0)
STEERED = ("age", "socioeconomic status", "education", "persona")  # gender shapes no reply, by design


def fit_probes(model, tokenizer, counts: dict = COUNTS, progress: bool = False) -> tuple[ChatProbes, list]:
    """Probes of every attribute (fit and choose: cue half 0) and the test conversations (half 1)."""
    fit = conversations(counts["fit"], SPLIT_SEEDS["fit"], half=0)
    choose = conversations(counts["choose"], SPLIT_SEEDS["choose"], half=0)
    test = conversations(counts["test"], SPLIT_SEEDS["test"], half=1)
    return ChatProbes.fit(model, tokenizer, fit, attributes(), choose=choose, progress=progress), test


def ideal_replies(n: int, seed: int) -> tuple[list[str], list[dict]]:
    """``n`` ideal replies of random users and personas, each written from a random part of the user's
    attributes, and what each shows of every attribute (a value, or ``UNKNOWN``)."""
    rng = random.Random(seed)
    replies, shows = [], []
    for _ in range(n):
        lab = {a: rng.choice(v) for a, v in ATTRIBUTES.items()}
        known = {a for a in USER_ATTRIBUTES if rng.random() < 0.5}
        replies.append(reply(lab, rng.choice(sorted(TOPICS)), rng, known))
        shows.append(reply_labels(lab, known))
    return replies, shows


def judges(n: int = COUNTS["judge"], seed: int = 0) -> dict[str, ReplyJudge]:
    """One judge per steered attribute, fitted on ``n`` ideal replies: a user's attribute has the class
    ``UNKNOWN`` beside its values (a reply written without it)."""
    replies, shows = ideal_replies(n, seed)
    return {a: ReplyJudge.fit(replies, [s[a] for s in shows],
                              ATTRIBUTES[a] + (() if a in SYSTEM_ATTRIBUTES else (UNKNOWN,)), seed=seed)
            for a in STEERED}


def model_says(model, tokenizer, test) -> dict:
    """Per attribute, how often the model's own greedy words after the reading phrase name the true value."""
    from ...dashboard.evaluation import generate_replies

    out = {}
    for a in attributes():
        texts = generate_replies(model, tokenizer, [c.messages for c in test], max_new_tokens=4, prefix=a.phrase)
        hit = np.array([t.lower().startswith(c.labels[a.name]) for t, c in zip(texts, test, strict=True)], float)
        rate, lo, hi = bootstrap(hit)
        out[a.name] = {"test": round(float(rate), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4)}
    return out


def steering_conversations(name: str, n: int) -> list:
    """``n`` held-out conversations (cue half 1) that do not tell ``name``: a pin has to supply it."""
    pool = conversations(20 * n, SPLIT_SEEDS["test"] + 100, half=1)
    return [c for c in pool if not c.told(name)][:n]


def steering_table(model, tokenizer, probes: ChatProbes, judge: dict, counts: dict = COUNTS,
                   progress: bool = False) -> dict:
    """Per steered attribute: the success curve over ``STRENGTHS`` with the probes' directions and with random
    ones (see the module's docstring), and an example reply at the weakest and strongest pins."""
    out = {}
    for name in STEERED:
        convs = steering_conversations(name, counts["steer"])
        out[name] = {"chance": round(1 / len(ATTRIBUTES[name]), 4), "conversations": len(convs), "examples": {}}
        for label, rand in (("probe", False), ("random", True)):
            r = steering_effect(model, tokenizer, probes, judge[name], convs, name, STRENGTHS, random=rand,
                                max_new_tokens=16, progress=progress)
            out[name][label] = {k: r[k] for k in ("strength", "success", "lo", "hi")}
            out[name]["examples"][label] = {str(n): {v: r["replies"][n][v][0] for v in r["replies"][n]}
                                            for n in (STRENGTHS[0], STRENGTHS[-1])}
    return out


def measure(model=None, tokenizer=None, counts: dict = COUNTS, progress: bool = True) -> dict:
    """Every number of the card (see the module's docstring)."""
    if model is None:
        model, tokenizer = load()
    start = time.time()
    probes, test = fit_probes(model, tokenizer, counts, progress)
    judge = judges(counts["judge"])
    replies, shows = ideal_replies(400, seed=1)  # other replies, to score the judges on
    judged = {a: round(float(np.mean([p == s[a] for p, s in zip(judge[a].predict(replies), shows, strict=True)])), 4)
              for a in STEERED}
    return {"probes": probe_table(model, tokenizer, probes, test), "model_says": model_says(model, tokenizer, test),
            "judges": judged,
            "steering": steering_table(model, tokenizer, probes, judge, counts, progress),
            "band": middle_band(probes.n_layers), "counts": dict(counts), "seconds": round(time.time() - start, 1)}


def main() -> None:
    torch.set_num_threads(2)
    model, tokenizer = load()
    card = json.loads((CHECKPOINT / "training_state.json").read_text())
    result = {"model": {"family": "GPT2LMHeadModel", "parameters": sum(p.numel() for p in model.parameters()),
                        **{k: getattr(model.config, k) for k in ("n_layer", "n_head", "n_embd", "vocab_size")}},
              "training": {k: card[k] for k in ("recipe", "step", "seconds", "trained_on")}
              | {"final_loss": card["losses"][-1][1] if card["losses"] else None},
              **measure(model, tokenizer)}
    CARD.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("judges", "band", "seconds")}, indent=1))


if __name__ == "__main__":
    main()
