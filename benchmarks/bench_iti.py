"""ITI's two speed measurements: probes for 1,024 heads, and generation with and without the edit.

1. Probes: 32 layers x 32 heads, d_head 128, 1,600 examples of synthetic head-like features
   (``bench_probes.make_features``: anisotropic, offset, a planted signal from none to strong), binary
   labels. ``iw.fit_probes`` vs one scikit-learn ``LogisticRegression()`` per head (the reference
   approach of the ITI code) on the same 80/20 split, interleaved repeats; time and mean validation
   accuracy.
2. Generation: the truthful world's shipped GPT, greedy decoding of ``NEW_TOKENS`` tokens for the
   test questions of split 0 (left-padded), batch 1 (what ITIView streams) and batch 16, without the edit
   and under ``iti.apply(model, alpha)`` (the paper's edit: the last position of each forward call) with 4
   heads; interleaved rounds, tokens per second and the slowdown. Decoding is forced to the full length
   (``min_new_tokens``) so both sides make the same number of tokens.

Writes ``benchmarks/results/iti.json`` and ``iti.md``: ``python benchmarks/bench_iti.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_probes  # noqa: E402
from run import machine_info, write_json  # noqa: E402

SHAPE = (1600, 32, 32, 128)  # examples, layers, heads, d_head
NEW_TOKENS = 48
ALPHA = 15.0


def probes(repeats: int) -> dict:
    """``fit_probes`` vs the scikit-learn loop on 1,024 heads (see the module docstring)."""
    data = bench_probes.make_features(shape=SHAPE)
    case = bench_probes.run_case(data, repeats, (1000,))
    sk = case["sklearn_max_iter_1000"]
    return {"setup": {"shape": list(SHAPE), "repeats": repeats, "dtype": "float32",
                      "sklearn": "LogisticRegression(max_iter=1000): lbfgs, C=1.0, tol=1e-4",
                      "ours": "fit_probes(features, labels) defaults: l2=1.0, max_iter=100, tol=1e-4"},
            "fit_probes_median_s": case["fit_probes"]["median_s"], "sklearn_median_s": sk["median_s"],
            "speedup_median": sk["speedup_median"],
            "ours_mean_val_accuracy": sk["ours_mean_val_accuracy"],
            "sklearn_mean_val_accuracy": sk["sklearn_mean_val_accuracy"],
            "mean_accuracy_diff_points": sk["mean_accuracy_diff_points"],
            "probes_with_different_accuracy": sk["probes_with_different_accuracy"], "detail": case}


def generation(rounds: int) -> dict:
    """Tokens per second of greedy decoding on the truthful world's GPT, with and without the edit."""
    from interpwidgets.worlds.truthful import fit_iti, load, qa

    model, tokenizer, world = load()
    fit, _, test = world.split(0)
    iti = fit_iti(model, tokenizer, fit)
    prompts = [tokenizer.bos_token + " " + qa(q) for q in test]
    tokenizer.padding_side = "left"
    out: dict = {"setup": {"model": "truthful world GPT-2 (4 layers x 8 heads)", "new_tokens": NEW_TOKENS,
                           "alpha": ALPHA, "k": iti.k, "edited_layers": len(iti.edits(ALPHA)),
                           "rounds": rounds}}
    for batch in (1, 16):
        enc = tokenizer(prompts[:batch], return_tensors="pt", padding=True)

        def gen(enc=enc):
            with torch.no_grad():
                model.generate(**enc, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                               pad_token_id=tokenizer.pad_token_id)

        def edited():
            with iti.apply(model, ALPHA):
                gen()

        gen(), edited()  # warm-up
        times: dict[str, list[float]] = {"plain": [], "edited": []}
        for r in range(rounds):
            for name, fn in ((("plain", gen), ("edited", edited)) if r % 2 == 0 else
                             (("edited", edited), ("plain", gen))):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        plain, ed = statistics.median(times["plain"]), statistics.median(times["edited"])
        out[f"batch_{batch}"] = {"plain_tokens_per_s": batch * NEW_TOKENS / plain,
                                 "edited_tokens_per_s": batch * NEW_TOKENS / ed,
                                 "slowdown": ed / plain - 1, "times_s": times}
    return out


def markdown(result: dict) -> str:
    """The two tables of the ITI benchmark."""
    p, g = result["probes"], result["generation"]
    shape = p["setup"]["shape"]
    lines = [f"**Probes for {shape[1] * shape[2]:,} heads** ({shape[1]} layers x {shape[2]} heads, d_head "
             f"{shape[3]}, {shape[0]:,} examples, median of {p['setup']['repeats']} interleaved repeats)", "",
             "| | time | mean validation accuracy |", "|---|---|---|",
             f"| loop of scikit-learn `LogisticRegression()` | {p['sklearn_median_s']:.2f} s "
             f"| {100 * p['sklearn_mean_val_accuracy']:.2f}% |",
             f"| `iw.fit_probes` | {p['fit_probes_median_s']:.2f} s (**{p['speedup_median']:.1f}x faster**) "
             f"| {100 * p['ours_mean_val_accuracy']:.2f}% |", "",
             f"**Greedy generation on the truthful world's GPT** ({g['setup']['new_tokens']} new tokens, "
             f"alpha {g['setup']['alpha']:g}, K = {g['setup']['k']} heads over {g['setup']['edited_layers']} "
             f"layers, median of {g['setup']['rounds']} interleaved rounds)", "",
             "| batch | tokens/s without the edit | with the edit | slowdown |", "|---|---|---|---|"]
    for batch in (1, 16):
        b = g[f"batch_{batch}"]
        lines.append(f"| {batch} | {b['plain_tokens_per_s']:.0f} | {b['edited_tokens_per_s']:.0f} "
                     f"| {100 * b['slowdown']:+.1f}% |")
    return "\n".join(lines)


def main() -> None:
    """CLI: run both parts, write results/iti.json and iti.md, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the probe fits")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved generation rounds")
    args = parser.parse_args()
    torch.set_num_threads(bench_probes.THREADS)
    info = machine_info()
    result = {"machine": info, "generation": generation(args.rounds), "probes": probes(args.repeats)}
    write_json("iti.json", result)
    text = markdown(result)
    (HERE / "results" / "iti.md").write_text(f"# ITI benchmark\n\n{info['date']} · {info['cpu_model']} · "
                                             f"{info['torch_threads']} torch threads\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
