"""Conversations as the model reads them: the chat template, the reading probe's phrase, and truncation to
the model's context (from the start, as a chat that outgrows its window must)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..capture.inputs import context_length

__all__ = ["check_messages", "chat_text", "prompt_ids", "READ_USER", "READ_ASSISTANT"]

READ_USER = "I think the {attribute} of this user is"  # TalkTuner's reading prompt
READ_ASSISTANT = "I think the {attribute} of this assistant is"  # the same, for the system model
ROLES = ("system", "user", "assistant")


def check_messages(messages) -> list[dict[str, str]]:
    """``messages`` as a list of ``{"role", "content"}`` dicts, or a ``ValueError`` that says what is wrong."""
    if isinstance(messages, str) or not isinstance(messages, Sequence) or not messages:
        raise ValueError("a conversation is a non-empty list of {'role': ..., 'content': ...} messages, "
                         f"got {type(messages).__name__}")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} must be {{'role': one of {ROLES}, 'content': a string}}, got {m!r}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _template(tokenizer) -> None:
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{type(tokenizer).__name__} has no chat template: the dashboard reads conversations as "
                         "the model sees them. Set tokenizer.chat_template (a Jinja string, as in the model's "
                         "tokenizer_config.json) or use a chat model's tokenizer")


def chat_text(tokenizer, messages, reading: str | None = None, reply: str = "") -> str:
    """The conversation as the model reads it, the assistant's turn opened (what a reply is generated after:
    the control probe's last token), followed by ``reply`` (a reply written so far) and the reading probe's
    ``reading`` phrase, if given (TalkTuner appends it right after the turn's opening)."""
    _template(tokenizer)
    text = tokenizer.apply_chat_template(check_messages(messages), tokenize=False, add_generation_prompt=True)
    for part in (reply, reading):
        if part:
            text += part if not text or text[-1].isspace() else " " + part
    return text


def prompt_ids(model, tokenizer, messages, max_new_tokens: int = 0, reply: str = "") -> tuple[torch.Tensor, int]:
    """Token ids ``[1, seq]`` of ``chat_text(messages)`` (plus ``reply``), and how many tokens were cut from the
    start so that the prompt and ``max_new_tokens`` fit the model's context (0: none)."""
    text = chat_text(tokenizer, messages, reply=reply)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    limit = context_length(model, tokenizer)
    if limit is not None and ids.shape[1] + max_new_tokens > limit:
        keep = limit - max_new_tokens
        if keep < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens} leaves no room for the prompt in the model's "
                             f"context of {limit} tokens")
        return ids[:, -keep:], ids.shape[1] - keep
    return ids, 0
