"""collect(): run a model over a dataset and gather activations at sites, under a memory budget."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .hooks import capture
from .inputs import batches, call_model, model_device
from .sites import glob_regex, resolve_sites, root_module

__all__ = ["collect", "ActivationStore"]

Positions = str | int | Callable[[torch.Tensor, int], "list[int]"] | None

_NUMPY = {torch.float32: np.float32, torch.float16: np.float16, torch.float64: np.float64,
          torch.bfloat16: np.int16, torch.int64: np.int64, torch.int32: np.int32}


def _parse_bytes(x: int | str | None) -> float:
    if x is None:
        return float("inf")
    if isinstance(x, int | float):
        return float(x)
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)i?b?\s*", x.lower())
    if not m:
        raise ValueError(f"max_memory must be a number of bytes or a string like '2GB', got {x!r}")
    return float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " ")


class ActivationStore(Mapping):
    """Activations gathered by :func:`collect`: one ``[rows, *features]`` tensor per site.

    ``index`` holds, for every row, the example it came from and the token position (counted over
    that example's real tokens). When the collection outgrew its memory budget the tensors live on
    disk as memory-mapped files and are read lazily, page by page, as they are used.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], index: torch.Tensor, directory: Path | None = None):
        self._tensors = tensors
        self.index = index
        self.directory = directory

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(f"{name!r} was not collected; collected: {list(self._tensors)[:8]}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    @property
    def rows(self) -> int:
        return len(self.index)

    @property
    def spilled(self) -> bool:
        """Whether the tensors were written to disk (memory-mapped)."""
        return self.directory is not None

    def stack(self, pattern: str) -> torch.Tensor:
        """Stack the sites matching a glob on a new axis 1: ``[rows, n_sites, *features]``."""
        rx = glob_regex(pattern)
        names = [n for n in self if rx.match(n)]
        if not names:
            raise KeyError(f"no collected site matches {pattern!r}")
        return torch.stack([self[n] for n in names], dim=1)

    def __repr__(self) -> str:
        where = f"memory-mapped in {self.directory}" if self.spilled else "in memory"
        first = next(iter(self._tensors.values()), None)
        shape = tuple(first.shape) if first is not None else ()
        return f"ActivationStore({len(self)} sites, {self.rows} rows, first {shape}, {where})"


class _Sink:
    """Accumulates rows per site in memory, then on disk once the budget is passed."""

    def __init__(self, budget: float, directory: str | Path | None, dtype: torch.dtype):
        self.budget, self.dtype = budget, dtype
        self.parts: dict[str, list[torch.Tensor]] = {}
        self.files: dict[str, object] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.rows: dict[str, int] = {}
        self.bytes = 0
        self._dir_arg = directory
        self.directory: Path | None = None

    def add(self, name: str, rows: torch.Tensor) -> None:
        rows = rows.detach().to("cpu", self.dtype).contiguous()
        shape = tuple(rows.shape[1:])
        if self.shapes.setdefault(name, shape) != shape:
            raise ValueError(f"site {name!r}: rows of shape {shape} after rows of shape {self.shapes[name]}; "
                             f"use positions='last' / 'all' for inputs of varying length")
        self.rows[name] = self.rows.get(name, 0) + len(rows)
        if self.directory is None:
            self.parts.setdefault(name, []).append(rows)
            self.bytes += rows.numel() * rows.element_size()
            if self.bytes > self.budget:
                self._spill()
        else:
            self._write(name, rows)

    def _spill(self) -> None:
        if self._dir_arg is not None:
            self.directory = Path(self._dir_arg)
            self.directory.mkdir(parents=True, exist_ok=True)
        else:
            self.directory = Path(tempfile.mkdtemp(prefix="iw-collect-"))
        for name, parts in self.parts.items():
            for p in parts:
                self._write(name, p)
        self.parts.clear()

    def _write(self, name: str, rows: torch.Tensor) -> None:
        if name not in self.files:
            self.files[name] = open(self.directory / f"{_file_name(name)}.bin", "wb")
        view = rows.view(torch.int16) if rows.dtype == torch.bfloat16 else rows
        self.files[name].write(view.numpy().tobytes())

    def abort(self) -> None:
        """A batch failed: close and delete every file written (and our own temporary folder)."""
        for f in self.files.values():
            f.close()
            Path(f.name).unlink(missing_ok=True)
        self.files.clear()
        self.parts.clear()
        if self.directory is not None and self._dir_arg is None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def finish(self, index: torch.Tensor) -> ActivationStore:
        if self.directory is None:
            return ActivationStore({n: torch.cat(p) for n, p in self.parts.items()}, index)
        tensors = {}
        meta = {}
        for name, f in self.files.items():
            f.close()
            shape = (self.rows[name], *self.shapes[name])
            arr = np.memmap(f.name, dtype=_NUMPY[self.dtype], mode="c", shape=shape)
            t = torch.from_numpy(arr)
            tensors[name] = t.view(torch.bfloat16) if self.dtype == torch.bfloat16 else t
            meta[name] = {"file": Path(f.name).name, "shape": list(shape), "dtype": str(self.dtype)}
        (self.directory / "index.json").write_text(json.dumps(meta, indent=1))
        store = ActivationStore(tensors, index, self.directory)
        if self._dir_arg is None:  # our own temporary folder goes when the store does
            weakref.finalize(store, shutil.rmtree, self.directory, True)
        return store


def _file_name(site: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", site)


def _real_positions(mask: torch.Tensor, positions: Positions, batch, b: int, seq: int,
                    ) -> list[tuple[int, list[int], list[int]]]:
    """Per example of the batch: (row in batch, padded positions, positions among real tokens)."""
    out = []
    for i in range(b):
        real = torch.nonzero(mask[i]).flatten().tolist() if mask is not None else list(range(seq))
        n = len(real)
        if positions == "last":
            chosen = [n - 1]
        elif positions == "all":
            chosen = list(range(n))
        elif isinstance(positions, int):
            chosen = [positions % n] if -n <= positions < n else []
        elif callable(positions):
            ids = batch["input_ids"][i][real] if isinstance(batch, Mapping) and "input_ids" in batch else None
            chosen = [p % n for p in positions(ids, i) if -n <= p < n]
        else:
            raise ValueError(f"positions must be 'last', 'all', an int, a callable or None, got {positions!r}")
        out.append((i, [real[p] for p in chosen], chosen))
    return out


def collect(model, data, sites, *, tokenizer=None, batch_size: int = 8, positions: Positions = "last",
            max_length: int | None = None, max_memory: int | str | None = "2GB",
            spill_dir: str | Path | None = None, dtype: torch.dtype = torch.float32,
            progress: bool = True) -> ActivationStore:
    """Run ``model`` over a dataset and gather the activations at ``sites``.

    Parameters
    ----------
    model
        A ``torch.nn.Module`` (a transformers model for text inputs).
    data
        A list of texts (tokenized with ``tokenizer``, found from the model if not given), a list of
        tokenized examples or a dict of columns (``input_ids``, ``attention_mask``), a
        ``datasets.Dataset``, a ``DataLoader``, or a tensor of inputs.
    sites
        Site names or globs (see :func:`interpwidgets.sites`); ``attn.pattern`` is not per-token and
        is gathered with :func:`interpwidgets.capture` instead.
    batch_size
        Examples per forward pass (a DataLoader keeps its own batches).
    positions
        Which tokens of each example give rows: ``"last"`` (the last real token), ``"all"`` (every
        real token), an ``int`` (``0`` for ``[CLS]``, negative from the end), a function
        ``fn(input_ids_of_real_tokens, example_index) -> list[int]``, or ``None`` for whole
        per-example activations. Positions count real tokens only: padding is never gathered.
    max_length
        Truncate longer texts (default: the model's context length); truncations are reported. With
        ``positions="last"`` (or a negative int) a text keeps its last tokens (after its leading special
        tokens, such as [CLS]), so the row is the text's own last token; otherwise it keeps its first tokens.
    max_memory
        Past this many bytes (``"2GB"``) everything goes to memory-mapped files in ``spill_dir``
        (a temporary folder by default, removed with the store) and is read back lazily.
    dtype
        Storage dtype of the rows.
    progress
        Show a progress bar.

    Returns
    -------
    ActivationStore
        ``store[site]`` is ``[rows, *features]``; ``store.index[r]`` is (example, position).

    Examples
    --------
    >>> import torch, interpwidgets as iw
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4)).eval()
    >>> data = {"input_ids": [[1, 2, 3], [4, 5]]}
    >>> store = iw.collect(model, data, "layers.*.resid_post", positions="last", progress=False)
    >>> store["layers.1.resid_post"].shape
    torch.Size([2, 64])
    """
    resolved = resolve_sites(model, sites)
    for s in resolved:
        if s.kind == "pattern":
            raise ValueError(f"{s.name!r}: collect() gathers per-token activations and an attention pattern "
                             f"has a key axis that varies by example; use iw.capture for patterns")
    from_end = positions == "last" or (isinstance(positions, int) and positions < 0)
    it, total, truncated = batches(model, data, batch_size, tokenizer, max_length, keep="last" if from_end else "first")
    sink = _Sink(_parse_bytes(max_memory), spill_dir, dtype)
    index_parts: list[torch.Tensor] = []
    bar = tqdm(it, total=total, desc="collect", unit="batch", disable=not progress)
    try:
        _gather(model, resolved, bar, sink, index_parts, positions)
    except BaseException:
        sink.abort()
        raise
    if truncated[0]:
        kept = "last" if from_end else "first"
        warnings.warn(f"collect: {truncated[0]} example(s) were longer than the model's context and were "
                      f"truncated (max_length), keeping their {kept} tokens", stacklevel=2)
    return sink.finish(torch.cat(index_parts))


def _gather(model, resolved, bar, sink: _Sink, index_parts: list, positions: Positions) -> None:
    """Run every batch and hand the chosen rows of each site to the sink (and their index to ``index_parts``)."""
    root = root_module(model)
    device = model_device(root)
    seen = 0
    with capture(model, [s.name for s in resolved]) as cache, torch.no_grad():
        for batch in bar:
            cache.clear()
            call_model(root, batch, device)
            mask = batch.get("attention_mask") if isinstance(batch, Mapping) else None
            b = _batch_size(batch)
            if positions is None:
                for s in resolved:
                    sink.add(s.name, cache[s.name])
                index_parts.append(torch.stack([torch.arange(seen, seen + b), torch.zeros(b, dtype=torch.long)], 1))
            else:
                for j, s in enumerate(resolved):
                    t = cache[s.name]
                    if t.ndim < 3:
                        raise ValueError(f"site {s.name!r} gives {tuple(t.shape)}: no sequence axis to pick "
                                         f"positions from; pass positions=None")
                    picks = _real_positions(_mask_for(s.name, mask, batch, t), positions, batch, b, t.shape[1])
                    sink.add(s.name, torch.cat([t[i, padded] for i, padded, _ in picks]))
                    if j == 0:  # the index follows the first site
                        index_parts.append(torch.tensor(
                            [(seen + i, r) for i, _, real in picks for r in real], dtype=torch.long).reshape(-1, 2))
            seen += b
            bar.set_postfix(rows=sum(len(p) for p in index_parts), mb=f"{sink.bytes / 1e6:.0f}",
                            disk=sink.directory is not None, refresh=False)


def _batch_size(batch) -> int:
    if isinstance(batch, Mapping):
        return len(next(iter(batch.values())))
    if isinstance(batch, list | tuple):
        return len(batch[0])
    return len(batch)


def _mask_for(site: str, mask, batch, t: torch.Tensor):
    """The padding mask that matches a site's sequence axis (decoder sites of an encoder-decoder differ).

    A site whose sequence is not the mask's (a model that adds or drops tokens) cannot tell padding from
    tokens: that is an error when the batch is padded, and harmless when it is not.
    """
    if site.startswith("decoder.") and isinstance(batch, Mapping):
        mask = batch.get("decoder_attention_mask")
    if mask is not None and mask.shape[1] != t.shape[1]:
        if bool(mask.all()):
            return None
        raise ValueError(f"site {site!r} has {t.shape[1]} positions but the attention mask has {mask.shape[1]}, "
                         f"and the batch is padded: the padding cannot be told from the tokens. Collect with "
                         f"batch_size=1 (no padding) or positions=None (whole activations)")
    return mask
