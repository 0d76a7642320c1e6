"""How far pins steer: replies generated under a pin, judged by a :class:`~interpwidgets.dashboard.ReplyJudge`.

For an attribute, every conversation is answered once per value pinned at strength N (and with a random
direction of the same norm in its place); the success rate is the share of replies the judge assigns to the
pinned value (chance: one over the number of values, whatever the user's own value). Intervals are bootstrap
intervals over conversations (each conversation's success averaged over the values pinned).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..capture.inputs import model_device
from ..stats import bootstrap
from .chat import chat_text
from .judge import ReplyJudge
from .method import ChatProbes, features

__all__ = ["generate_replies", "steering_effect", "probe_table"]


def generate_replies(model, tokenizer, conversations: Sequence, *, max_new_tokens: int = 24,
                     batch_size: int = 32) -> list[str]:
    """Greedy replies to conversations (lists of messages), batched and padded on the left so that every
    prompt's last token is the last position (where a pin edits); whatever edits are open apply."""
    out = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for s in range(0, len(conversations), batch_size):
            texts = [chat_text(tokenizer, c) for c in conversations[s:s + batch_size]]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model_device(model))
            with torch.no_grad():
                ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [r.strip() for r in out]


def steering_effect(model, tokenizer, probes: ChatProbes, judge: ReplyJudge, conversations: Sequence,
                    attribute: str, strengths: Sequence[float] = (0, 2, 4, 8, 16), *, random: bool = False,
                    max_new_tokens: int = 24, batch_size: int = 32, seed: int = 0, progress: bool = True) -> dict:
    """The judged success rate of pinning each value of ``attribute`` at each strength (see the module).

    Returns ``{"strength": [...], "success": [...], "lo": [...], "hi": [...], "chance": 1/k, "replies": {N:
    {value: [reply, ...]}}}``; ``random=True`` measures random directions of the same norms instead.
    """
    if attribute not in probes.control:
        raise ValueError(f"no probes for {attribute!r}: the probes have {sorted(probes.control)}")
    if tuple(judge.values) != tuple(probes.control[attribute].attribute.values):
        raise ValueError(f"the judge tells {list(judge.values)} apart but {attribute!r} has the values "
                         f"{list(probes.control[attribute].attribute.values)}")
    messages = [c.messages if hasattr(c, "messages") else c for c in conversations]
    values = probes.control[attribute].attribute.values
    result = {"strength": [], "success": [], "lo": [], "hi": [], "chance": 1 / len(values), "replies": {}}
    bar = tqdm(total=len(strengths) * len(values), desc=f"steering {attribute}", disable=not progress)
    for n in strengths:
        hits = np.zeros((len(messages), len(values)))
        result["replies"][n] = {}
        for j, value in enumerate(values):
            with probes.steer(model, {attribute: (value, float(n))}, random=random, seed=seed):
                replies = generate_replies(model, tokenizer, messages, max_new_tokens=max_new_tokens,
                                           batch_size=batch_size)
            hits[:, j] = [v == value for v in judge.predict(replies)]
            result["replies"][n][value] = replies
            bar.update()
        rate, lo, hi = bootstrap(hits.mean(1), seed=seed)
        for key, v in (("strength", float(n)), ("success", rate), ("lo", lo), ("hi", hi)):
            result[key].append(round(float(v), 4))
    bar.close()
    return result


def probe_table(model, tokenizer, probes: ChatProbes, test) -> dict:
    """Per attribute and probe kind: per-layer accuracy on the choose and test conversations, and the chosen
    layer's test accuracy with its interval (over conversations), beside chance."""
    rows = {}
    for kind, table in (("reading", probes.reading), ("control", probes.control)):
        for name, p in table.items():
            X = features(model, tokenizer, [c.messages for c in test], p.attribute, kind)
            y = torch.tensor([p.attribute.index(c.labels[name]) for c in test])
            hit = (p.probes.predict(X) == y[:, None]).float().numpy()  # [conversations, layers]
            rate, lo, hi = bootstrap(hit[:, p.layer])
            rows.setdefault(name, {"chance": round(1 / len(p.attribute.values), 4)})[kind] = {
                "layer": p.layer, "test": round(float(rate), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4),
                "per_layer_test": [round(float(a), 4) for a in hit.mean(0)],
                "per_layer_choose": [round(a, 4) for a in p.accuracy["choose"]]}
    return rows
