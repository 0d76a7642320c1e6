"""The personas world's model card: what the shipped chat LM believes about its users and itself, and how far
pins steer it, measured on held-out conversations with 95% bootstrap intervals over conversations.

``python -m interpwidgets.worlds.personas.card`` writes ``checkpoint/model_card.json``.

1. **Probes** (:class:`interpwidgets.ChatProbes`): for every attribute, reading and control probes at every
   layer, fitted on conversations whose cue phrases and names come from the generator's first half, the
   layer chosen on other first-half conversations, accuracy reported on conversations of the second half
   (phrases and names the probes never saw), against chance.
2. **Judges**: per attribute, a :class:`~interpwidgets.dashboard.ReplyJudge` fitted on the world's ideal
   replies, its accuracy on other ideal replies.
3. **Steering**: for the attributes that shape a reply (age, socioeconomic status, education, persona), each
   value pinned in turn at strengths N, the reply judged; the success rate (the share judged as the pinned
   value; chance 1/k) with the control probe's directions and with random directions of the same norms.
   Nothing is chosen: the whole curve is reported.
"""

from __future__ import annotations

import json
import random
import time

import numpy as np
import torch

from ...dashboard import ChatProbes, ReplyJudge, middle_band
from ...dashboard.evaluation import probe_table, steering_effect
from . import CHECKPOINT, SPLIT_SEEDS, TOPICS, attributes, conversations, load, reply
from .data import ATTRIBUTES

__all__ = ["CARD", "COUNTS", "STRENGTHS", "STEERED", "measure", "fit_probes", "judges", "ideal_replies",
           "steering_table"]

CARD = CHECKPOINT / "model_card.json"
COUNTS = {"fit": 600, "choose": 200, "test": 300, "steer": 60, "judge": 800}
STRENGTHS = (0.0, 1.0, 2.0, 4.0, 8.0)
STEERED = ("age", "socioeconomic status", "education", "persona")  # gender shapes no reply, by design


def fit_probes(model, tokenizer, counts: dict = COUNTS, progress: bool = False) -> tuple[ChatProbes, list]:
    """Probes of every attribute (fit and choose: cue half 0) and the test conversations (half 1)."""
    fit = conversations(counts["fit"], SPLIT_SEEDS["fit"], half=0)
    choose = conversations(counts["choose"], SPLIT_SEEDS["choose"], half=0)
    test = conversations(counts["test"], SPLIT_SEEDS["test"], half=1)
    return ChatProbes.fit(model, tokenizer, fit, attributes(), choose=choose, progress=progress), test


def ideal_replies(n: int, seed: int) -> tuple[list[str], list[dict]]:
    """``n`` ideal replies of random users and personas, and their labels."""
    rng = random.Random(seed)
    labels = [{a: rng.choice(v) for a, v in ATTRIBUTES.items()} for _ in range(n)]
    return [reply(lab, rng.choice(sorted(TOPICS)), rng) for lab in labels], labels


def judges(n: int = COUNTS["judge"], seed: int = 0) -> dict[str, ReplyJudge]:
    """One judge per steered attribute, fitted on ``n`` ideal replies."""
    replies, labels = ideal_replies(n, seed)
    return {a: ReplyJudge.fit(replies, [lab[a] for lab in labels], ATTRIBUTES[a], seed=seed) for a in STEERED}


def steering_table(model, tokenizer, probes: ChatProbes, judge: dict, counts: dict = COUNTS,
                   progress: bool = False) -> dict:
    """Per steered attribute: the success curve over ``STRENGTHS`` with the probes' directions and with random
    ones, on held-out conversations (cue half 1), and an example reply at the weakest and strongest pins."""
    convs = conversations(counts["steer"], SPLIT_SEEDS["test"] + 100, half=1)
    out = {}
    for name in STEERED:
        out[name] = {"chance": round(1 / len(ATTRIBUTES[name]), 4), "examples": {}}
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
    replies, labels = ideal_replies(400, seed=1)  # other replies, to score the judges on
    judged = {a: round(float(np.mean([p == lab[a] for p, lab in zip(judge[a].predict(replies), labels, strict=True)])),
                       4) for a in STEERED}
    return {"probes": probe_table(model, tokenizer, probes, test), "judges": judged,
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
