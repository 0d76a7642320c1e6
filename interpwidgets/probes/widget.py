"""ProbeDashboard: a grid of probe accuracies (layers x heads, or any 2-D grid of sites) that fills in
live while the probes train; click a cell for its projection histograms; pick the top K."""

from __future__ import annotations

import numpy as np
import torch
import traitlets

from ..transport import encode, json_grid
from ..widgets import Widget, serves
from ..widgets.jobs import Job
from .probes import ProbeResult, _as_tensor, fit_probes, rank
from .splits import train_val_split

__all__ = ["ProbeDashboard"]


class ProbeDashboard(Widget):
    """Probe accuracy over a grid of sites, live; a cell's class histograms; the top K, exportable.

    Parameters
    ----------
    results
        A :class:`ProbeResult` whose batch is a grid ``[rows, cols]`` (a 1-D batch is one row), or
        ``None`` while :meth:`fit` fills it in.
    features, labels
        What the probes were fitted on (``[n, rows, cols, d]``, ``[n]``): with them a click shows how
        a probe separates the classes, on the training and the validation split.
    k, metric, row_label, col_label
        Initial top-K, the metric shown, and what rows and columns are.

    Examples
    --------
    >>> import torch, interpwidgets as iw
    >>> X, y = torch.randn(300, 2, 4, 8), torch.arange(300) % 2
    >>> X[y == 1, 1, 2, 0] += 2.0                       # layer 1, head 2 knows
    >>> board = iw.ProbeDashboard.fit(X, y, k=2, background=False)
    >>> board.top[0], board.selected_heads[0]
    ([1, 2], (1, 2))
    """

    _bundle = "probe_dashboard"

    grid = traitlets.List([]).tag(sync=True)  # the metric per cell, None until fitted
    metric = traitlets.Unicode("val_accuracy").tag(sync=True)
    metrics = traitlets.List([]).tag(sync=True)  # names available
    row = traitlets.Int(-1).tag(sync=True)  # the clicked cell
    col = traitlets.Int(-1).tag(sync=True)
    k = traitlets.Int(8).tag(sync=True)
    top = traitlets.List([]).tag(sync=True)  # [[row, col], ...]: the best k cells, best first
    progress = traitlets.Float(1.0).tag(sync=True)
    row_label = traitlets.Unicode("layer").tag(sync=True)
    col_label = traitlets.Unicode("head").tag(sync=True)
    shape = traitlets.List([0, 0]).tag(sync=True)

    def __init__(self, results: ProbeResult | None = None, features=None, labels=None, *, shape=None, k: int = 8,
                 metric: str = "val_accuracy", row_label: str = "layer", col_label: str = "head", **kwargs):
        self._features = None if features is None else _as_tensor(features)
        self._labels = None if labels is None else _as_tensor(labels)
        self._results: ProbeResult | None = None
        self._job: Job | None = None
        if results is not None:
            shape = results.batch_shape if len(results.batch_shape) == 2 else (1, int(np.prod(results.batch_shape)))
        if shape is None:
            raise ValueError("give results= (a ProbeResult) or the grid's shape=")
        super().__init__(shape=list(shape), k=k, metric=metric, row_label=row_label, col_label=col_label,
                         grid=[[None] * shape[1] for _ in range(shape[0])], **kwargs)
        if results is not None:
            self.results = results

    # ------------------------------------------------------------------ filling in
    @classmethod
    def fit(cls, features, labels, *, groups=None, k: int = 8, val_frac: float = 0.2, seed: int = 0,
            background: bool = True, row_label: str = "layer", col_label: str = "head", **fit_kwargs) -> ProbeDashboard:
        """Fit one probe per cell of ``features`` ``[n, rows, cols, d]``, a row at a time, showing each
        row as it is done (in a background thread unless ``background=False``)."""
        X, y = _as_tensor(features), _as_tensor(labels)
        if X.ndim != 4:
            raise ValueError(f"features must be [examples, rows, cols, d], got shape {tuple(X.shape)}")
        split = train_val_split(y, groups, val_frac, seed)
        board = cls(None, X, y, shape=X.shape[1:3], k=k, row_label=row_label, col_label=col_label)
        board.progress = 0.0

        def work(run):  # a failure is shown in the view; the rows done so far stay
            rows = []
            try:
                for r in range(X.shape[1]):
                    run.check()
                    rows.append(fit_probes(X[:, r], y, split=split, progress=False, **fit_kwargs))
                    board._show_row(r, rows[-1])
                    run.progress((r + 1) / X.shape[1])
            except BaseException:
                board.progress = 1.0  # no bar left saying "fitting": the banner says why the rest is missing
                raise
            board.results = _stack(rows)

        board._job = Job(board, "fitting", background=background, progress="progress")
        board._job.start(work)
        return board

    def wait(self, timeout: float | None = None) -> ProbeDashboard:
        """Block until a background :meth:`fit` is done."""
        if self._job is not None:
            self._job.wait(timeout)
        return self

    @property
    def results(self) -> ProbeResult | None:
        """The fitted probes (``None`` while :meth:`fit` runs)."""
        return self._results

    @results.setter
    def results(self, value: ProbeResult) -> None:
        self._results = value
        self.metrics = sorted(value.metrics)
        if self.metric not in value.metrics:
            self.metric = "val_accuracy" if "val_accuracy" in value.metrics else self.metrics[0]
        self._refresh()

    def _show_row(self, r: int, result: ProbeResult) -> None:
        grid = [list(row) for row in self.grid]
        values = result.metrics[self.metric if self.metric in result.metrics else "val_accuracy"]
        grid[r] = json_grid(values.flatten())
        self.grid = grid

    @traitlets.observe("metric", "k")
    def _refresh(self, change=None) -> None:
        if self._results is None:
            return
        if self.metric not in self._results.metrics:
            bad, self.metric = self.metric, change["old"] if change else "val_accuracy"
            self._report("setting", f"metric must be one of {sorted(self._results.metrics)}, got {bad!r}")
            return
        values = self._results.metrics[self.metric].reshape(self.shape)
        self.grid = json_grid(values)
        total = self.shape[0] * self.shape[1]
        if not 1 <= self.k <= total:
            bad, self.k = self.k, min(max(1, self.k), total)
            self._report("setting", f"k must be between 1 and the number of cells ({total}), got {bad}")
            return
        self._resolved("setting")
        self.top = [[int(i) // self.shape[1], int(i) % self.shape[1]] for i in rank(values)[:self.k]]

    @property
    def selected_heads(self) -> list[tuple[int, int]]:
        """The top-K cells as (row, col) tuples, best first: the list to hand on (e.g. to ITI)."""
        return [tuple(c) for c in self.top]

    def _snapshot_requests(self):
        """For an exported page: the clicked cell's histograms."""
        if self.row >= 0 and self.col >= 0:
            yield "cell", {"row": self.row, "col": self.col}

    # ------------------------------------------------------------------ what the view asks for
    @serves("cell")
    def _cell(self, row: int, col: int) -> dict:
        if self._results is None:
            raise RuntimeError("the probes are still being fitted")
        rows, cols = self.shape
        if not (0 <= row < rows and 0 <= col < cols):
            raise IndexError(f"cell ({row}, {col}) out of range: {rows} {self.row_label}s x {cols} {self.col_label}s")
        r = self._results
        out = {"row": row, "col": col,
               "metrics": {k: float(v.reshape(rows, cols)[row, col]) for k, v in r.metrics.items()}}
        if self._features is not None and r.weight.shape[-1] == 1:  # binary: one score per example
            X = self._features.reshape(len(self._features), rows, cols, -1)[:, row, col].float()
            w = r.weight.reshape(rows, cols, *r.weight.shape[-2:])[row, col]
            b = r.bias.reshape(rows, cols, -1)[row, col]
            score = (X @ w + b)[:, 0]
            positive = self._labels == r.classes[-1]
            for part, idx in (("train", r.train_idx), ("val", r.val_idx)):
                out[part] = {"score": encode(score[idx]), "positive": encode(positive[idx])}
        return out


def _stack(rows: list[ProbeResult]) -> ProbeResult:
    """Row-by-row results (each over ``[cols]``) as one result over ``[rows, cols]``."""
    first = rows[0]

    def stack(get):
        values = [get(r) for r in rows]
        return None if values[0] is None else torch.stack(values)

    return ProbeResult(kind=first.kind, weight=stack(lambda r: r.weight), bias=stack(lambda r: r.bias),
                       metrics={k: torch.stack([r.metrics[k] for r in rows]) for k in first.metrics},
                       classes=first.classes, train_idx=first.train_idx, val_idx=first.val_idx, l2=first.l2,
                       iterations=stack(lambda r: r.iterations))
