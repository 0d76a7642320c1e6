"""Joint 2-D / 3-D projections of a head's queries and keys (PCA, t-SNE, UMAP), cached on disk.

A projection is keyed by the bytes of the points it was computed from and its settings, so the key
covers the model, the data and the normalization without naming them: reopening a view is instant.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..cache_dir import cache_dir
from .method import QKData, normalize_qk

__all__ = ["METHODS", "project", "head_points", "ProjectionCache", "project_heads"]

METHODS = ("pca", "tsne", "umap")
_VERSION = "1"  # bump when a method's settings change, so old cached layouts are not reused
_EXACT_KNN = 20_000  # exact neighbours (one matrix product) up to this many points; approximate beyond


def head_points(data: QKData, layer: int, head: int, normalize: str | None = "norms") -> torch.Tensor:
    """One head's queries then keys, ``[2n, d_head]``, normalized (see :func:`normalize_qk`)."""
    q, k = normalize_qk(data.q[layer, head], data.k[layer, head], normalize)
    return torch.cat([q, k])


def project(points: torch.Tensor | np.ndarray, method: str = "pca", dim: int = 2, seed: int = 0) -> np.ndarray:
    """Project ``[n, d]`` points to ``[n, dim]`` with PCA, t-SNE (openTSNE) or UMAP (umap-learn).

    Degenerate inputs (fewer than 4 points, or all points equal) give zeros rather than NaN, and
    t-SNE / UMAP fall back to PCA when there are too few points for a neighbourhood.

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.attention.projection import project
    >>> x = torch.randn(100, 8) * torch.tensor([5.0, 1, 1, 1, 1, 1, 1, 1])
    >>> y = project(x, "pca")
    >>> y.shape, bool(y[:, 0].std() > y[:, 1].std())
    ((100, 2), True)
    """
    if method not in METHODS:
        raise ValueError(f"projection must be one of {METHODS}, got {method!r}")
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim}")
    x = torch.as_tensor(points).float()
    if not torch.isfinite(x).all():
        raise ValueError("the points contain NaN or infinite values")
    n = x.shape[0]
    spread = (x - x.mean(0)).abs().max() if n else torch.tensor(0.0)
    if n < 4 or spread <= 1e-7 * max(1.0, x.abs().max().item()):
        return np.zeros((n, dim), np.float32)
    if method == "pca" or n < 16:
        return _pca(x, dim)
    if method == "tsne":
        return _tsne(x.numpy(), dim, seed)
    return _umap(x, dim, seed)


def _pca(x: torch.Tensor, dim: int) -> np.ndarray:
    x = x.double() - x.double().mean(0)
    _, s, vt = torch.linalg.svd(x, full_matrices=False)
    vt = vt[:dim]
    vt = vt * torch.sign(vt[torch.arange(len(vt)), vt.abs().argmax(1)])[:, None]  # deterministic signs
    y = x @ vt.T
    if y.shape[1] < dim:  # fewer dimensions than asked: pad with zeros
        y = torch.cat([y, y.new_zeros(len(y), dim - y.shape[1])], 1)
    return y.float().numpy()


def _neighbours(x: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self first), in row blocks so memory stays small."""
    idx, dist = [], []
    sq = x.pow(2).sum(1)
    for start in range(0, len(x), 2048):
        block = x[start:start + 2048]
        d2 = (sq[start:start + 2048, None] + sq[None] - 2 * block @ x.T).clamp_min(0)
        d2[torch.arange(len(block)), torch.arange(start, start + len(block))] = -1  # self first
        v, i = d2.topk(k, largest=False)
        idx.append(i)
        dist.append(v.clamp_min(0).sqrt())
    return torch.cat(idx).numpy(), torch.cat(dist).numpy()


def _require(module: str, method: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{method} projections need the package {module!r}: pip install 'interpwidgets[projections]' "
                          f"(PCA works without it)") from None


def _tsne(x: np.ndarray, dim: int, seed: int) -> np.ndarray:
    open_tsne = _require("openTSNE", "t-SNE")
    TSNEEmbedding, affinity, initialization = open_tsne.TSNEEmbedding, open_tsne.affinity, open_tsne.initialization

    n = len(x)
    perplexity = min(30.0, (n - 1) / 3.1)
    method = "exact" if n <= 5000 else "annoy"
    aff = affinity.PerplexityBasedNN(x, perplexity=perplexity, method=method, n_jobs=_threads(), random_state=seed)
    init = initialization.pca(x, n_components=dim, random_state=seed)
    # Barnes-Hut is faster than FFT below ~10k points in 2-D; FFT interpolation supports 1-2-D only.
    gradient = "fft" if dim == 2 and n > 10_000 else "bh"
    emb = TSNEEmbedding(init, aff, negative_gradient_method=gradient, theta=0.8, n_jobs=_threads(),
                        random_state=seed)
    emb = emb.optimize(n_iter=100, exaggeration=12)  # early exaggeration, then the plain objective
    emb = emb.optimize(n_iter=200)
    return np.asarray(emb, dtype=np.float32)


def _umap(x: torch.Tensor, dim: int, seed: int) -> np.ndarray:
    umap = _require("umap", "UMAP")
    k = min(15, len(x) - 1)
    knn = None
    if len(x) <= _EXACT_KNN:  # exact neighbours from one matrix product beat NN-descent here
        idx, dist = _neighbours(x, k)
        knn = (idx, dist, None)
    with warnings.catch_warnings():  # "n_jobs overridden by random_state", "no NNDescent index for transform"
        warnings.simplefilter("ignore", UserWarning)
        reducer = umap.UMAP(n_components=dim, n_neighbors=k, n_epochs=200, init="pca", random_state=seed,
                            precomputed_knn=knn or (None, None, None))
        return reducer.fit_transform(x.numpy()).astype(np.float32)


def _threads() -> int:
    return max(1, torch.get_num_threads())


class ProjectionCache:
    """Projections in memory and on disk (``.npy`` files), keyed by content and settings.

    The directory is ``$IW_CACHE_DIR/projections`` if that is set, else
    ``~/.cache/interpwidgets/projections``; ``directory=False`` keeps everything in memory.
    """

    def __init__(self, directory: str | os.PathLike | bool | None = None):
        if directory is None:
            directory = cache_dir("projections")
        self.directory = Path(directory) if directory is not False else None
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(points: torch.Tensor, method: str, dim: int, seed: int) -> str:
        h = hashlib.sha1(f"{_VERSION}|{method}|{dim}|{seed}|{tuple(points.shape)}".encode())
        h.update(points.float().contiguous().numpy().tobytes())
        return h.hexdigest()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        if self.directory is not None and (self.directory / f"{key}.npy").exists():
            try:
                value = np.load(self.directory / f"{key}.npy")
            except (OSError, ValueError):  # a file cut short by a crash: compute again
                return None
            with self._lock:
                self._memory[key] = value
            return value
        return None

    def put(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._memory[key] = value
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f"{key}.{threading.get_ident()}.tmp.npy"
            np.save(tmp, value)
            tmp.replace(self.directory / f"{key}.npy")  # atomic: readers never see half a file


_default_cache: ProjectionCache | None = None


def default_cache() -> ProjectionCache:
    global _default_cache
    if _default_cache is None:
        _default_cache = ProjectionCache()
    return _default_cache


def project_heads(data: QKData, method: str = "pca", dim: int = 2, normalize: str | None = "norms",
                  heads: Iterable[tuple[int, int]] | None = None, seed: int = 0, cache: ProjectionCache | None = None,
                  on_head: Callable[[int, int, np.ndarray], None] | None = None,
                  stop: threading.Event | None = None, progress: bool = True) -> dict[tuple[int, int], np.ndarray]:
    """Project every head (or ``heads``), with a progress bar; cached projections come back at once.

    ``on_head(layer, head, coords)`` is called as each head is done (the widget paints it);
    setting ``stop`` ends the loop early (a new projection was asked for).

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> from interpwidgets.attention.method import collect_qk
    >>> from interpwidgets.attention.projection import ProjectionCache, project_heads
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50)).eval()
    >>> data = collect_qk(model, [torch.arange(20)], progress=False)
    >>> out = project_heads(data, "pca", cache=ProjectionCache(False), progress=False)
    >>> len(out), out[1, 3].shape
    (8, (40, 2))
    """
    cache = cache or default_cache()
    heads = list(heads) if heads is not None else [(i, j) for i in range(data.n_layers) for j in range(data.n_heads)]
    out = {}
    bar = tqdm(heads, desc=f"{method} projections", disable=not progress, leave=False)
    for layer, head in bar:
        if stop is not None and stop.is_set():
            break
        points = head_points(data, layer, head, normalize)
        if method == "pca":  # milliseconds: not worth a file
            coords = project(points, method, dim, seed)
        else:
            key = cache.key(points, method, dim, seed)
            coords = cache.get(key)
            if coords is None:
                coords = project(points, method, dim, seed)
                cache.put(key, coords)
        out[layer, head] = coords
        if on_head is not None:
            on_head(layer, head, coords)
    bar.close()
    return out
