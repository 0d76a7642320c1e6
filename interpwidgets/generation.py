"""Greedy generation one token at a time, for widgets that show a reply as it is written.

``stream(model, ids, ...)`` calls ``on_tokens(tokens)`` after every new token (the decoded pieces so far,
spaces kept: each piece is the growth of the whole decoded text), calls ``check()`` before each (a widget's
``run.check``: raising there stops the generation), and ends at a stop string, the end-of-sequence token or
``max_new_tokens``. The interventions of any ``iw.intervene`` context open around it apply, as to any forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["stream"]


class _Done(Exception):
    """A stop string was reached: generation ends there."""


def stream(model, ids: torch.Tensor, *, tokenizer=None, max_new_tokens: int = 32, stop: Sequence[str] = (),
           on_tokens: Callable[[list[str]], None] | None = None, check: Callable[[], None] | None = None,
           skip_special_tokens: bool = False, **generate_kwargs) -> list[str]:
    """The decoded pieces of a greedy continuation of ``ids`` (``[1, seq]``); see the module's docstring.

    Without a tokenizer the pieces are the token ids, each after a space; ``skip_special_tokens`` leaves the
    tokenizer's special tokens (a chat template's end of turn) out of the text.

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> from interpwidgets.generation import stream
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=20)).eval()
    >>> seen = []
    >>> pieces = stream(model, torch.tensor([[1, 2, 3]]), max_new_tokens=3, on_tokens=seen.append)
    >>> len(pieces), len(seen), seen[-1] == pieces
    (3, 3, True)
    """
    def decode(tokens: list[int]) -> str:
        if tokenizer is None:
            return "".join(f" {i}" for i in tokens)
        return tokenizer.decode(tokens, skip_special_tokens=skip_special_tokens)

    class Streamer:  # transformers calls put() with the prompt first, then each new token
        def __init__(self):
            self.ids: list[int] | None = None
            self.pieces: list[str] = []
            self.text = self.prompt = ""

        def put(self, value):
            if self.ids is None:
                self.ids = value.reshape(-1).tolist()
                self.text = self.prompt = decode(self.ids)
                return
            if check is not None:
                check()
            self.ids = self.ids + value.reshape(-1).tolist()
            text = decode(self.ids)  # the whole text, so that the spaces between tokens are kept
            self.pieces = [*self.pieces, text[len(self.text):]]
            self.text = text
            if on_tokens is not None:
                on_tokens(self.pieces)
            if any(s in text[len(self.prompt):] for s in stop):
                raise _Done

        def end(self):
            pass

    if check is not None:
        check()
    streamer = Streamer()
    pad = getattr(tokenizer, "pad_token_id", None)
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer,
                  pad_token_id=pad if pad is not None else 0, attention_mask=torch.ones_like(ids)) | generate_kwargs
    with torch.no_grad():
        try:
            model.generate(ids, **kwargs)
        except _Done:
            pass
    return streamer.pieces
