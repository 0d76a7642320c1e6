"""Othello-GPT as an HF ``GPT2LMHeadModel``: the move vocabulary, the config, and the paper's checkpoint.

The vocabulary is the paper's (Li et al. 2023, ``data/othello.py`` and ``mingpt/dataset.py`` of its code):
token 0 pads, tokens 1 to 60 are the 60 playable squares in increasing order (the four centre squares
never take a move). A game is read as its moves but the last (at most 59 positions): the logits at position
``t``, after the model has read moves ``0..t``, predict move ``t + 1``.

``from_mingpt`` maps the paper's minGPT state dict (``tok_emb``, ``pos_emb``, ``blocks.i.attn.{query,key,
value,proj}``, ``blocks.i.mlp.{0,2}``, ``ln_f``, ``head``) into the same HF class, so every tool of the
package runs on the paper's own model when a user has its file.

Examples
--------
>>> import numpy as np
>>> from interpwidgets.worlds.othello import square
>>> int(TOKEN_OF_SQUARE[square("D3")]), int(SQUARE_OF_TOKEN[20])
(27, 19)
>>> encode(np.array([[19, 18, -1]])).tolist()
[[20, 19, 0]]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

__all__ = ["VOCAB_SIZE", "BLOCK_SIZE", "PAD", "SQUARE_OF_TOKEN", "TOKEN_OF_SQUARE", "encode", "config",
           "from_mingpt", "check_vocabulary"]

VOCAB_SIZE, BLOCK_SIZE, PAD = 61, 59, 0
_CENTRE = (27, 28, 35, 36)
SQUARE_OF_TOKEN = np.array([-1] + [s for s in range(64) if s not in _CENTRE])  # token 0 is padding
TOKEN_OF_SQUARE = np.zeros(64, np.int64)
TOKEN_OF_SQUARE[SQUARE_OF_TOKEN[1:]] = np.arange(1, VOCAB_SIZE)


def encode(games) -> np.ndarray:
    """Square indices (``-1`` after a game's end) to tokens (``0`` there)."""
    games = np.asarray(games).astype(np.int64)
    if (games > 63).any() or (np.isin(games, _CENTRE)).any():
        bad = games[(games > 63) | np.isin(games, _CENTRE)][0]
        raise ValueError(f"square {bad} cannot be a move: moves are squares 0 to 63 but the centre four "
                         f"{list(_CENTRE)}")
    return np.where(games >= 0, TOKEN_OF_SQUARE[np.clip(games, 0, 63)], PAD)


def config(n_layer: int = 8, n_head: int = 8, n_embd: int = 512, **kw):
    """A ``GPT2Config`` of the paper's shape (8 layers x 8 heads, width 512, exact GELU, no dropout, an
    untied head); ``n_*`` and any other field may be changed."""
    from transformers import GPT2Config

    fields = dict(vocab_size=VOCAB_SIZE, n_positions=BLOCK_SIZE, activation_function="gelu", resid_pdrop=0.0,
                  embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=False, bos_token_id=None, eos_token_id=None,
                  pad_token_id=PAD)
    return GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, **{**fields, **kw})


def check_vocabulary(model) -> None:
    """A model that does not read Othello moves is a ValueError that says what it reads instead."""
    cfg = getattr(model, "config", None)
    vocab, positions = getattr(cfg, "vocab_size", None), getattr(cfg, "n_positions", None)
    if vocab != VOCAB_SIZE or (positions is not None and positions < BLOCK_SIZE):
        raise ValueError(f"this model reads {vocab} tokens over {positions} positions; an Othello-GPT reads "
                         f"{VOCAB_SIZE} (padding and the 60 playable squares) over {BLOCK_SIZE} (a game's moves "
                         "but the last): load one with interpwidgets.worlds.othello.load() or from_mingpt()")


def from_mingpt(state: Mapping[str, torch.Tensor], n_head: int = 8):
    """The paper's minGPT checkpoint (its state dict; ``n_head`` is not stored in it) as a
    ``GPT2LMHeadModel`` in eval mode. Missing or unexpected keys are a ValueError naming them (the causal
    mask buffers ``blocks.*.attn.mask`` may be there or not)."""
    from transformers import GPT2LMHeadModel

    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel
    if "tok_emb.weight" not in state or "pos_emb" not in state:
        raise ValueError("not a minGPT Othello state dict: it has no tok_emb.weight / pos_emb (keys: "
                         f"{sorted(state)[:6]}...)")
    n_layer = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("blocks.")), default=-1)
    vocab, n_embd = state["tok_emb.weight"].shape
    used = {"tok_emb.weight", "pos_emb", "ln_f.weight", "ln_f.bias", "head.weight"}
    for i in range(n_layer):
        b = f"blocks.{i}."
        used |= {b + s for s in ("ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias")}
        used |= {b + f"attn.{n}.{p}" for n in ("query", "key", "value", "proj") for p in ("weight", "bias")}
        used |= {b + f"mlp.{j}.{p}" for j in (0, 2) for p in ("weight", "bias")}
    missing, extra = sorted(used - set(state)), sorted(set(state) - used - {f"blocks.{i}.attn.mask" for i in
                                                                             range(n_layer)})
    if n_layer < 1 or missing or extra:
        raise ValueError(f"not the layout of a minGPT Othello model ({n_layer} blocks): missing {missing[:8]}, keys it "
                         f"does not have {extra[:8]}")
    if vocab != VOCAB_SIZE:
        raise ValueError(f"this minGPT reads {vocab} tokens, not the {VOCAB_SIZE} of Othello moves")
    model = GPT2LMHeadModel(config(n_layer, n_head, n_embd, n_positions=state["pos_emb"].shape[1]))
    out = {"transformer.wte.weight": state["tok_emb.weight"], "transformer.wpe.weight": state["pos_emb"][0],
           "transformer.ln_f.weight": state["ln_f.weight"], "transformer.ln_f.bias": state["ln_f.bias"],
           "lm_head.weight": state["head.weight"]}
    for i in range(n_layer):
        b, h = f"blocks.{i}.", f"transformer.h.{i}."
        for ln_mingpt, ln_hf in (("ln1", "ln_1"), ("ln2", "ln_2")):
            for p in ("weight", "bias"):
                out[h + f"{ln_hf}.{p}"] = state[b + f"{ln_mingpt}.{p}"]
        # HF's Conv1D stores [in, out] (nn.Linear's transpose); c_attn is query, key, value side by side
        out[h + "attn.c_attn.weight"] = torch.cat([state[b + f"attn.{n}.weight"] for n in ("query", "key", "value")]).T
        out[h + "attn.c_attn.bias"] = torch.cat([state[b + f"attn.{n}.bias"] for n in ("query", "key", "value")])
        out[h + "attn.c_proj.weight"] = state[b + "attn.proj.weight"].T
        out[h + "attn.c_proj.bias"] = state[b + "attn.proj.bias"]
        out[h + "mlp.c_fc.weight"] = state[b + "mlp.0.weight"].T
        out[h + "mlp.c_fc.bias"] = state[b + "mlp.0.bias"]
        out[h + "mlp.c_proj.weight"] = state[b + "mlp.2.weight"].T
        out[h + "mlp.c_proj.bias"] = state[b + "mlp.2.bias"]
    missing = model.load_state_dict({k: v.float().contiguous() for k, v in out.items()}, strict=False)
    absent = [k for k in missing.missing_keys if not k.endswith(".attn.bias") and not k.endswith("masked_bias")]
    if absent or missing.unexpected_keys:
        raise ValueError(f"could not map the minGPT weights: missing {absent}, unexpected {missing.unexpected_keys}")
    model.loss_type = "ForCausalLM"
    return model.eval()


@torch.no_grad()
def next_move_logits(model, games, batch_size: int = 256) -> torch.Tensor:
    """``float32 [n, 59, 64]``: the model's logits for the next move over the 64 squares after each prefix of
    ``games`` (``-inf`` on the centre four, which no token names). Positions past a game's end are padding."""
    check_vocabulary(model)
    tokens = torch.from_numpy(encode(np.asarray(games)[:, :BLOCK_SIZE]))
    device = next(model.parameters()).device
    out = torch.full((len(tokens), tokens.shape[1], 64), float("-inf"))
    for i in range(0, len(tokens), batch_size):
        logits = model(input_ids=tokens[i:i + batch_size].to(device)).logits.float().cpu()
        out[i:i + batch_size, :, SQUARE_OF_TOKEN[1:]] = logits[..., 1:]
    return out


def legal_top1_error(model, games, batch_size: int = 256) -> tuple[float, np.ndarray]:
    """The share of positions where the model's top next move is not legal, over every position of
    ``games`` that has a next move; and the per-game shares (for intervals over games)."""
    from .engine import trace

    games = np.asarray(games)
    if games.ndim != 2 or games.shape[1] != 60:
        raise ValueError(f"games must be [n, 60] square indices (-1 after a game's end), not of shape {games.shape}")
    legal = trace(games).legal_mask()[:, 1:BLOCK_SIZE + 1]  # after move t (index t + 1) comes move t + 1
    top = next_move_logits(model, games, batch_size).argmax(-1).numpy()
    ok = np.take_along_axis(legal, top[..., None], -1)[..., 0]
    has_next = games[:, 1:BLOCK_SIZE + 1] >= 0
    wrong = (~ok & has_next).sum(1)
    return float(wrong.sum() / has_next.sum()), wrong / np.maximum(has_next.sum(1), 1)
