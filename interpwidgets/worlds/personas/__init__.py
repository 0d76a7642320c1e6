"""The personas world (TalkTuner's user model, and a system model): chats whose wording shows who the user is
and who the assistant plays, and a small chat LM trained on them.

``load()`` gives the shipped GPT-2 (6 layers x 4 heads, width 128; see ``checkpoint/model_card.json``) and its
word-level tokenizer with a chat template; ``conversations(n, seed)`` labelled conversations (the probes' splits
come from ``SPLIT_SEEDS``); ``attribute(name)`` the world's attributes as the dashboard takes them;
``reply_judge()`` the judge that tells, from a reply's words, which value of an attribute it was written for.
"""

from __future__ import annotations

from pathlib import Path

from .data import (
    ATTRIBUTES,
    SPLIT_SEEDS,
    SYSTEM_ATTRIBUTES,
    TOPICS,
    USER_ATTRIBUTES,
    Conversation,
    conversation,
    conversations,
    reply,
)
from .model import CHAT_TEMPLATE, build_model, build_tokenizer

__all__ = ["ATTRIBUTES", "USER_ATTRIBUTES", "SYSTEM_ATTRIBUTES", "TOPICS", "SPLIT_SEEDS", "Conversation",
           "conversation", "conversations", "reply", "attribute", "attributes", "CHAT_TEMPLATE", "build_model",
           "build_tokenizer", "load", "CHECKPOINT"]

CHECKPOINT = Path(__file__).resolve().parent / "checkpoint"


def attribute(name: str):
    """The world's attribute ``name`` as an :class:`interpwidgets.Attribute` (its values, whom it is about)."""
    from ...dashboard.method import Attribute

    if name not in ATTRIBUTES:
        raise ValueError(f"the personas world has no attribute {name!r}: one of {sorted(ATTRIBUTES)}")
    return Attribute(name, ATTRIBUTES[name], "assistant" if name in SYSTEM_ATTRIBUTES else "user")


def attributes() -> list:
    """Every attribute of the world: the user's four, then the assistant's persona."""
    return [attribute(name) for name in ATTRIBUTES]


def load(path: str | Path = CHECKPOINT):
    """The shipped chat LM (float32, eval mode) and its tokenizer."""
    import torch
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    model = GPT2LMHeadModel.from_pretrained(Path(path), dtype=torch.float32).eval()
    model.loss_type = "ForCausalLM"  # transformers finds no loss for this class name and warns at every loss
    return model, PreTrainedTokenizerFast.from_pretrained(Path(path))
