"""The personas world's chat LM: a word-level tokenizer with a chat template, and a small GPT-2.

The tokenizer lower-cases and splits words from punctuation, so that any English a user types reaches the
model (words it never saw become ``<unk>``). Its chat template writes a message as ``<role> content <eot>``
and opens the assistant's turn with ``<assistant>``, the way real chat templates do; ``<eot>`` ends a reply.
"""

from __future__ import annotations

import torch

from .data import phrases

__all__ = ["CONFIG", "CHAT_TEMPLATE", "SPECIAL", "build_tokenizer", "build_model", "vocabulary"]

SPECIAL = ["<pad>", "<unk>", "<system>", "<user>", "<assistant>", "<eot>"]
CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} <eot> {% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")
CONFIG = dict(n_layer=6, n_head=4, n_embd=128, n_positions=256, n_inner=512, resid_pdrop=0.0, embd_pdrop=0.0,
              attn_pdrop=0.0, activation_function="gelu_pytorch_tanh")


def _words(text: str) -> list[str]:
    from tokenizers.pre_tokenizers import Whitespace

    return [w for w, _ in Whitespace().pre_tokenize_str(text.lower())]


def vocabulary() -> list[str]:
    """Every word the world's generator writes, after the special tokens."""
    return SPECIAL + sorted({w for t in phrases() for w in _words(t)} - set(SPECIAL))


def build_tokenizer():
    """The world's tokenizer (word-level, built in milliseconds), with its chat template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(vocabulary())}, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces, tidies punctuation
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                        eos_token="<eot>", additional_special_tokens=SPECIAL[2:5])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer, seed: int = 0):
    """A GPT-2 of ``CONFIG`` over the tokenizer's vocabulary, seeded (the caller's random state kept)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                     eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **CONFIG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(cfg)
    model.loss_type = "ForCausalLM"  # transformers finds no loss for this class name and warns at every loss
    return model
