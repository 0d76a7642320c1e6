"""The truthful world (ITI): questions with a true answer and a misconception, a GPT that often lies.

Work in progress, no checkpoint ships yet (``load()`` reads one once ``train.py`` has made it). With
120 creatures and 1-6 pairs a document, 5,000 steps learned both answers but not to read the persona
from the context; with the defaults now (40 creatures, 2-7 pairs), 3,000 steps (13 min) did: asked cold
it gives the misconception 98% of the time, after two truthful answers the truth 100%.
"""

from __future__ import annotations

import json
from pathlib import Path

from .data import World, labelled_answers, make_world, qa

__all__ = ["World", "make_world", "qa", "labelled_answers", "load", "CHECKPOINT"]

CHECKPOINT = Path(__file__).resolve().parent / "checkpoint"


def load(path: str | Path = CHECKPOINT):
    """The shipped model (float32, eval mode), its tokenizer and its world (see ``checkpoint/model_card.json``)."""
    import torch
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    path = Path(path)
    card = json.loads((path / "model_card.json").read_text())
    model = GPT2LMHeadModel.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
    return model, tokenizer, make_world(seed=card["world"]["seed"])
