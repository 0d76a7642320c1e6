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
from .chat import prompt_ids
from .judge import ReplyJudge
from .method import ChatProbes, features

__all__ = ["generate_replies", "steering_effect", "probe_table"]


def generate_replies(model, tokenizer, conversations: Sequence, *, max_new_tokens: int = 24,
                     batch_size: int = 32, prefix: str = "") -> list[str]:
    """Greedy replies to conversations (lists of messages), batched and padded on the left so that every
    prompt's last token is the last position (where a pin edits); whatever edits are open apply. Prompts
    longer than the context keep their last tokens. ``prefix``: the start of every reply, given (the
    reading phrase, to hear what the model says after it); the replies returned are what follows it."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = []
    for s in range(0, len(conversations), batch_size):
        rows = [prompt_ids(model, tokenizer, c, max_new_tokens, reply=prefix)[0][0].tolist()
                for c in conversations[s:s + batch_size]]
        width = max(map(len, rows))
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        dev = model_device(model)
        with torch.no_grad():
            gen = model.generate(input_ids=ids.to(dev), attention_mask=mask.to(dev), max_new_tokens=max_new_tokens,
                                 do_sample=False, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
        out += tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
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
    if not set(probes.control[attribute].attribute.values) <= set(judge.values):
        raise ValueError(f"the judge tells {list(judge.values)} apart but {attribute!r} has the values "
                         f"{list(probes.control[attribute].attribute.values)}")
    messages = [c.messages if hasattr(c, "messages") else c for c in conversations]
    values = probes.control[attribute].attribute.values
    result = {"strength": [float(n) for n in strengths], "chance": 1 / len(values), "replies": {}}
    bar = tqdm(total=len(strengths) * len(values), desc=f"steering {attribute}", disable=not progress)
    hits = np.zeros((len(strengths), len(messages), len(values)))
    for i, n in enumerate(strengths):
        result["replies"][n] = {}
        for j, value in enumerate(values):
            with probes.steer(model, {attribute: (value, float(n))}, random=random, seed=seed):
                replies = generate_replies(model, tokenizer, messages, max_new_tokens=max_new_tokens,
                                           batch_size=batch_size)
            hits[i, :, j] = [v == value for v in judge.predict(replies)]
            result["replies"][n][value] = replies
            bar.update()
    bar.close()
    rate, lo, hi = bootstrap(hits.mean(2), seed=seed)  # the same resamples of the conversations for every N
    result |= {k: [round(float(x), 4) for x in v] for k, v in (("success", rate), ("lo", lo), ("hi", hi))}
    return result


def probe_table(model, tokenizer, probes: ChatProbes, test) -> dict:
    """Per attribute and probe kind: per-layer accuracy on the choose and test conversations, the chosen
    layer's test accuracy with its interval (over conversations) beside chance, and, for conversations
    that say whether they told the attribute (``told(name)``, as the personas world's do), the accuracy on
    those that did and on those that did not. ``test``: objects with ``messages`` and ``labels``."""
    rows, cache = {}, {}
    for kind, table in (("reading", probes.reading), ("control", probes.control)):
        for name, p in table.items():
            convs = [c for c in test if name in c.labels]
            X = features(model, tokenizer, [c.messages for c in convs], p.attribute, kind, cache=cache)
            y = torch.tensor([p.attribute.index(c.labels[name]) for c in convs])
            hit = (p.probes.predict(X) == y[:, None]).float().numpy()  # [conversations, layers]
            rate, lo, hi = bootstrap(hit[:, p.layer])
            row = {"layer": p.layer, "test": round(float(rate), 4), "lo": round(float(lo), 4),
                   "hi": round(float(hi), 4),
                   "per_layer_test": [round(float(a), 4) for a in hit.mean(0)],
                   "per_layer_choose": [round(a, 4) for a in p.accuracy["choose"]]}
            if all(hasattr(c, "told") for c in convs):
                told = np.array([c.told(name) for c in convs])
                for key, part in (("told", told), ("not_told", ~told)):
                    row[key] = {"n": int(part.sum()), "test": round(float(hit[part, p.layer].mean()), 4)
                                if part.any() else None}
            rows.setdefault(name, {"chance": round(1 / len(p.attribute.values), 4)})[kind] = row
    return rows
