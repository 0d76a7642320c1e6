"""Re-measure a truthful-world checkpoint's model card:
``python -m interpwidgets.worlds.truthful.card CHECKPOINT [--write]``.

Runs :func:`~interpwidgets.worlds.truthful.evaluate.measure` (the world metrics and the whole ITI protocol)
on the checkpoint's fp16 weights, prints the summary, and with ``--write`` puts the measurements in its
``model_card.json`` (the training section is kept).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import load
from .evaluate import measure


def remeasure(checkpoint: Path, write: bool = False) -> dict:
    """The card's measured sections, made again; written into the card when ``write``."""
    model, tokenizer, world = load(checkpoint)
    measured = measure(model, tokenizer, world)
    if write:
        path = Path(checkpoint) / "model_card.json"
        card = json.loads(path.read_text())
        stale = ("metrics_held_out", "iti_held_out", *measured)  # older cards named them differently
        card = {k: v for k, v in card.items() if k not in stale} | measured
        path.write_text(json.dumps(card, indent=1) + "\n")
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="the folder train.py wrote")
    parser.add_argument("--write", action="store_true", help="rewrite model_card.json with the measurements")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(remeasure(args.checkpoint, args.write)["iti"]["summary"], indent=1))


if __name__ == "__main__":
    main()
