"""The zoo's real models: load times, SmolLM2's speed on this machine, capture and ITI costs at real size.

1. Loads: each loader cold (its conversion cache removed: SmolLM2's GGUF read and dequantized, DINOv2's
   ONNX mapped) and warm (from the cache), in fresh processes, so imports count as a user sees them; and
   a second warm load in the same process (imports done: what reading the weights costs).
2. SmolLM2-135M-Instruct, batch 1: greedy tokens per second (``NEW_TOKENS`` forced), and one forward pass
   over 128 tokens plain vs capturing every ``resid_post`` (30 sites) and every ``attn.head_out`` (30
   sites of [batch, seq, 9, 64]), interleaved rounds, medians: the capture overhead at a real model's size
   (the toy world's forward is 3 ms, so its costs were mostly fixed). Timed by ``bench_capture.time_methods``
   (one warm-up call each, then rounds in rotating order).
3. ITI on SmolLM2 at batch 1: generation under ``iti.apply(model, alpha)`` (K = 16 heads, directions fitted
   on random texts: the cost, not the effect, is measured here) vs plain, and, since whole generations
   vary by more than the edit costs, decoding steps on a cached prompt (16 per call, the edited ones under
   one context, as in generation; the same-round differences' median and quartiles per step), and the
   context's own opening and closing.

Writes ``benchmarks/results/zoo.json`` and ``zoo.md``: ``python benchmarks/bench_zoo.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_capture import diffs, quartiles, time_methods  # noqa: E402
from run import machine_info, write_json  # noqa: E402

import interpwidgets as iw  # noqa: E402
from interpwidgets.cache_dir import cache_dir  # noqa: E402

NEW_TOKENS = 32
STEPS = 16  # decoding steps per timed call
LOADERS = {"smollm2": True, "efficientnet_lite0": False, "dinov2_small": True}  # converted into the cache?


def _timed_load(name: str, env: dict) -> tuple[float, float]:
    """Seconds for a fresh process's first load (imports included), and for a second load in it."""
    code = (f"import time; t = time.perf_counter(); from interpwidgets import zoo; zoo.{name}(); "
            f"t1 = time.perf_counter(); zoo.{name}(); print(t1 - t, time.perf_counter() - t1)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    first, again = out.stdout.strip().splitlines()[-1].split()
    return float(first), float(again)


def loads() -> dict:
    """Cold (no cache) and warm load of each model, in fresh processes, with a scratch cache folder."""
    scratch = Path(cache_dir()).parent / "interpwidgets-bench-cache"
    env = {**os.environ, "IW_CACHE_DIR": str(scratch), "HF_HUB_OFFLINE": "1"}
    out = {}
    for name, converted in LOADERS.items():
        shutil.rmtree(scratch, ignore_errors=True)
        cold = _timed_load(name, env)[0]
        warm = [_timed_load(name, env) for _ in range(3)]
        out[name] = {"cold_s": cold, "warm_s": statistics.median(w[0] for w in warm),
                     "warm_in_process_s": statistics.median(w[1] for w in warm), "converted": converted}
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def smollm2(rounds: int) -> dict:
    """Tokens per second, capture overhead and ITI's generation cost on SmolLM2 (batch 1)."""
    model, tokenizer = iw.zoo.smollm2()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Tell me about the history of Paris."}],
                                           add_generation_prompt=True, return_tensors="pt")["input_ids"]
    texts = iw.datasets.stdlib_sentences(200, seed=1)
    ids = tokenizer(" ".join(texts), return_tensors="pt")["input_ids"][:, :128]

    def gen():
        with torch.no_grad():
            model.generate(prompt, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                           pad_token_id=tokenizer.eos_token_id)

    def forward():
        with torch.no_grad():
            model(ids)

    def captured(site):
        def run():
            with torch.no_grad(), iw.capture(model, site):
                model(ids)
        return run

    fns = {"plain": forward, "resid_post": captured("layers.*.resid_post"),
           "head_out": captured("layers.*.attn.head_out")}
    t = time_methods(fns, rounds, warmup=1)
    fwd = {k: statistics.median(v) for k, v in t.items()}
    labels = torch.tensor([i % 2 for i in range(len(texts))])
    iti = iw.ITI.fit(model, texts, labels, tokenizer=tokenizer, k=16, progress=False)

    def edited():
        with iti.apply(model, 15.0):
            gen()

    g = time_methods({"plain": gen, "edited": edited}, max(6, rounds // 2), warmup=1)
    plain, ed = statistics.median(g["plain"]), statistics.median(g["edited"])

    # decoding steps (a token on the prompt's cache, cut back after each), STEPS per call, the edited ones
    # under one open context as in generation; opening and closing that context is timed on its own
    with torch.no_grad():
        cache = model(prompt, use_cache=True).past_key_values
    last = prompt[:, -1:]

    def steps():
        with torch.no_grad():
            for _ in range(STEPS):
                model(last, cache=cache, use_cache=True)
                cache.crop(-1)

    def edited_steps():
        with iti.apply(model, 15.0):
            steps()

    def open_close():
        with iti.apply(model, 15.0):
            pass

    d = time_methods({"plain": steps, "edited": edited_steps, "open_close": open_close}, 2 * rounds, warmup=1)
    step_diff = [x / STEPS for x in diffs(d["edited"], d["plain"])]
    return {"setup": {"forward_tokens": ids.shape[1], "new_tokens": NEW_TOKENS, "rounds": rounds, "iti_k": 16,
                      "torch_threads": torch.get_num_threads()},
            "forward_s": fwd,
            "capture_overhead": {k: fwd[k] / fwd["plain"] - 1 for k in ("resid_post", "head_out")},
            "tokens_per_s": NEW_TOKENS / plain, "iti_tokens_per_s": NEW_TOKENS / ed,
            "iti_slowdown": ed / plain - 1,
            "decode_step_s": {k: statistics.median(v) / STEPS for k, v in d.items() if k != "open_close"},
            "iti_open_close_s": statistics.median(d["open_close"]),
            "iti_step_overhead_s": {"median": statistics.median(step_diff), "quartiles": quartiles(step_diff)},
            "times_s": {**t, **{f"gen_{k}": v for k, v in g.items()}, **{f"step_{k}": v for k, v in d.items()}}}


def markdown(r: dict) -> str:
    lines = ["**Loads** (fresh processes, imports included; cold = no conversion cache; again = a second load "
             "in the same process, imports done)", "",
             "| model | cold | warm | again |", "|---|---|---|---|"]
    for name, v in r["loads"].items():
        lines.append(f"| `zoo.{name}()` | {v['cold_s']:.1f} s{'' if v['converted'] else ' (no conversion)'} "
                     f"| {v['warm_s']:.1f} s | {v['warm_in_process_s']:.2f} s |")
    s = r["smollm2"]
    step = s["iti_step_overhead_s"]
    lines += ["", f"**SmolLM2-135M-Instruct, batch 1, {s['setup']['torch_threads']} torch threads** (medians of "
              f"{s['setup']['rounds']} interleaved rounds)", "",
              "| measure | value |", "|---|---|",
              f"| greedy generation | {s['tokens_per_s']:.1f} tokens/s |",
              f"| forward, {s['setup']['forward_tokens']} tokens | {1000 * s['forward_s']['plain']:.0f} ms |",
              f"| capturing every `resid_post` (30 sites) | {100 * s['capture_overhead']['resid_post']:+.1f}% |",
              f"| capturing every `attn.head_out` (30 x 9 heads) "
              f"| {100 * s['capture_overhead']['head_out']:+.1f}% |",
              f"| generation under ITI (K = 16) | {s['iti_tokens_per_s']:.1f} tokens/s "
              f"({100 * s['iti_slowdown']:+.1f}%, {len(s['times_s']['gen_plain'])} rounds) |",
              f"| one decoding step, plain | {1000 * s['decode_step_s']['plain']:.1f} ms |",
              f"| ITI's cost per decoding step ({STEPS} steps under one context; same-round differences, "
              f"{len(s['times_s']['step_plain'])} rounds) | {1000 * step['median']:+.2f} ms, quartiles "
              f"{1000 * step['quartiles'][0]:+.2f} to {1000 * step['quartiles'][1]:+.2f} "
              f"({100 * step['median'] / s['decode_step_s']['plain']:+.1f}%) |",
              f"| opening and closing ITI's context (30 hooked sites) | {1000 * s['iti_open_close_s']:.1f} ms |"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--loads-only", action="store_true", help="measure the loads again, keep the rest")
    args = parser.parse_args()
    info = machine_info()
    if args.loads_only:
        import json

        result = {**json.loads((HERE / "results" / "zoo.json").read_text()), "loads": loads()}
        result["machine"]["loads_measured"] = info["date"]
    else:
        result = {"machine": info, "loads": loads(), "smollm2": smollm2(args.rounds)}
    write_json("zoo.json", result)
    text = markdown(result)
    m = result["machine"]
    when = m["date"] + (f" (loads measured {m['loads_measured']})" if "loads_measured" in m else "")
    (HERE / "results" / "zoo.md").write_text(f"# The zoo's models\n\n{when} · {m['cpu_model']} · "
                                             f"{m['torch_threads']} torch threads\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
