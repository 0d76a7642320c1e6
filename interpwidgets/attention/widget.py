"""AttentionView: AttentionViz's joint query-key embedding of every head, for the user's own model."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
import traitlets

from ..transport import encode, json_grid
from ..widgets import Widget, serves
from ..widgets.jobs import Job
from .method import IMAGE_STATISTICS, NORMALIZATIONS, STATISTICS, collect_qk, top_keys, unit_patterns
from .projection import METHODS, ProjectionCache, default_cache, head_points, project, project_heads

__all__ = ["AttentionView"]

NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
THUMB_POINTS = 300  # tokens per thumbnail (their query and key): enough to see a head's shape


class AttentionView(Widget):
    """Queries and keys of every head, embedded jointly (AttentionViz), with matrix, head, sentence and
    image views.

    Parameters
    ----------
    model
        A transformers language model or ViT whose queries and keys the engine reads.
    inputs
        Texts (language models) or images (ViT: PIL images, ``[H, W, 3]`` uint8 arrays, or pixel values).
    tokenizer, processor
        Found from the model when not given; ``processor`` prepares images (default: resize, mean/std 0.5).
    labels
        Optional: one label per input or per token, for colouring points.
    projection, dim, normalize
        Initial settings: ``"pca"`` (instant), ``"tsne"`` or ``"umap"`` (computed for all heads in the
        background, cached on disk); 2 or 3 dimensions; ``"norms"``, ``"centroid"`` or ``"none"``
        (see :func:`interpwidgets.attention.method.normalize_qk`).
    attention, window, batch_size
        Passed to :func:`interpwidgets.attention.method.collect_qk`.
    cache
        A :class:`ProjectionCache` (default: memory and ``~/.cache/interpwidgets/projections``).

    Examples
    --------
    With a real model: ``iw.AttentionView(model, iw.datasets.stdlib_sentences(200), tokenizer,
    projection="umap")``. Token ids work too, here on a tiny BERT built from a config:

    >>> import torch, interpwidgets as iw
    >>> from transformers import BertConfig, BertModel
    >>> model = BertModel(BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
    ...                              intermediate_size=64, vocab_size=50)).eval()
    >>> view = iw.AttentionView(model, [torch.arange(1, 12), torch.arange(5, 20)], progress=False)
    >>> view.n_layers, view.n_heads, view.n_tokens
    (2, 4, 26)
    >>> view.layer, view.head, view.view = 1, 3, "head"  # what the browser shows; display(view) to see it
    >>> view.selected_points = [12, 26 + 12]  # clicked or brushed in the browser: queries, then keys
    >>> [(p["kind"], p["unit"], p["position"]) for p in view.selected]
    [('query', 1, 1), ('key', 1, 1)]
    """

    _bundle = "attention_view"

    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    view = traitlets.Unicode("matrix").tag(sync=True)  # "matrix" | "head" | "sentence" | "image"
    projection = traitlets.Unicode("pca").tag(sync=True)
    dim = traitlets.Int(2).tag(sync=True)
    normalize = traitlets.Unicode("norms").tag(sync=True)
    color_by = traitlets.Unicode("type").tag(sync=True)  # "type" | "position" | "token" | "label"
    sort_by = traitlets.Unicode("layer").tag(sync=True)  # "layer" or a key of STATISTICS
    search = traitlets.Unicode("").tag(sync=True)
    selected_points = traitlets.List(traitlets.Int()).tag(sync=True)  # rows: queries 0..n-1, keys n..2n-1
    query = traitlets.Int(-1).tag(sync=True)  # the query whose attention lines are drawn (a row < n)
    unit = traitlets.Int(0).tag(sync=True)  # the sentence / image of the sentence and image views
    hovered = traitlets.Int(-1).tag(sync=True)
    progress = traitlets.Float(1.0).tag(sync=True)  # of the background projection of all heads
    ready = traitlets.Int(0).tag(sync=True)  # heads of the current projection done so far
    n_layers = traitlets.Int(0).tag(sync=True)
    n_heads = traitlets.Int(0).tag(sync=True)
    n_tokens = traitlets.Int(0).tag(sync=True)
    n_units = traitlets.Int(0).tag(sync=True)
    grid = traitlets.List([]).tag(sync=True)  # ViT: patches per side
    stats = traitlets.Dict({}).tag(sync=True)  # name -> [layers][heads]
    stat_help = traitlets.Dict({}).tag(sync=True)
    label_names = traitlets.List([]).tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model, inputs, tokenizer=None, *, labels: Sequence | None = None, projection: str = "pca",
                 dim: int = 2, normalize: str = "norms", attention: str | None = None, window: int | None = None,
                 batch_size: int = 8, processor=None, cache: ProjectionCache | None = None, progress: bool = True,
                 **kwargs):
        self._model = model
        self.data = collect_qk(model, inputs, tokenizer, attention=attention, window=window, batch_size=batch_size,
                               processor=processor, progress=progress)
        d = self.data
        self._labels, names = _labels(labels, d)
        self._cache = cache or default_cache()
        self._coords: dict[tuple, dict[tuple[int, int], np.ndarray]] = {}
        self._patterns: OrderedDict[int, torch.Tensor] = OrderedDict()
        rng = np.random.default_rng(0)
        n = len(d.tokens)
        self._thumb_rows = np.sort(rng.choice(n, min(n, THUMB_POINTS), replace=False))
        windows = sum(u["start"] > 0 for u in d.units)
        notice = (f"{windows} window(s) were cut from texts longer than the window; each window runs on its own."
                  if windows else "")
        super().__init__(n_layers=d.n_layers, n_heads=d.n_heads, n_tokens=n, n_units=len(d.units),
                         grid=list(d.grid or []), label_names=names, notice=notice,
                         stats={k: json_grid(v) for k, v in d.stats.items()},
                         stat_help=IMAGE_STATISTICS if d.grid else STATISTICS,
                         **kwargs)
        self._job = Job(self, "projection")
        self.projection, self.dim, self.normalize = projection, dim, normalize  # observers wait for _live
        self._check_settings()
        self._live = True
        self._start()

    # ------------------------------------------------------------------ projections
    def _settings(self) -> tuple[str, int, str | None]:
        return self.projection, self.dim, None if self.normalize == "none" else self.normalize

    @traitlets.validate("selected_points")
    def _valid_rows(self, proposal) -> list[int]:
        rows, n = proposal["value"], 2 * self.n_tokens
        bad = [r for r in rows if not 0 <= r < n]
        if bad:
            raise traitlets.TraitError(f"selected_points must be rows 0..{n - 1} (queries, then keys); got {bad[:5]}")
        return rows

    @traitlets.observe("sort_by")
    def _valid_sort(self, change) -> None:
        if change["new"] != "layer" and change["new"] not in self.stats:
            self.sort_by = change["old"]
            self._report("setting", f"sort_by must be 'layer' or one of {sorted(self.stats)}, got {change['new']!r}")
        else:
            self._resolved("setting")

    def _check_settings(self) -> None:
        if self.projection not in METHODS:
            raise ValueError(f"projection must be one of {METHODS}, got {self.projection!r}")
        if self.dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {self.dim}")
        if (None if self.normalize == "none" else self.normalize) not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of 'norms', 'centroid', 'none', got {self.normalize!r}")

    @traitlets.observe("projection", "dim", "normalize")
    def _restart(self, change) -> None:
        if not getattr(self, "_live", False):
            return
        try:
            self._check_settings()
        except ValueError as err:  # keep what was computed: go back to the last good setting
            setattr(self, change["name"], change["old"])
            self._report("setting", err)
            return
        self._resolved("setting")
        self._start()

    def _start(self) -> None:
        """Project every head for the current settings: PCA at once, t-SNE / UMAP in a background thread."""
        self._job.cancel()
        settings = self._settings()
        done = self._coords.setdefault(settings, {})
        self.ready, self.progress = len(done), len(done) / (self.n_layers * self.n_heads)
        if self.progress >= 1:  # all done before (a cache): the projection works
            self._resolved("projection")
            return
        method, dim, norm = settings
        first = (self.layer, self.head)  # the head on screen first
        heads = [first] + [(i, j) for i in range(self.n_layers) for j in range(self.n_heads) if (i, j) != first]
        heads = [h for h in heads if h not in done]
        total = self.n_layers * self.n_heads

        def on_head(layer, head, coords):
            done[layer, head] = coords
            if self._settings() == settings:
                self.progress = len(done) / total
                self.ready = len(done)

        if method == "pca":
            project_heads(self.data, method, dim, norm, heads, cache=self._cache, on_head=on_head, progress=False)
            self._resolved("projection")  # PCA worked: a failed t-SNE / UMAP no longer stands
            return
        for layer, head in heads:  # PCA stand-ins first (about 3 ms a head), so no request waits on the thread
            self.coords(layer, head)

        def work(run):  # a failure is shown in the view; PCA stays on screen
            # the view draws its own progress bar: a tqdm bar from a thread would land in whichever cell runs
            project_heads(self.data, method, dim, norm, heads, cache=self._cache, on_head=on_head, stop=run.stop,
                          progress=False)

        self._job.start(work, what=f"{NAMES.get(method, method)} projection")

    def wait(self, timeout: float | None = None) -> AttentionView:
        """Block until the background projection of every head is done (for scripts and tests)."""
        self._job.wait(timeout)
        return self

    def coords(self, layer: int | None = None, head: int | None = None) -> tuple[np.ndarray, bool]:
        """One head's points ``[2n, dim]`` (queries, then keys) in the current projection, and whether
        that projection is ready (if not, PCA stands in until it is)."""
        layer = self.layer if layer is None else layer
        head = self.head if head is None else head
        self._check_head(layer, head)
        done = self._coords.get(self._settings(), {})
        if (layer, head) in done:
            return done[layer, head], True
        _, dim, norm = self._settings()
        pca = self._coords.setdefault(("pca", dim, norm), {})  # the stand-in, computed once
        if (layer, head) not in pca:
            pca[layer, head] = project(head_points(self.data, layer, head, norm), "pca", dim)
        return pca[layer, head], False

    def _check_head(self, layer: int, head: int) -> None:
        if not (0 <= layer < self.n_layers and 0 <= head < self.n_heads):
            raise IndexError(f"layer {layer}, head {head} out of range: {self.n_layers} layers x {self.n_heads} heads")

    # ------------------------------------------------------------------ what the view asks for
    @serves("meta")
    def _meta(self) -> dict:
        d = self.data
        vocab, token = np.unique(np.array(d.tokens, dtype=object).astype(str), return_inverse=True)
        ints = {"token": token, "unit": d.unit, "position": d.position, "length": d.unit_length()}
        out = {"vocab": vocab.tolist(), **{k: encode(np.asarray(v, np.int32)) for k, v in ints.items()},
               "label": encode(self._labels) if self._labels is not None else None}
        if d.images is not None:
            out["images"] = encode(d.images)
        return out

    @serves("thumbs")
    def _thumbs(self) -> dict:
        rows = self._thumb_rows
        take = np.concatenate([rows, rows + self.n_tokens])
        out = np.zeros((self.n_layers, self.n_heads, len(take), 2), np.float32)
        ready = np.zeros((self.n_layers, self.n_heads), np.uint8)
        for i in range(self.n_layers):
            for j in range(self.n_heads):
                c, ready[i, j] = self.coords(i, j)
                out[i, j] = c[take, :2]
        return {"coords": encode(out), "ready": encode(ready), "rows": encode(rows.astype(np.int32))}

    @serves("points")
    def _points(self, layer: int, head: int) -> dict:
        c, ready = self.coords(layer, head)
        return {"layer": layer, "head": head, "coords": encode(c), "dim": int(c.shape[1]), "ready": bool(ready)}

    def patterns(self, unit: int) -> torch.Tensor:
        """Every head's attention over one unit (``[layers, heads, n, n]``), recomputed and kept for a while."""
        if unit not in self._patterns:
            self._patterns[unit] = unit_patterns(self._model, self.data, unit)
            if len(self._patterns) > 8:
                self._patterns.popitem(last=False)
        self._patterns.move_to_end(unit)
        return self._patterns[unit]

    @serves("attends")
    def _attends(self, row: int, layer: int, head: int) -> dict:
        """The keys (rows) that a query row attends to most, with their weights."""
        n = self.n_tokens
        if not 0 <= row < n:
            raise IndexError(f"row {row} is not a query: queries are rows 0..{n - 1}")
        self._check_head(layer, head)
        unit = int(self.data.unit[row])
        first = self.data.rows(unit).start
        p = self.patterns(unit)[layer, head, row - first]
        keys, weights = top_keys(p)
        return {"row": row, "keys": encode((keys + first + n).astype(np.int32)), "weights": encode(weights)}

    @serves("pattern")
    def _pattern(self, unit: int, layer: int, head: int) -> dict:
        self._check_head(layer, head)
        if not 0 <= unit < self.n_units:
            raise IndexError(f"unit {unit} out of range: there are {self.n_units}")
        return {"unit": unit, "layer": layer, "head": head, "pattern": encode(self.patterns(unit)[layer, head])}

    def _snapshot_requests(self):
        """For an exported page: every thumbnail, the selected head's scatter, the selected input's
        lines and the clicked query's keys."""
        at = {"layer": self.layer, "head": self.head}
        yield from (("meta", {}), ("thumbs", {}), ("points", at), ("pattern", {"unit": self.unit, **at}))
        if 0 <= self.query < self.n_tokens:
            yield "attends", {"row": self.query, **at}

    # ------------------------------------------------------------------ reading the selection
    @property
    def selected(self) -> list[dict]:
        """The points selected in the view: kind (query / key), token, its sentence, unit and position."""
        d, n = self.data, self.n_tokens
        out = []
        for row in self.selected_points:
            i = row % n
            out.append({"row": row, "kind": "query" if row < n else "key", "token": d.tokens[i],
                        "sentence": d.sentence(i), "unit": int(d.unit[i]), "position": int(d.position[i])})
        return out


def _labels(labels, data) -> tuple[np.ndarray | None, list[str]]:
    """Per-token label codes from labels given per input or per token."""
    if labels is None:
        return None, []
    labels = list(labels)
    sources = np.array([u["source"] for u in data.units])[data.unit]
    n_inputs = int(sources.max()) + 1
    if len(labels) == n_inputs:
        per_token = [labels[s] for s in sources]
    elif len(labels) == len(data.tokens):
        per_token = labels
    else:
        raise ValueError(f"labels must be one per input ({n_inputs}) or one per token ({len(data.tokens)}), "
                         f"got {len(labels)}")
    names, codes = np.unique(np.array([str(x) for x in per_token]), return_inverse=True)
    return codes.astype(np.int32), names.tolist()

