"""Turning what users hand us (texts, tokenized examples, DataLoaders, tensors) into model batches."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["find_tokenizer", "batches", "call_model", "context_length", "model_device", "texts_or_ids",
           "check_token_ids"]


def find_tokenizer(model, tokenizer=None, required: bool = True):
    """The tokenizer given, or the one saved beside the model's weights (found offline).

    Raises
    ------
    ValueError
        When none can be found, saying to pass ``tokenizer=`` (``required=False``: ``None`` instead, for
        token ids that a tokenizer would only name).
    """
    if tokenizer is not None:
        return tokenizer
    if getattr(model, "tokenizer", None) is not None:  # pipelines and wrappers
        return model.tokenizer
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", "") or getattr(model, "name_or_path", "")
    problem = "the model does not say where it was loaded from"
    if name:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(name, local_files_only=True)
        except Exception as err:  # any failure means: not found offline
            problem = f"loading one from {name!r} failed ({type(err).__name__}: {str(err)[:120]})"
    if not required:
        return None
    raise ValueError(
        f"could not find a tokenizer for {type(model).__name__}: {problem}. "
        f"Pass tokenizer=AutoTokenizer.from_pretrained(...)"
    )


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def texts_or_ids(inputs, what: str = "inputs") -> list:
    """Inputs as a list whose items are texts or lists of token ids.

    Takes a text, a list (or array) of texts, token ids (a list of ints, a 1-D integer tensor or
    array), a list of those, a ``[batch, seq]`` integer tensor (taken as it is, padding included), or a
    tokenizer's output (a dict with ``input_ids`` and ``attention_mask``: padding is dropped by the mask).

    >>> texts_or_ids(torch.tensor([[5, 6], [7, 8]])), texts_or_ids("hi"), texts_or_ids([1, 2])
    ([[5, 6], [7, 8]], ['hi'], [[1, 2]])
    >>> texts_or_ids({"input_ids": [[5, 6, 0]], "attention_mask": [[1, 1, 0]]})
    [[5, 6]]
    """
    def array(x):
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    def ids(x, where):
        if isinstance(x, torch.Tensor | np.ndarray):
            a = array(x)
            if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
                raise TypeError(f"{where} must be a text or token ids (a 1-D integer tensor), got a {a.ndim}-D "
                                f"{a.dtype} array")
            x = a.tolist()
        if isinstance(x, Sequence) and not isinstance(x, str) and all(_is_int(v) for v in x):
            if not len(x):
                raise ValueError(f"{where} has no tokens (an empty list of ids)")
            return [int(v) for v in x]
        kinds = sorted({type(v).__name__ for v in x}) if isinstance(x, Sequence) else [type(x).__name__]
        raise TypeError(f"{where} must be a text or token ids (ints), got {type(x).__name__} of {kinds}")

    if isinstance(inputs, str):
        return [inputs]
    if isinstance(inputs, Mapping):  # a tokenizer's output
        if "input_ids" not in inputs:
            raise TypeError(f"{what} given as a dict must hold input_ids (a tokenizer's output); got keys "
                            f"{sorted(inputs)}")
        rows = array(inputs["input_ids"])
        rows = rows[None] if rows.ndim == 1 else rows
        mask = array(inputs["attention_mask"]).reshape(rows.shape) if "attention_mask" in inputs else None
        return [ids(row if mask is None else row[mask[i].astype(bool)], f"row {i} of {what}")
                for i, row in enumerate(rows)]
    if isinstance(inputs, torch.Tensor | np.ndarray):
        a = array(inputs)
        if a.dtype.kind in "OUS":  # an array of texts (a DataFrame column's values)
            return [x if isinstance(x, str) else ids(x, f"{what}[{i}]") for i, x in enumerate(a.tolist())]
        if a.ndim == 2:
            return [ids(row, f"row {i} of {what}") for i, row in enumerate(a)]
        return [ids(a, what)]
    inputs = list(inputs)
    if inputs and all(_is_int(v) for v in inputs):
        return [[int(v) for v in inputs]]
    return [x if isinstance(x, str) else ids(x, f"{what}[{i}]") for i, x in enumerate(inputs)]


def check_token_ids(model, input_ids) -> None:
    """Raise a clear error when token ids do not fit the model's embedding (e.g. a tokenizer with a larger
    vocabulary than the model), instead of torch's bare ``IndexError: index out of range in self``.
    Models that do not say what their embedding is are not checked."""
    try:
        rows = model.get_input_embeddings().num_embeddings
    except (AttributeError, NotImplementedError, TypeError):  # e.g. CLIPModel, plain modules
        return
    ids = torch.as_tensor(input_ids)
    if not isinstance(rows, int) or ids.numel() == 0:
        return
    top, low = int(ids.max()), int(ids.min())
    if top >= rows or low < 0:
        raise ValueError(f"token id {top if top >= rows else low} is outside {type(model).__name__}'s embedding of "
                         f"{rows} tokens (ids 0..{rows - 1}): are the tokenizer and the ids the model's own?")


def context_length(model, tokenizer=None) -> int | None:
    """The longest input the model takes, from its config (or the tokenizer's limit)."""
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "n_ctx"):
        v = getattr(config, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 1_000_000 else None


def _pad(rows: Sequence[Mapping[str, Sequence[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad tokenized examples; ``attention_mask`` marks the real tokens."""
    n = max(len(r["input_ids"]) for r in rows)
    out: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        out[key] = torch.tensor([list(r[key]) + [fill] * (n - len(r[key])) for r in rows], dtype=torch.long)
    if "attention_mask" not in out:
        out["attention_mask"] = torch.tensor(
            [[1] * len(r["input_ids"]) + [0] * (n - len(r["input_ids"])) for r in rows], dtype=torch.long)
    return out


def _pad_id(tokenizer) -> int:
    for attr in ("pad_token_id", "eos_token_id"):
        v = getattr(tokenizer, attr, None)
        if isinstance(v, int):
            return v
    return 0


def batches(model, data, batch_size: int, tokenizer=None, max_length: int | None = None, keep: str = "first",
            ) -> tuple[Iterator[dict | torch.Tensor], int | None, list[int]]:
    """Batches for ``model`` from ``data``, their count (if known), and a list that counts truncations.

    ``data`` is a list of texts, a list of tokenized examples (dicts with ``input_ids``), a dict of
    columns, a ``datasets.Dataset``, a ``DataLoader`` (batches used as they come), or a tensor of
    inputs (batched along its first axis). Texts longer than ``max_length`` (default: the model's
    context) keep their ``"first"`` or their ``"last"`` tokens.
    """
    if keep not in ("first", "last"):
        raise ValueError(f"keep must be 'first' or 'last', got {keep!r}")
    truncated = [0]
    if isinstance(data, torch.utils.data.DataLoader):
        return iter(data), len(data) if hasattr(data, "__len__") else None, truncated
    if isinstance(data, torch.Tensor):
        n = len(data)
        return (data[i:i + batch_size] for i in range(0, n, batch_size)), math.ceil(n / batch_size), truncated
    if isinstance(data, Mapping):  # columns -> rows
        keys = list(data)
        data = [dict(zip(keys, vals, strict=True)) for vals in zip(*(data[k] for k in keys), strict=True)]
    if not isinstance(data, Sequence) and hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        data = [data[i] for i in range(len(data))]  # a datasets.Dataset
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise TypeError(
            f"collect() takes a list of texts, tokenized examples, a dict of columns, a DataLoader or a "
            f"tensor; got {type(data).__name__}"
        )
    if len(data) == 0:
        raise ValueError("collect() got no examples (an empty list)")
    n_batches = math.ceil(len(data) / batch_size)
    if isinstance(data[0], str):
        tok = find_tokenizer(model, tokenizer)
        limit = max_length or context_length(model, tok)
        special = set(getattr(tok, "all_special_ids", []) or [])

        def text_batches():
            for i in range(0, len(data), batch_size):
                enc = tok(list(data[i:i + batch_size]), add_special_tokens=True)
                rows = [dict(zip(enc.keys(), vals, strict=True)) for vals in zip(*enc.values(), strict=True)]
                if limit:
                    truncated[0] += sum(len(r["input_ids"]) > limit for r in rows)
                    rows = [_truncate(r, limit, keep, special) for r in rows]
                yield _pad(rows, _pad_id(tok))

        return text_batches(), n_batches, truncated
    if isinstance(data[0], Mapping):
        pad_id = _pad_id(tokenizer) if tokenizer is not None else 0
        keep = [k for k in data[0] if k in ("input_ids", "attention_mask", "token_type_ids")]
        return (
            _pad([{k: _as_list(r[k]) for k in keep} for r in data[i:i + batch_size]], pad_id)
            for i in range(0, len(data), batch_size)
        ), n_batches, truncated
    raise TypeError(f"collect() cannot read examples of type {type(data[0]).__name__}")


def _truncate(row: dict, limit: int, keep: str, special: set[int]) -> dict:
    """A tokenized row cut to ``limit`` tokens, keeping its first or its last ones. Keeping the last, the
    leading special tokens ([CLS], BOS) stay in front: the model never saw an input without them."""
    ids = row["input_ids"]
    if len(ids) <= limit:
        return row
    if keep == "first":
        return {k: v[:limit] for k, v in row.items()}
    head = 0
    while head < len(ids) and head < limit - 1 and ids[head] in special:
        head += 1
    tail = limit - head
    return {k: list(v[:head]) + list(v[-tail:]) for k, v in row.items()}


def _as_list(x) -> list[int]:
    return x.tolist() if hasattr(x, "tolist") else list(x)


def call_model(model: nn.Module, batch, device: torch.device | None):
    """Run one batch: dicts as keyword arguments (keys the forward takes), tensors positionally."""
    if isinstance(batch, Mapping):
        params = inspect.signature(model.forward).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        kwargs = {k: v for k, v in batch.items() if (k in params or takes_any) and k != "labels"}
        if isinstance(kwargs.get("input_ids"), torch.Tensor):
            check_token_ids(model, kwargs["input_ids"])
        if device is not None:
            kwargs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        return model(**kwargs)
    if isinstance(batch, list | tuple):
        batch = batch[0]  # (inputs, labels) from a DataLoader
    return model(batch.to(device) if device is not None else batch)


def model_device(model: nn.Module) -> torch.device | None:
    for p in model.parameters():
        return p.device
    return None

