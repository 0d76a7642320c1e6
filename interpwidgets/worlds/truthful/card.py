"""Re-measure truthful-world checkpoints' model cards:
``python -m interpwidgets.worlds.truthful.card CHECKPOINT [CHECKPOINT ...] [--write] [--workers 2]``.

Runs the world metrics and the whole ITI protocol (:mod:`~interpwidgets.worlds.truthful.evaluate`) on each
checkpoint's fp16 weights, prints the summaries, and with ``--write`` puts the measurements in each
``model_card.json`` (the training section is kept). The split seeds of all checkpoints are spread over
worker processes of one torch thread each: the toy model's small matrix products gain little from a second
thread, and a second process doubles the speed on two cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .evaluate import SPLIT_SEEDS, card_sections, iti_protocol, world_metrics


def _job(job: tuple[str, object]) -> object:
    """One piece of a card in a worker: the world metrics (``"metrics"``) or one split seed's protocol run."""
    import torch

    from . import load

    path, what = job
    torch.set_num_threads(1)
    model, tokenizer, world = load(path)
    return world_metrics(model, tokenizer, world) if what == "metrics" else iti_protocol(model, tokenizer, world, what)


def remeasure(checkpoints, workers: int = 2, write: bool = False) -> dict[str, dict]:
    """Every checkpoint's measured card sections (keyed by its path as given), made again now."""
    paths = [str(p) for p in checkpoints]
    jobs = [(p, s) for p in paths for s in SPLIT_SEEDS] + [(p, "metrics") for p in paths]  # the long ones first
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = dict(zip(jobs, pool.map(_job, jobs), strict=True))
    out = {p: card_sections(done[(p, "metrics")], [done[(p, s)] for s in SPLIT_SEEDS]) for p in paths}
    if write:
        for p, measured in out.items():
            path = Path(p) / "model_card.json"
            card = json.loads(path.read_text())
            stale = ("metrics_held_out", "iti_held_out", *measured)  # older cards named them differently
            card = {k: v for k, v in card.items() if k not in stale} | measured
            path.write_text(json.dumps(card, indent=1) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+", help="folders train.py wrote")
    parser.add_argument("--write", action="store_true", help="rewrite each model_card.json with the measurements")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (one torch thread each)")
    args = parser.parse_args()
    for path, measured in remeasure(args.checkpoints, args.workers, args.write).items():
        print(path, json.dumps(measured["iti"]["summary"], indent=1))


if __name__ == "__main__":
    main()
