"""The truthful world (ITI): questions with a true answer and a misconception, a GPT that often lies.

Work in progress: ``train.py`` runs, but its first model (5,000 steps) ignores the context (it answers
every question with the misconception, 0.6 against 0.4, whatever was said before), so truth is not
decodable in its heads and no checkpoint ships yet; ``load()`` reads one once ``train.py`` has made it.
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
