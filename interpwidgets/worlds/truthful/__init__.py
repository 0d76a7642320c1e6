"""The truthful world (ITI): questions with a true answer and a misconception, a GPT that often lies.

``load()`` gives the shipped GPT (4 layers x 8 heads, trained by ``train.py`` in 35 minutes on one CPU
thread), its tokenizer and its world; ``checkpoint/model_card.json`` holds what it reached on the
held-out questions: asked cold it gives the misconception every time, after two truthful answers the
truth every time, and ITI (``fit_iti``, ``iti_curves``) turns its answers true with the mass-mean
direction, less with probe weights, not at all with random directions, at a cost that grows with alpha.
"""

from __future__ import annotations

import json
from pathlib import Path

from .data import World, labelled_answers, make_world, qa
from .evaluate import fit_iti, iti_curves

__all__ = ["World", "make_world", "qa", "labelled_answers", "load", "fit_iti", "iti_curves", "CHECKPOINT"]

CHECKPOINT = Path(__file__).resolve().parent / "checkpoint"


def load(path: str | Path = CHECKPOINT):
    """The shipped model (float32, eval mode), its tokenizer and its world (see ``checkpoint/model_card.json``)."""
    import torch
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    path = Path(path)
    card = json.loads((path / "model_card.json").read_text())
    model = GPT2LMHeadModel.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
    return model, tokenizer, make_world(seed=card["world"]["seed"],
                                        truthful_share=card["world"]["truthful_share_of_documents"])
