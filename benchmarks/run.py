"""Run both benchmarks; write benchmarks/results/{capture,probes}.json and summary.md; print the tables.

Usage: ``make bench`` or ``.venv/bin/python benchmarks/run.py [--rounds 15] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_capture  # noqa: E402
import bench_probes  # noqa: E402
import torch  # noqa: E402

NOISE = 0.05  # GPT-2 small ratio differences below this are not resolved by one run (paired-ratio IQR ~5%)
PACKAGES = ("torch", "transformers", "transformer-lens", "nnsight", "scikit-learn", "numpy", "scipy")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_state() -> dict:
    """The commit benchmarked and whether interpwidgets/ had uncommitted changes."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "interpwidgets_dirty": bool(git("status", "--porcelain",
                                                                                "interpwidgets"))}


def machine_info() -> dict:
    """Versions, threads, CPU and date, recorded with every result file."""
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "versions": versions,
        "malloc_mmap_threshold_env": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
        "git": git_state(),
    }


def write_json(name: str, payload: dict) -> Path:
    """Write ``payload`` as indented JSON under results/."""
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def _header(info: dict) -> str:
    v, g = info["versions"], info["git"]
    parts = [info["date"], info["cpu_model"], f"{info['torch_threads']} torch threads", f"torch {v['torch']}",
             f"transformers {v['transformers']}", f"transformer-lens {v['transformer-lens']}",
             f"nnsight {v['nnsight']}", f"scikit-learn {v['scikit-learn']}",
             f"commit {g['commit'][:10]}"]
    if g["interpwidgets_dirty"]:
        parts[-1] += " + uncommitted edits in interpwidgets/"
    return " · ".join(parts)


def _capture_section(capture: dict) -> list[str]:
    cc, cs = capture["correctness"], capture["setup"]
    tl, ct = cc["transformerlens"], cs["tiny_model"]
    return [
        f"## Capture overhead: GPT-2 small, batch {cs['batch']} x {cs['seq']}, CPU float32, "
        f"HF attention `{cs['attn_implementation']}`, {cs['tensors_captured']} tensors, "
        f"{cs['rounds']} interleaved rounds",
        "",
        "Ratios are against `hf_plain` (the plain forward of the same transformers model).",
        "",
        bench_capture.markdown(capture),
        "",
        f"Fixed per-call cost: the same 12 layers x 12 heads at d_model {ct['d_model']} "
        f"(d_vocab {ct['d_vocab']}), batch {ct['batch']} x {ct['seq']}, {ct['rounds']} interleaved rounds:",
        "",
        bench_capture.markdown_tiny(capture),
        "",
        f"Correctness: nnsight tensors vs ours, max abs diff {cc['nnsight']['max_abs_diff']:.1e}; "
        f"TransformerLens (HF weights loaded unprocessed) allclose at 1e-4: {tl['allclose_1e-4']} "
        f"(max abs diff {tl['max_abs_diff']:.1e}); logits unchanged by capture: "
        f"{cc['logits_unchanged_by_capture']}.",
    ]


def _probes_section(probes: dict) -> list[str]:
    st, pm = probes["setup"], probes["main"]["sklearn_max_iter_1000"]
    gap = pm["objective_rel_gap_ours_minus_sklearn"]
    return [
        f"## Probes: {st['layers'] * st['heads']} logistic probes, {st['n']} examples, "
        f"d_head {st['d_head']}, {st['repeats']} interleaved repeats",
        "",
        bench_probes.markdown(probes),
        "",
        f"Main data vs scikit-learn max_iter=1000: {pm['probes_with_different_accuracy']} of "
        f"{st['layers'] * st['heads']} probes differ in validation accuracy, by at most "
        f"{pm['max_val_examples_apart']} of {round(0.2 * st['n'])} validation examples; relative objective "
        f"gap (ours - sklearn) / sklearn: median {gap['median']:.1e}, max {gap['max']:.1e}, "
        f"min {gap['min']:.1e}. Bayes-optimal mean accuracy "
        f"{100 * probes['main']['bayes_mean_accuracy']:.2f}%.",
    ]


def _below(capture: dict, other: str) -> str:
    t = capture["timing"]
    ours, theirs = t["interpwidgets"]["ratio_median"], t[other]["ratio_median"]
    tiny = capture["timing_tiny"]
    ms_ours, row = tiny["interpwidgets"]["overhead_paired_median_ms"], tiny[other]
    ms_theirs = row.get("overhead_vs_tl_plain_paired_median_ms", row["overhead_paired_median_ms"])
    text = f"{other} {theirs:.3f}x vs ours {ours:.3f}x: {_verdict(ours, theirs)}"
    if other == "transformerlens":
        own = t[other]["ratio_vs_tl_plain_median"]
        text += f"; against its own plain forward {own:.3f}x: {_verdict(ours, own)}"
    fixed = "below" if ms_ours < ms_theirs else "NOT below"
    return f"{text}; fixed per-call cost (tiny model) {ms_theirs:.2f} ms vs ours {ms_ours:.2f} ms: {fixed}"


def _verdict(ours: float, theirs: float) -> str:
    if abs(ours - theirs) < NOISE:
        return f"tie within noise (< {NOISE:.0%} apart)"
    return "below" if ours < theirs else "NOT below"


def _targets(capture: dict, probes: dict) -> list[str]:
    ours = capture["timing"]["interpwidgets"]["ratio_median"]
    pm = probes["main"]["sklearn_max_iter_1000"]
    speedup, acc = pm["speedup_median"], abs(pm["mean_accuracy_diff_points"])
    yes = {True: "met", False: "NOT met"}
    return [
        "## Targets",
        "",
        f"- capture overhead <= 1.15x the plain forward: {ours:.3f}x, {yes[ours <= 1.15]}",
        f"- capture overhead below TransformerLens: {_below(capture, 'transformerlens')}",
        f"- capture overhead below nnsight: {_below(capture, 'nnsight')}",
        f"- probes >= 20x faster than the scikit-learn loop (max_iter=1000): {speedup:.1f}x, "
        f"{yes[speedup >= 20]}",
        f"- mean validation accuracy within 1 point: {acc:.3f} points apart, {yes[acc <= 1]}",
    ]


def summary(capture: dict, probes: dict, info: dict) -> str:
    """The Markdown summary: setup line, both tables, correctness notes, targets."""
    lines = ["# Benchmark summary", "", _header(info), "", *_capture_section(capture), "",
             *_probes_section(probes), "", *_targets(capture, probes), ""]
    return "\n".join(lines)


def reexec_without_malloc_env() -> None:
    """Restart this script without ``MALLOC_MMAP_THRESHOLD_`` if it is set.

    The variable makes every allocation above 64 KiB a fresh ``mmap`` (page faults on each forward),
    which slows the timed forward passes by ~30% and dilutes every ratio. Only the memory
    subprocesses need it, and they set it themselves.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        print("benchmarks/run.py: restarting without MALLOC_MMAP_THRESHOLD_ for the timings "
              "(the memory subprocesses set it themselves)", flush=True)
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def main() -> None:
    """Run everything, write the results, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds for capture")
    parser.add_argument("--tiny-rounds", type=int, default=300, help="timing rounds for the tiny-model run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats for probes")
    args = parser.parse_args()
    reexec_without_malloc_env()
    torch.set_num_threads(bench_capture.THREADS)
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine_info()  # before the runs: the commit benchmarked
    t0 = time.perf_counter()
    capture = bench_capture.run(rounds=args.rounds, tiny_rounds=args.tiny_rounds)
    t1 = time.perf_counter()
    probes = bench_probes.run(repeats=args.repeats)
    t2 = time.perf_counter()
    info["wall_s"] = {"capture": t1 - t0, "probes": t2 - t1}
    write_json("capture.json", {"machine": info, **capture})
    write_json("probes.json", {"machine": info, **probes})
    text = summary(capture, probes, info)
    (RESULTS / "summary.md").write_text(text)
    print(text)
    print(f"wall time: capture {t1 - t0:.0f} s, probes {t2 - t1:.0f} s; results in {RESULTS}")


if __name__ == "__main__":
    main()
