"""The truthful world (ITI): questions with a true answer and a misconception, a GPT that often lies.

``load()`` gives the shipped GPT (4 layers x 8 heads, trained by ``train.py`` in 35 minutes on one CPU
thread), its tokenizer and its world; ``load(CHECKPOINT_SEED1)`` and ``load(CHECKPOINT_SEED2)`` two more
worlds and GPTs trained by the same recipe from other seeds. Each ``model_card.json`` holds what its model
was measured to do: its answers asked cold and after truthful or untruthful answers (whether it reads the
persona from the context), and what ITI does to it under the protocol of
:mod:`~interpwidgets.worlds.truthful.evaluate` (settings chosen on one split of the questions, results with
bootstrap intervals on another, direction kinds compared at matched cost).
"""

from __future__ import annotations

import json
from pathlib import Path

from .data import ANSWER_END, Split, World, answer_judge, labelled_answers, make_world, qa
from .evaluate import fit_iti, iti_protocol, judge, truth_rate

__all__ = ["World", "Split", "make_world", "qa", "labelled_answers", "answer_judge", "ANSWER_END", "load",
           "fit_iti", "iti_protocol", "judge", "truth_rate", "CHECKPOINT", "CHECKPOINT_SEED1", "CHECKPOINT_SEED2"]

CHECKPOINT = Path(__file__).resolve().parent / "checkpoint"
CHECKPOINT_SEED1 = Path(__file__).resolve().parent / "checkpoint_seed1"
CHECKPOINT_SEED2 = Path(__file__).resolve().parent / "checkpoint_seed2"


def load(path: str | Path = CHECKPOINT):
    """The shipped model (float32, eval mode), its tokenizer and its world (see ``checkpoint/model_card.json``)."""
    import torch
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    path = Path(path)
    card = json.loads((path / "model_card.json").read_text())
    model = GPT2LMHeadModel.from_pretrained(path, dtype=torch.float32).eval()
    model.loss_type = "ForCausalLM"  # transformers finds no loss for this class name and warns at every loss
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
    return model, tokenizer, make_world(seed=card["world"]["seed"],
                                        truthful_share=card["world"]["truthful_share_of_documents"])
