"""The Othello world: a bitboard engine for synthetic games of random legal moves, and Othello-GPT.

``load()`` gives the shipped GPT (an HF ``GPT2LMHeadModel``, 6 layers x 4 heads, width 128, the paper's move
vocabulary), trained by ``train.py`` to name the next move of random legal games; its ``model_card.json``
holds what it was measured to do. ``from_mingpt(torch.load("gpt_synthetic.ckpt"))`` maps the paper's own
checkpoint into the same class.
"""

from __future__ import annotations

from pathlib import Path

from .engine import BLACK, WHITE, Boards, Trace, cells, name, parse_game, random_games, replay, square, squares, trace
from .model import (
    BLOCK_SIZE,
    PAD,
    SQUARE_OF_TOKEN,
    TOKEN_OF_SQUARE,
    VOCAB_SIZE,
    check_vocabulary,
    config,
    encode,
    from_mingpt,
    legal_top1_error,
    next_move_logits,
)

__all__ = ["Boards", "Trace", "square", "name", "squares", "cells", "random_games", "replay", "trace", "parse_game",
           "BLACK", "WHITE", "VOCAB_SIZE", "BLOCK_SIZE", "PAD", "SQUARE_OF_TOKEN", "TOKEN_OF_SQUARE", "encode",
           "config", "check_vocabulary", "from_mingpt", "legal_top1_error", "next_move_logits", "load", "CHECKPOINT",
           "SPLIT_SEEDS"]

CHECKPOINT = Path(__file__).resolve().parent / "checkpoint"
# the seeds of random_games for each split; the GPT trained on games of the seeds [0, step]
SPLIT_SEEDS = {"choose": 1, "test": 2, "probe_fit": 3}


def load(path: str | Path = CHECKPOINT):
    """The shipped Othello-GPT (float32, eval mode); see ``checkpoint/model_card.json``."""
    import torch
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(Path(path), dtype=torch.float32).eval()
    model.loss_type = "ForCausalLM"  # transformers finds no loss for this class name and warns at every loss
    return model
