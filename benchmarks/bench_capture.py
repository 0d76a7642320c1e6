"""Capture overhead on GPT-2 small (CPU): plain forward vs interpwidgets vs TransformerLens vs nnsight.

Every method records the same 24 tensors of one forward pass over a batch of 8 x 128 random tokens:
the residual stream after each of the 12 blocks ``[8, 128, 768]`` and the per-head attention outputs
before ``c_proj`` ``[8, 128, 12, 64]``.

* ``hf_plain``: ``model(input_ids)`` of ``GPT2LMHeadModel(GPT2Config())`` (transformers' default
  attention implementation, sdpa).
* ``interpwidgets``: the same call inside ``iw.capture(model, [...resid_post, ...head_out])``.
* ``nnsight``: ``NNsight`` around a deep copy of the same model (NNsight replaces every module's
  ``forward`` for good, so the copy keeps the other methods' model untouched); inside
  ``with nn_model.trace(input_ids):`` each layer's ``attn.c_proj`` input and block output are saved
  in execution order.
* ``tl_plain`` / ``transformerlens``: a ``HookedTransformer`` with the same GPT-2 small config and
  the HF weights loaded without any processing (no LayerNorm folding or centring), plain forward and
  ``run_with_cache(tokens, names_filter=[...hook_resid_post, ...attn.hook_z])``.

Timing: ``rounds`` interleaved rounds after warm-up, each running every method once in a rotating
order; medians and minima are reported, with ratios to ``hf_plain`` (and TransformerLens's ratio to
its own plain forward). The same methods then run on ``TINY`` (same 12 x 12 module structure, tiny
width) for many rounds, which resolves each method's fixed per-call cost in milliseconds.

Peak memory: one fresh subprocess per method, with ``MALLOC_MMAP_THRESHOLD_=65536`` so freed buffers
go back to the OS and numbers repeat, which builds the model and runs the method 3 times; its peak
RSS (``VmHWM``) is read at the end.

Run ``python benchmarks/bench_capture.py`` for this benchmark alone, or ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N_LAYERS = 12
BATCH, SEQ = 8, 128
THREADS = 2
METHODS = ("hf_plain", "interpwidgets", "nnsight", "tl_plain", "transformerlens")
OUR_SITES = ["layers.*.resid_post", "layers.*.attn.head_out"]
TL_NAMES = ([f"blocks.{i}.hook_resid_post" for i in range(N_LAYERS)]
            + [f"blocks.{i}.attn.hook_z" for i in range(N_LAYERS)])
OUR_NAMES = ([f"layers.{i}.resid_post" for i in range(N_LAYERS)]
             + [f"layers.{i}.attn.head_out" for i in range(N_LAYERS)])

Runner = Callable[[], dict[str, torch.Tensor] | None]


@dataclass(frozen=True)
class Arch:
    """A GPT-2 architecture; the defaults are GPT-2 small (``GPT2Config()``)."""

    n_layers: int = N_LAYERS
    d_model: int = 768
    n_heads: int = 12
    d_mlp: int = 3072
    n_ctx: int = 1024
    d_vocab: int = 50257

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


GPT2_SMALL = Arch()
# same 12 layers x 12 heads (so the same 24 hooks) at a tiny width: the forward pass costs ~3 ms and
# the fixed per-call cost of each capture method is what the timing resolves
TINY = Arch(d_model=96, d_mlp=384, n_ctx=64, d_vocab=1000)
TINY_BATCH = (1, 16)


# --------------------------------------------------------------------------- models


def build_hf(arch: Arch = GPT2_SMALL, seed: int = 0) -> torch.nn.Module:
    """``GPT2LMHeadModel`` from a config (random weights), in eval mode, default attention (sdpa).

    For ``GPT2_SMALL`` the config equals ``GPT2Config()``.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(n_layer=arch.n_layers, n_embd=arch.d_model, n_head=arch.n_heads, n_inner=arch.d_mlp,
                     n_positions=arch.n_ctx, vocab_size=arch.d_vocab, bos_token_id=arch.d_vocab - 1,
                     eos_token_id=arch.d_vocab - 1)
    return GPT2LMHeadModel(cfg).eval()


def tl_config(arch: Arch = GPT2_SMALL):
    """The same architecture as a TransformerLens config."""
    from transformer_lens import HookedTransformerConfig

    return HookedTransformerConfig(
        n_layers=arch.n_layers, d_model=arch.d_model, n_heads=arch.n_heads, d_head=arch.d_head,
        d_mlp=arch.d_mlp, n_ctx=arch.n_ctx, d_vocab=arch.d_vocab, act_fn="gelu_new",
        normalization_type="LN", device="cpu", seed=0,
    )


def build_tl(arch: Arch = GPT2_SMALL, hf_model: torch.nn.Module | None = None) -> torch.nn.Module:
    """A HookedTransformer; with ``hf_model``, its weights loaded as they are (no folding/centring)."""
    from transformer_lens import HookedTransformer

    cfg = tl_config(arch)
    model = HookedTransformer(cfg).eval()
    if hf_model is not None:
        from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights

        state = convert_gpt2_weights(hf_model, cfg)
        model.load_and_process_state_dict(state, fold_ln=False, center_writing_weights=False,
                                          center_unembed=False, fold_value_biases=False)
    return model


def make_tokens(batch: int = BATCH, seq: int = SEQ, vocab: int = GPT2_SMALL.d_vocab,
                seed: int = 0) -> torch.Tensor:
    """``[batch, seq]`` random token ids."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, seq), generator=g)


# --------------------------------------------------------------------------- methods


def run_hf_plain(model: torch.nn.Module, ids: torch.Tensor) -> None:
    """The plain forward pass."""
    model(ids)


def run_ours(model: torch.nn.Module, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """Forward inside ``iw.capture``; returns the 24 captured tensors."""
    import interpwidgets as iw

    with iw.capture(model, OUR_SITES) as cache:
        model(ids)
    return {name: cache[name] for name in OUR_NAMES}


def run_nnsight(nn_model, ids: torch.Tensor, n_heads: int) -> dict[str, torch.Tensor]:
    """nnsight trace saving each layer's head outputs (c_proj input) and block output, in order."""
    import nnsight

    with nn_model.trace(ids):
        heads = nnsight.save([])
        resid = nnsight.save([])
        for block in nn_model.transformer.h:
            heads.append(block.attn.c_proj.input)
            out = block.output
            resid.append(out[0] if isinstance(out, tuple) else out)  # transformers 5 blocks return a tensor
    saved = {f"layers.{i}.resid_post": t for i, t in enumerate(resid)}
    for i, t in enumerate(heads):
        saved[f"layers.{i}.attn.head_out"] = t.unflatten(-1, (n_heads, -1))
    return saved


def run_tl_plain(tl_model: torch.nn.Module, ids: torch.Tensor) -> None:
    """TransformerLens's own plain forward."""
    tl_model(ids)


def run_tl_cache(tl_model: torch.nn.Module, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """``run_with_cache`` saving the 24 hook points; returned under our site names."""
    _, cache = tl_model.run_with_cache(ids, names_filter=TL_NAMES)
    return {ours: cache[tl] for ours, tl in zip(OUR_NAMES, TL_NAMES, strict=True)}


@dataclass
class Bench:
    """Zero-argument runners per method (all on the same token batch) and the HF model."""

    runners: dict[str, Runner]
    hf: torch.nn.Module | None


def make_bench(arch: Arch = GPT2_SMALL, methods: tuple[str, ...] = METHODS,
               shape: tuple[int, int] = (BATCH, SEQ), tl_weights_from_hf: bool = True) -> Bench:
    """Build the models the given methods need and their runners on one ``shape`` batch of tokens."""
    ids = make_tokens(*shape, vocab=arch.d_vocab)
    runners: dict[str, Runner] = {}
    needs_hf = bool({"hf_plain", "interpwidgets", "nnsight"} & set(methods)) or tl_weights_from_hf
    hf = build_hf(arch) if needs_hf else None
    if "hf_plain" in methods:
        runners["hf_plain"] = lambda: run_hf_plain(hf, ids)
    if "interpwidgets" in methods:
        runners["interpwidgets"] = lambda: run_ours(hf, ids)
    if "nnsight" in methods:
        from nnsight import NNsight

        nn_model = NNsight(copy.deepcopy(hf) if len(methods) > 1 else hf)
        runners["nnsight"] = lambda: run_nnsight(nn_model, ids, arch.n_heads)
    if {"tl_plain", "transformerlens"} & set(methods):
        tl = build_tl(arch, hf if tl_weights_from_hf else None)
        if "tl_plain" in methods:
            runners["tl_plain"] = lambda: run_tl_plain(tl, ids)
        if "transformerlens" in methods:
            runners["transformerlens"] = lambda: run_tl_cache(tl, ids)
    return Bench(runners, hf)


# --------------------------------------------------------------------------- correctness


def _max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in OUR_NAMES)


def check_correctness(runners: dict[str, Runner]) -> dict:
    """Compare nnsight's and TransformerLens's 24 tensors with ours: shapes and values."""
    with torch.no_grad():
        ours = runners["interpwidgets"]()
        out: dict = {"shapes": {k: list(ours[k].shape) for k in OUR_NAMES[:1] + OUR_NAMES[-1:]}}
        for method in ("nnsight", "transformerlens"):
            other = runners[method]()
            same = all(other[k].shape == ours[k].shape for k in OUR_NAMES)
            close = same and all(torch.allclose(ours[k], other[k], rtol=1e-4, atol=1e-4) for k in OUR_NAMES)
            out[method] = {"same_shapes": same, "allclose_1e-4": bool(close),
                           "max_abs_diff": _max_abs_diff(ours, other) if same else float("nan")}
    return out


def check_outputs_unchanged(hf: torch.nn.Module, ids: torch.Tensor) -> bool:
    """True if the logits are bit-identical with and without ``iw.capture`` around the forward."""
    import interpwidgets as iw

    with torch.no_grad():
        plain = hf(ids).logits
        with iw.capture(hf, OUR_SITES):
            captured = hf(ids).logits
    return bool(torch.equal(plain, captured))


# --------------------------------------------------------------------------- timing


def _timed(fn: Runner) -> float:
    t0 = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t0
    del result
    return elapsed


def time_methods(runners: dict[str, Runner], rounds: int = 15, warmup: int = 2,
                 collect_every: int = 1) -> dict[str, list[float]]:
    """Seconds per call for each method over ``rounds`` interleaved rounds in rotating order.

    A full garbage collection runs, outside the timers, before every ``collect_every``-th round (one
    takes ~0.25 s with these libraries loaded); Python's automatic collections stay on, as in real use.
    """
    names = list(runners)
    times: dict[str, list[float]] = {n: [] for n in names}
    with torch.no_grad():
        for _ in range(warmup):
            for n in names:
                _timed(runners[n])
        for r in range(rounds):
            if r % collect_every == 0:
                gc.collect()
            for n in names[r % len(names):] + names[:r % len(names)]:
                times[n].append(_timed(runners[n]))
    return times


def quartiles(xs: list[float]) -> list[float]:
    if len(xs) < 2:
        return [xs[0], xs[0]]
    q = statistics.quantiles(xs, n=4)
    return [q[0], q[2]]


def diffs(a: list[float], b: list[float]) -> list[float]:
    """Same-round differences ``a[r] - b[r]``."""
    return [x - y for x, y in zip(a, b, strict=True)]


def summarise(times: dict[str, list[float]]) -> dict[str, dict]:
    """Median/min seconds and ratios (of medians, of minima, and median of same-round ratios)."""
    base = times["hf_plain"]
    out = {}
    for n, ts in times.items():
        row = {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "times_s": ts,
               "ratio_median": statistics.median(ts) / statistics.median(base),
               "ratio_min": min(ts) / min(base),
               "ratio_paired_median": statistics.median(t / b for t, b in zip(ts, base, strict=True)),
               "ratio_paired_quartiles": quartiles([t / b for t, b in zip(ts, base, strict=True)]),
               "overhead_median_ms": 1e3 * (statistics.median(ts) - statistics.median(base)),
               "overhead_paired_median_ms": 1e3 * statistics.median(diffs(ts, base))}
        if n == "transformerlens" and "tl_plain" in times:
            own = times["tl_plain"]
            row["ratio_vs_tl_plain_median"] = statistics.median(ts) / statistics.median(own)
            row["ratio_vs_tl_plain_min"] = min(ts) / min(own)
            row["ratio_vs_tl_plain_paired_median"] = statistics.median(
                t / b for t, b in zip(ts, own, strict=True))
            row["overhead_vs_tl_plain_median_ms"] = 1e3 * (statistics.median(ts) - statistics.median(own))
            row["overhead_vs_tl_plain_paired_median_ms"] = 1e3 * statistics.median(diffs(ts, own))
        out[n] = row
    return out


# --------------------------------------------------------------------------- memory (a process per method)


def _status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(method: str, repeats: int = 3) -> dict:
    """In a fresh process: build what ``method`` needs, run it ``repeats`` times, report RSS figures.

    The peak is the kernel's high-water mark of this process's own address space (``VmHWM``), not
    ``ru_maxrss``: after ``fork``/``vfork`` + ``exec`` the latter also carries the parent's peak.
    The mark is reset after the build, so ``run_peak_rss_mb`` is the peak during the runs alone.
    """
    torch.set_num_threads(THREADS)
    runners = make_bench(methods=(method,), tl_weights_from_hf=False).runners
    gc.collect()
    build_peak, before = _status_mb("VmHWM"), _status_mb("VmRSS")
    reset = _reset_peak_rss()
    with torch.no_grad():
        for _ in range(repeats):
            result = runners[method]()
            del result
    run_peak = _status_mb("VmHWM")
    return {"peak_rss_mb": max(build_peak, run_peak), "build_peak_rss_mb": build_peak,
            "rss_before_runs_mb": before, "run_peak_rss_mb": run_peak,
            "run_peak_minus_before_mb": run_peak - before if reset else float("nan"),
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_memory(methods: tuple[str, ...] = METHODS, repeats: int = 3) -> dict[str, dict]:
    """Run :func:`memory_child` for each method in its own subprocess (``MALLOC_MMAP_THRESHOLD_=65536``)."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": str(THREADS)}
    out = {}
    for m in methods:
        proc = subprocess.run([sys.executable, __file__, "--memory-child", m, "--repeats", str(repeats)],
                              env=env, capture_output=True, text=True, check=True)
        out[m] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------- entry points


def run(rounds: int = 15, tiny_rounds: int = 300, memory: bool = True) -> dict:
    """The whole capture benchmark: correctness, interleaved timing (GPT-2 small, tiny model), peak memory."""
    torch.set_num_threads(THREADS)
    bench = make_bench()
    result = {
        "setup": {"model": "GPT2LMHeadModel(GPT2Config()) = GPT-2 small, random init (seed 0)",
                  "attn_implementation": bench.hf.config._attn_implementation, "batch": BATCH, "seq": SEQ,
                  "dtype": "float32", "device": "cpu", "threads": torch.get_num_threads(),
                  "tensors_captured": len(OUR_NAMES), "rounds": rounds, "warmup_rounds": 2,
                  "tiny_model": {**asdict(TINY), "batch": TINY_BATCH[0], "seq": TINY_BATCH[1],
                                 "rounds": tiny_rounds, "warmup_rounds": 5},
                  "tl_weights": "HF weights loaded without processing (fold_ln etc. off)",
                  "nnsight_model": "NNsight(copy.deepcopy(hf_model))"},
        "correctness": check_correctness(bench.runners),
    }
    result["correctness"]["logits_unchanged_by_capture"] = check_outputs_unchanged(bench.hf, make_tokens())
    result["timing"] = summarise(time_methods(bench.runners, rounds=rounds))
    del bench
    gc.collect()
    tiny = make_bench(TINY, shape=TINY_BATCH)
    tiny_times = time_methods(tiny.runners, rounds=tiny_rounds, warmup=5, collect_every=50)
    result["timing_tiny"] = summarise(tiny_times)
    del tiny
    if memory:
        gc.collect()
        result["memory"] = measure_memory()
    return result


def markdown(result: dict) -> str:
    """A Markdown table of the timing and memory results."""
    t, mem = result["timing"], result.get("memory", {})
    lines = ["| method | median s | min s | ratio (medians) | ratio (minima) | paired ratio (median) "
             "| peak RSS MB | run peak - RSS before runs MB |",
             "|---|---|---|---|---|---|---|---|"]
    for n, row in t.items():
        m = mem.get(n, {})
        peak, extra = m.get("peak_rss_mb", float("nan")), m.get("run_peak_minus_before_mb", float("nan"))
        lines.append(f"| {n} | {row['median_s']:.3f} | {row['min_s']:.3f} | {row['ratio_median']:.3f}x "
                     f"| {row['ratio_min']:.3f}x | {row['ratio_paired_median']:.3f}x "
                     f"| {peak:.0f} | {extra:.0f} |")
    tl = t.get("transformerlens", {})
    if "ratio_vs_tl_plain_median" in tl:
        lines.append("")
        lines.append(f"TransformerLens run_with_cache vs its own plain forward: "
                     f"{tl['ratio_vs_tl_plain_median']:.3f}x (medians), "
                     f"{tl['ratio_vs_tl_plain_min']:.3f}x (minima), "
                     f"{tl['ratio_vs_tl_plain_paired_median']:.3f}x (paired).")
    return "\n".join(lines)


def markdown_tiny(result: dict) -> str:
    """A Markdown table of the tiny-model timings: each method's fixed per-call cost in milliseconds."""
    t = result["timing_tiny"]
    lines = ["| method | median ms | min ms "
             "| overhead vs own plain forward, ms (median of same-round differences) |", "|---|---|---|---|"]
    for n, row in t.items():
        own = 0.0 if n == "tl_plain" else row.get("overhead_vs_tl_plain_paired_median_ms",
                                                  row["overhead_paired_median_ms"])
        lines.append(f"| {n} | {1e3 * row['median_s']:.2f} | {1e3 * row['min_s']:.2f} | {own:.2f} |")
    return "\n".join(lines)


def main() -> None:
    """CLI: the benchmark, or (``--memory-child METHOD``) one memory measurement printed as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-child", choices=METHODS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.repeats)))
        return
    result = run(rounds=args.rounds)
    print(json.dumps(result["correctness"], indent=1))
    print(markdown(result))
    print(markdown_tiny(result))


if __name__ == "__main__":
    main()
