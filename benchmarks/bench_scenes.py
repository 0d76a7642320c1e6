"""SceneProbeView's costs on the scenes world's shipped pipeline: capture over a denoising run, probe
fitting for every layer x step, and the edit.

1. A batch of ``BATCH`` prompts, 15 LMS steps, guidance 7.5: the plain pipeline (``output_type="latent"``,
   then one decode), ``scenes.run`` (every ``attn1`` output at every step through the engine, and each step's
   decoded prediction of the image), and the anchor: the paper's way, one ``register_forward_hook`` per
   ``attn1.to_out`` appending each output to a list (``ModuleHook`` in the paper's code), nothing decoded;
   and the decodes alone (every step's prediction of the batch through the VAE), so that the recording's own
   cost shows apart from them. Interleaved rounds, medians; the peak resident memory of each in a fresh
   process, and the bytes recorded.
2. ``probe_grid`` on ``PROBE_IMAGES`` generated images (7 layers x 15 steps, mask and depth: 210 probes),
   30 epochs as the paper, timed once.
3. ``edit_scene`` on one image (the mask moved, 100 Adam iterations at 4 decoder layers in the first 5 steps)
   against generating the same image again plainly.

Writes ``benchmarks/results/scenes.json`` and ``scenes.md``: ``python benchmarks/bench_scenes.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_capture import time_methods  # noqa: E402
from run import machine_info, write_json  # noqa: E402

BATCH, STEPS, GUIDANCE, PROBE_IMAGES = 16, 15, 7.5, 48


def _prompts(n: int, seed: int = 4242) -> list[str]:
    from interpwidgets.worlds.scenes import dataset

    return dataset(n, seed=seed)["prompts"]


def _methods(pipe, prompts):
    """The three ways to run a batch (module docstring, part 1); each returns the bytes it recorded."""
    from interpwidgets.capture import sites
    from interpwidgets.scenes import run, self_attention_layers

    paths = [s.path for s in sites(pipe, details=True) if s.name in self_attention_layers(pipe)]

    def gens():
        return [torch.Generator().manual_seed(i) for i in range(len(prompts))]

    def plain():
        out = pipe(prompts, num_inference_steps=STEPS, guidance_scale=GUIDANCE, generator=gens(), output_type="latent")
        pipe.vae.decode(out.images / pipe.vae.config.scaling_factor)
        return 0

    def ours():
        r = run(pipe, prompts, steps=STEPS, guidance=GUIDANCE, batch_size=len(prompts))
        return sum(a.numel() * a.element_size() for a in r.activations.values())

    def hooks():
        kept, handles = [], [pipe.unet.get_submodule(p).register_forward_hook(
            lambda m, i, o: kept.append(o.detach())) for p in paths]
        try:
            pipe(prompts, num_inference_steps=STEPS, guidance_scale=GUIDANCE, generator=gens(), output_type="latent")
        finally:
            for h in handles:
                h.remove()
        return sum(o.numel() * o.element_size() for o in kept)

    def decodes():  # what scenes.run adds beside recording: a VAE decode of every step's prediction
        from interpwidgets.scenes.method import _decode

        c, side = pipe.unet.config.in_channels, pipe.unet.config.sample_size
        _decode(pipe, torch.randn(len(prompts) * STEPS, c, side, side, generator=torch.Generator().manual_seed(0)))
        return 0

    return {"plain_pipeline": plain, "scenes_run": ours, "forward_hooks": hooks, "decode_predictions": decodes}


def _peak_rss(method: str) -> float:
    """Peak resident memory (MB) of a fresh process that loads the world and runs ``method`` once."""
    out = subprocess.run([sys.executable, __file__, "--peak", method], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def _run_once(method: str) -> None:
    import resource

    from interpwidgets.worlds import scenes

    pipe, _ = scenes.load()
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        _methods(pipe, _prompts(BATCH))[method]()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def capture_costs(rounds: int) -> dict:
    from interpwidgets.worlds import scenes

    pipe, _ = scenes.load()
    pipe.set_progress_bar_config(disable=True)
    methods = _methods(pipe, _prompts(BATCH))
    with torch.no_grad():
        recorded = {k: f() for k, f in methods.items()}
    times = time_methods(methods, rounds, warmup=1)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"setup": {"batch": BATCH, "steps": STEPS, "guidance": GUIDANCE, "rounds": rounds,
                      "torch_threads": torch.get_num_threads()},
            "median_s": med, "overhead_vs_plain": {k: med[k] / med["plain_pipeline"] - 1 for k in med},
            "recorded_mb": {k: v / 1e6 for k, v in recorded.items()},
            "peak_rss_mb": {k: _peak_rss(k) for k in methods if k != "decode_predictions"}, "times_s": times}


def probe_and_edit_costs() -> dict:
    from interpwidgets.scenes import edit_scene, run
    from interpwidgets.worlds import scenes

    pipe, estimator = scenes.load()
    pipe.set_progress_bar_config(disable=True)
    est = scenes.estimators(estimator)
    t = time.perf_counter()
    r = run(pipe, _prompts(PROBE_IMAGES, seed=99), steps=STEPS, guidance=GUIDANCE)
    generate_s = time.perf_counter() - t
    from interpwidgets.scenes.method import probe_grid
    from interpwidgets.scenes.study import Study, label, split_images

    depth, mask = label(r.images, **est)
    split = split_images(len(r.prompts))
    t = time.perf_counter()
    grid = probe_grid(r, depth, mask, split, progress=False)
    fit_s = time.perf_counter() - t
    s = Study(r, depth, mask, split, grid)
    index = int(split["test"][0])
    plain, edited = [], []
    for _ in range(3):
        t = time.perf_counter()
        run(pipe, [r.prompts[index]], steps=STEPS, guidance=GUIDANCE, seed=r.seeds[index])
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        edit_scene(pipe, s, index, dx=5, **est)
        edited.append(time.perf_counter() - t)
    return {"probe_images": PROBE_IMAGES, "generate_and_record_s": generate_s,
            "probe_grid_s": fit_s, "probes": 2 * len(grid.layers) * grid.steps,
            "regenerate_one_image_s": statistics.median(plain), "edit_one_image_s": statistics.median(edited),
            "edit_detail": "ProbeEdit, 100 Adam iterations per edited step, 4 decoder layers, first 5 steps; "
                           "the edited image then labelled by the estimator"}


def markdown(r: dict) -> str:
    c, p = r["capture"], r["probes_and_edit"]
    lines = [f"**A denoising run** (batch {c['setup']['batch']}, {c['setup']['steps']} LMS steps, guidance "
             f"{c['setup']['guidance']}; medians of {c['setup']['rounds']} interleaved rounds; peak memory of a "
             f"fresh process)", "", "| method | time | vs plain | recorded | peak RSS |", "|---|---|---|---|---|"]
    names = {"plain_pipeline": "the plain pipeline (latents, one decode)",
             "scenes_run": "`scenes.run`: every attn1 output x step, each step's prediction decoded",
             "forward_hooks": "the paper's way: a forward hook per attn1 appending outputs"}
    for k, name in names.items():
        lines.append(f"| {name} | {c['median_s'][k]:.2f} s | {100 * c['overhead_vs_plain'][k]:+.0f}% | "
                     f"{c['recorded_mb'][k]:.1f} MB | {c['peak_rss_mb'][k]:.0f} MB |")
    if len(set(c["peak_rss_mb"].values())) == 1:
        lines += ["", "The three peaks are one: each is the libraries' and the pipeline's loading, above anything "
                  "a run of this size holds; what a run keeps is the recorded column (the hooks keep both "
                  "halves of the guided batch, `scenes.run` the conditional one)."]
    record_only = c["median_s"]["scenes_run"] - c["median_s"]["decode_predictions"]
    lines += ["", f"Of `scenes.run`'s time, {c['median_s']['decode_predictions']:.2f} s is decoding the "
              f"{c['setup']['batch'] * c['setup']['steps']} step predictions (timed alone); recording without "
              f"them would take about {record_only:.2f} s, "
              f"{100 * (record_only / c['median_s']['plain_pipeline'] - 1):+.0f}% against the plain pipeline."]
    lines += ["", "| measure | value |", "|---|---|",
              f"| generating and recording {p['probe_images']} images | {p['generate_and_record_s']:.1f} s |",
              f"| `probe_grid`: {p['probes']} probes (mask and depth, every layer x step), 30 epochs | "
              f"{p['probe_grid_s']:.1f} s |",
              f"| one image generated again, plainly | {p['regenerate_one_image_s']:.2f} s |",
              f"| one image edited (`edit_scene`: the mask moved) | {p['edit_one_image_s']:.2f} s |"]
    return "\n".join(lines)


def write_markdown(result: dict) -> str:
    text = markdown(result)
    info = result["machine"]
    (HERE / "results" / "scenes.md").write_text(f"# SceneProbeView's costs\n\n{info['date']} · {info['cpu_model']} "
                                                f"· {info['torch_threads']} torch threads\n\n{text}\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--peak", help="run one method once in this process and print its peak memory (MB)")
    args = parser.parse_args()
    if args.peak:
        _run_once(args.peak)
        return
    info = machine_info()
    result = {"machine": info, "capture": capture_costs(args.rounds), "probes_and_edit": probe_and_edit_costs()}
    write_json("scenes.json", result)
    print(json.dumps(result["capture"]["median_s"]), "\n", write_markdown(result))


if __name__ == "__main__":
    main()
