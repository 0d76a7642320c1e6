"""ChatDashboard's speed on SmolLM2-135M-Instruct: fitting the probes, reading a turn, writing a reply.

1. Probe fitting, every layer of one attribute: ``iw.fit_probes`` (all 30 layers as one batched problem)
   against a scikit-learn ``LogisticRegression`` per layer (what TalkTuner's own dashboard does for newer
   models), on the same features (the reading probe's, 200 + 60 conversations of the personas generator),
   the same split, and the same penalty (C = 1 / l2); accuracy on the held-out 60 beside the times.
2. Reading a turn (every attribute of the personas world: five reading probes): the dashboard's readout
   (the five texts in one batch, one ``collect``) against one forward pass per attribute.
3. Writing a reply: tokens per second of the streamed greedy reply, without pins and with one pin (the
   engine's hooks on the middle band of layers), 32 new tokens.

Writes ``benchmarks/results/dashboard.json`` and ``dashboard.md``: ``python benchmarks/bench_dashboard.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from run import machine_info, write_json  # noqa: E402

import interpwidgets as iw  # noqa: E402
from interpwidgets.dashboard.method import features  # noqa: E402
from interpwidgets.worlds import personas  # noqa: E402

REPEATS = 5
TURN = [{"role": "user", "content": "Hi! I'm Maria. Money is tight this month. Can you suggest a gift?"}]


def probe_fitting(model, tok) -> dict:
    from sklearn.linear_model import LogisticRegression

    attribute = personas.attribute("socioeconomic status")
    S = personas.SPLIT_SEEDS
    convs = personas.conversations(200, S["fit"], half=0) + personas.conversations(60, S["choose"], half=0)
    start = time.perf_counter()
    X = features(model, tok, [c.messages for c in convs], attribute, "reading")
    collect_s = time.perf_counter() - start
    y = np.array([attribute.index(c.labels[attribute.name]) for c in convs])
    train, val = np.arange(200), np.arange(200, 260)
    ours, theirs = [], []
    for _ in range(REPEATS):
        t = time.perf_counter()
        res = iw.fit_probes(X, torch.as_tensor(y), split=(train, val))
        ours.append(time.perf_counter() - t)
    acc_ours = res.metrics["val_accuracy"].numpy()
    for _ in range(2):
        t, acc_sk = time.perf_counter(), []
        for layer in range(X.shape[1]):
            Xl = X[:, layer].numpy()
            clf = LogisticRegression(C=1.0, max_iter=1000).fit(Xl[train], y[train])
            acc_sk.append(clf.score(Xl[val], y[val]))
        theirs.append(time.perf_counter() - t)
    return {"layers": X.shape[1], "features": X.shape[2], "train": len(train), "val": len(val),
            "collect_s": round(collect_s, 2), "interpwidgets_s": round(statistics.median(ours), 3),
            "sklearn_s": round(statistics.median(theirs), 3),
            "speedup": round(statistics.median(theirs) / statistics.median(ours), 1),
            "mean_val_accuracy": {"interpwidgets": round(float(acc_ours.mean()), 4),
                                  "sklearn": round(float(np.mean(acc_sk)), 4)},
            "largest_accuracy_difference": round(float(np.abs(acc_ours - np.array(acc_sk)).max()), 4)}


def reading_a_turn(model, tok, probes) -> dict:
    from interpwidgets.dashboard.chat import chat_text

    batched, looped = [], []
    for _ in range(REPEATS):
        t = time.perf_counter()
        probes.readout(model, tok, TURN)
        batched.append(time.perf_counter() - t)
        t = time.perf_counter()
        for p in probes.reading.values():
            iw.collect(model, [chat_text(tok, TURN, reading=p.attribute.phrase)], "layers.*.resid_post",
                       tokenizer=tok, progress=False)
        looped.append(time.perf_counter() - t)
    return {"attributes": len(probes.reading), "batched_s": round(statistics.median(batched), 3),
            "one_pass_per_attribute_s": round(statistics.median(looped), 3)}


def writing_a_reply(model, tok, probes) -> dict:
    from contextlib import nullcontext

    from interpwidgets.dashboard.chat import prompt_ids
    from interpwidgets.generation import stream

    ids, _ = prompt_ids(model, tok, TURN)
    out = {}
    for label, pins in (("no pin", {}), ("one pin", {"socioeconomic status": ("high", 8.0)})):
        times, pieces = [], []
        for _ in range(3):
            t = time.perf_counter()
            with probes.steer(model, pins) if pins else nullcontext():
                pieces = stream(model, ids, tokenizer=tok, max_new_tokens=32, min_new_tokens=32)
            times.append(time.perf_counter() - t)
        out[label] = {"tokens": len(pieces), "tokens_per_s": round(len(pieces) / statistics.median(times), 1)}
    return out


def markdown(r: dict, info: dict) -> str:
    p, rd, w = r["probes"], r["reading"], r["reply"]
    rows = [
        (f"reading-probe features of {p['train'] + p['val']} conversations, {p['layers']} layers (collect)",
         f"{p['collect_s']} s"),
        (f"`iw.fit_probes`, all {p['layers']} layers at once", f"{p['interpwidgets_s']} s "
         f"(mean held-out accuracy {p['mean_val_accuracy']['interpwidgets']:.1%})"),
        ("scikit-learn `LogisticRegression`, one per layer (same split, same penalty)",
         f"{p['sklearn_s']} s ({p['mean_val_accuracy']['sklearn']:.1%}); ours **{p['speedup']}x faster**, "
         f"largest per-layer accuracy difference {p['largest_accuracy_difference']:.1%}"),
        (f"reading a turn, {rd['attributes']} attributes in one batch (the dashboard)",
         f"{rd['batched_s'] * 1000:.0f} ms"),
        ("reading a turn, one forward pass per attribute", f"{rd['one_pass_per_attribute_s'] * 1000:.0f} ms"),
        *((f"streamed reply, {k}", f"{v['tokens_per_s']} tokens/s") for k, v in w.items()),
    ]
    head = (f"# ChatDashboard benchmark (SmolLM2-135M-Instruct)\n\n{info['date']} · {info['cpu_model']} · "
            f"{info['torch_threads']} torch threads\n\n")
    return head + "| measurement | result |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n"


def main() -> None:
    torch.set_num_threads(2)
    info = machine_info()
    model, tok = iw.zoo.smollm2()
    S = personas.SPLIT_SEEDS
    probes = iw.ChatProbes.fit(model, tok, personas.conversations(60, S["fit"], half=0, turns=(1, 1)),
                               personas.attributes())
    result = {"machine": info, "probes": probe_fitting(model, tok), "reading": reading_a_turn(model, tok, probes),
              "reply": writing_a_reply(model, tok, probes)}
    write_json("dashboard.json", result)
    text = markdown(result, info)
    (HERE / "results" / "dashboard.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
