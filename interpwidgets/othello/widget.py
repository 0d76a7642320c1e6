"""OthelloView: a board that plays, the model's next-move probabilities on it, the board a probe reads from
the model beside the true one, flips of the model's board, latent saliency, and the probes' accuracy by
layer (plotly).

The view is a layout of :class:`OthelloBoard` (our own front end: the two boards and the controls) and a
plotly ``FigureWidget`` of the probes' held-out accuracy per layer, the chosen layer marked. The board
does no modelling of its own: the method module (:mod:`interpwidgets.othello.method`) fits, decodes and
edits; the engine (:mod:`interpwidgets.worlds.othello.engine`) referees.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import ipywidgets
import numpy as np
import torch
import traitlets

from ..transport import json_grid
from ..widgets import Widget, serves
from ..widgets.jobs import Job
from ..worlds.othello import SPLIT_SEEDS, check_vocabulary, name, parse_game, random_games, square, squares, trace
from .method import (
    ENCODINGS,
    METHODS,
    BoardProbes,
    FlipEdit,
    board_labels,
    fit_board_probes,
    flip_targets,
    flipped_board,
    last_move_logits,
    latent_saliency,
    residuals,
)

__all__ = ["OthelloBoard", "OthelloView"]

_OPPONENTS = ("none", "black", "white")


def _square(x) -> int:
    """A square index from an index or a name (``"D3"``)."""
    s = square(x) if isinstance(x, str) else int(x)
    if not 0 <= s < 64:
        raise ValueError(f"square {x!r}: squares are 0 to 63, or names like 'D3'")
    return s


class OthelloBoard(Widget):
    """The board panel of :class:`OthelloView` (see there); its traits are the view's state."""

    _bundle = "othello_view"

    moves = traitlets.List([]).tag(sync=True)  # the game line (square indices); the board shows its first `cursor`
    cursor = traitlets.Int(0).tag(sync=True)
    board = traitlets.List([]).tag(sync=True)  # 64 of 1 black, -1 white, 0 empty, after `cursor` moves
    player = traitlets.Int(0).tag(sync=True)  # 0 black, 1 white: who moves next
    legal = traitlets.List([]).tag(sync=True)
    over = traitlets.Bool(False).tag(sync=True)
    probs = traitlets.List([]).tag(sync=True)  # the model's next-move probabilities (64; 0 on the centre)
    layer = traitlets.Int(0).tag(sync=True)
    n_layers = traitlets.Int(0).tag(sync=True)
    encoding = traitlets.Unicode("relative").tag(sync=True)
    encodings = traitlets.List([]).tag(sync=True)  # the encodings probes are fitted for
    truth = traitlets.List([]).tag(sync=True)  # the true board in the encoding's classes (64)
    decoded = traitlets.List([]).tag(sync=True)  # the probe's reading at `layer` (64 classes)
    confidence = traitlets.List([]).tag(sync=True)  # the probe's probability of its reading (64)
    accuracy = traitlets.Dict({}).tag(sync=True)  # {encoding: [per layer]} on held-out games
    method = traitlets.Unicode("vector").tag(sync=True)
    flips = traitlets.List([]).tag(sync=True)  # squares flipped in the model's board at this position
    edited_probs = traitlets.List([]).tag(sync=True)  # next-move probabilities under the flips ([] if none)
    edited_legal = traitlets.List([]).tag(sync=True)  # the legal moves of the flipped board
    saliency = traitlets.Dict({}).tag(sync=True)  # {"move": square, "values": 64 (None on empty)}
    opponent = traitlets.Unicode("none").tag(sync=True)  # the colour the model plays
    busy = traitlets.Unicode("").tag(sync=True)  # what the background jobs are doing ("" when idle)
    progress = traitlets.Float(0.0).tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model, moves=None, probes: Mapping[str, BoardProbes] | Sequence[BoardProbes] | None = None,
                 *, layer: int | None = None, encoding: str = "relative", method: str = "vector",
                 probe_games: int = 300, edit_settings: Mapping | None = None, background: bool = True):
        check_vocabulary(model)
        self._model = model
        self._lock = threading.RLock()  # the kernel and the jobs' threads both change the state
        self._edit_settings = dict(edit_settings or {})
        self._probes: dict[str, BoardProbes] = {}
        self._mlp: dict[str, BoardProbes] = {}
        self._activity: dict[str, str] = {}  # job -> what it is doing, shown in `busy`
        self._pass_notice = ""
        n = model.config.n_layer
        super().__init__(n_layers=n, layer=n // 2 if layer is None else layer, encoding=encoding, method=method)
        self._job = Job(self, "edit", background=background)
        self._saliency_job = Job(self, "latent saliency", background=background)
        self._fitting = Job(self, "probe fitting", background=background, progress="progress")
        self.moves = parse_game(moves) if moves is not None else []
        self.cursor = len(self.moves)
        self._refresh()
        if probes is None:
            self._fit_default(probe_games)
        else:
            self._take(probes)

    # ------------------------------------------------------------------ probes
    def _take(self, probes) -> None:
        items = probes.values() if isinstance(probes, Mapping) else probes
        for p in items:
            if not isinstance(p, BoardProbes):
                raise TypeError(f"probes must be BoardProbes (fit_board_probes), got {type(p).__name__}")
            if p.layers != list(range(self.n_layers)):
                raise ValueError(f"give probes fitted at every layer 0..{self.n_layers - 1}; got layers {p.layers}")
            width = p.probes.params["mean"].shape[-1]
            if width != self._model.config.n_embd:
                raise ValueError(f"these probes read {width}-wide residuals, but this model's are "
                                 f"{self._model.config.n_embd} wide: fit them on this model (fit_board_probes)")
            (self._probes if p.kind == "linear" else self._mlp)[p.encoding] = p
        if not self._probes:
            raise ValueError("give at least one linear BoardProbes (the board is read and edited with it)")
        with self._lock:
            self.encodings = [e for e in ENCODINGS if e in self._probes]
            if self.encoding not in self._probes:
                self.encoding = self.encodings[0]
            self.accuracy = {f"{kind} {e}": json_grid(p.accuracy) for kind, d in (("linear", self._probes),
                             ("MLP", self._mlp)) for e, p in d.items()}
            self.notice = ""
        self._refresh()

    def _fit_default(self, n_games: int) -> None:
        """Linear probes of both encodings at every layer, on ``n_games`` games of the probe-fit split, scored
        on games of the choose split (in the background: the board plays meanwhile)."""
        self.notice = f"fitting the board probes on {n_games} games…"

        def work(run):
            with self._doing("fitting", "fitting probes"):
                fit, val = random_games(n_games, SPLIT_SEEDS["probe_fit"]), random_games(max(20, n_games // 4),
                                                                                       SPLIT_SEEDS["choose"])
                features = residuals(self._model, np.concatenate([fit, val]), progress=False)
                run.check()
                out = []
                for i, enc in enumerate(ENCODINGS):
                    out.append(fit_board_probes(self._model, fit, val, encoding=enc, features=features,
                                                progress=False))
                    run.progress((i + 1) / len(ENCODINGS))
                    run.check()
                self._take(out)
        self._fitting.start(work)

    @property
    def probes(self) -> dict[str, BoardProbes]:
        """The linear probes, by encoding (empty while they are being fitted)."""
        return dict(self._probes)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the probes are fitted and the latest edit and saliency are done (scripts and tests)."""
        return all(job.wait(timeout) for job in (self._fitting, self._job, self._saliency_job))

    @contextmanager
    def _doing(self, job: str, what: str):
        """``busy`` shows what every running job does, so one job's end does not hide another's work."""
        with self._lock:
            self._activity[job] = what
            self.busy = " · ".join(self._activity.values())
        try:
            yield
        finally:
            with self._lock:
                self._activity.pop(job, None)
                self.busy = " · ".join(self._activity.values())

    # ------------------------------------------------------------------ state
    @traitlets.validate("layer")
    def _check_layer(self, proposal):
        if not 0 <= proposal["value"] < self.n_layers:
            raise traitlets.TraitError(f"layer must be 0 to {self.n_layers - 1}, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("encoding")
    def _check_encoding(self, proposal):
        allowed = self.encodings or list(ENCODINGS)
        if proposal["value"] not in allowed:
            raise traitlets.TraitError(f"encoding must be one of {allowed}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("method")
    def _check_method(self, proposal):
        if proposal["value"] not in METHODS:
            raise traitlets.TraitError(f"method must be one of {METHODS}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("opponent")
    def _check_opponent(self, proposal):
        if proposal["value"] not in _OPPONENTS:
            raise traitlets.TraitError(f"opponent must be one of {_OPPONENTS}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("cursor")
    def _check_cursor(self, proposal):
        if not 0 <= proposal["value"] <= len(self.moves):
            raise traitlets.TraitError(f"cursor must be 0 to {len(self.moves)} (the moves played), "
                                       f"got {proposal['value']}")
        return proposal["value"]

    @traitlets.observe("cursor", "layer", "encoding", "method")
    def _changed(self, change) -> None:
        if change["name"] == "cursor":
            self.flips = []
        self._refresh()

    @traitlets.observe("opponent")
    def _opponent_changed(self, change) -> None:
        self._model_moves()

    def _prefix(self) -> list[int]:
        return list(self.moves[:self.cursor])

    def _refresh(self) -> None:
        """Everything shown for the position at ``cursor``: the board, the model's probabilities, the probe's
        reading; the edit, if squares are flipped, in the background."""
        with self._lock:
            prefix = self._prefix()
            tr = trace(np.asarray([prefix if prefix else [-1]]))
            t = len(prefix)
            grid, player = tr.grid[0, t], int(tr.player[0, t])
            self.board = grid.reshape(64).astype(int).tolist()
            self.player = player
            self.legal = squares(tr.legal[0, t])
            self.over = not self.legal
            passed = t >= 1 and not self.over and player == int(tr.player[0, t - 1])
            colours = ("black", "white")
            notice = (f"{colours[1 - player]} has no legal move and passes: {colours[player]} moves again"
                      if passed else "")
            if notice or self.notice == self._pass_notice:  # other notices (the probes' fitting) stay
                self.notice = notice
            self._pass_notice = notice
            if not prefix:  # the model reads moves: before the first there is nothing to read
                self.probs, self.decoded, self.confidence, self.truth = [], [], [], []
            else:
                self.probs = json_grid(torch.softmax(last_move_logits(self._model, [prefix])[0], -1).numpy())
                probes = self._probes.get(self.encoding)
                self.truth = board_labels(grid, player, self.encoding).tolist() if probes else []
                if probes is not None:
                    h = self._residual_at(prefix, self.layer)
                    z = torch.softmax(probes.logits(h, self.layer), -1)[0]
                    self.decoded = z.argmax(-1).tolist()
                    self.confidence = json_grid(z.max(-1).values.numpy())
                else:
                    self.decoded, self.confidence = [], []
            self.saliency = {}
        self._edit()

    # ------------------------------------------------------------------ playing
    def play(self, move) -> None:
        """Play ``move`` (a square index or name) at the current position; the moves after it are dropped. An
        occupied square, a move that is not legal, or a move after the game's end is a ValueError."""
        with self._lock:
            square = _square(move)
            if self.over:
                raise ValueError("the game is over: neither player has a legal move")
            if self.board[square] != 0:
                raise ValueError(f"{name(square)} is occupied: play on an empty square (legal: "
                                 f"{', '.join(name(s) for s in self.legal)})")
            if square not in self.legal:
                colour = "black" if self.player == 0 else "white"
                raise ValueError(f"{name(square)} is not a legal move for {colour} (legal: "
                                 f"{', '.join(name(s) for s in self.legal)})")
            self.moves = self._prefix() + [square]
            self.cursor = len(self.moves)
        self._model_moves()

    def _model_moves(self) -> None:
        """While it is the model's colour to move, it plays its most probable legal move. Before the first
        move the model has read nothing, so as black it opens with one of the four first moves at random
        (they are the same up to symmetry)."""
        with self._lock:
            while (self.opponent != "none" and not self.over
                   and ("black", "white")[self.player] == self.opponent and len(self.moves) < 60):
                if self.cursor == 0:
                    best = int(np.random.default_rng().choice(self.legal))
                else:
                    legal = np.zeros(64, bool)
                    legal[self.legal] = True
                    best = int(np.where(legal, np.asarray(self.probs), -np.inf).argmax())
                self.moves = self._prefix() + [best]
                self.cursor = len(self.moves)

    def step(self, by: int = 1) -> None:
        """Move the cursor through the game line (negative: back)."""
        self.cursor = max(0, min(len(self.moves), self.cursor + by))

    def flip(self, square) -> None:
        """Flip (or un-flip) the disc on ``square`` in the model's board at this position."""
        with self._lock:
            s = _square(square)
            if not self._prefix():
                raise ValueError("play a move first: the model holds no board before the first move")
            if not self._probes:
                raise ValueError("the probes are still being fitted: flip once they are ready")
            if self.board[s] == 0:
                raise ValueError(f"{name(s)} is empty: only a disc can be flipped")
            self.flips = sorted(set(self.flips) ^ {s})
        self._edit()

    def _view_key(self, flips: bool = True) -> tuple:
        """What an edit's result (or, without the flips, saliency's) depends on: a result is shown only if
        this has not changed."""
        return (tuple(self._prefix()), tuple(self.flips) if flips else (), self.layer, self.encoding, self.method)

    def _edit(self) -> None:
        with self._lock:
            flips, prefix, probes = list(self.flips), self._prefix(), self._probes.get(self.encoding)
            self.edited_probs = []  # never the last edit's numbers under this one's flips
            if not flips or probes is None:
                self.edited_legal = []  # an edit still running sees the flips changed and shows nothing
                return
            layers = list(range(self.layer, self.n_layers))
            settings = {**self._edit_settings, "method": self.method}
            key = self._view_key()
            self.edited_legal = squares(flipped_board(prefix, flips).legal()[0])
        what = f"flipping {', '.join(name(s) for s in flips)}"

        def work(run):
            with self._doing("edit", what):
                targets = flip_targets(probes, [prefix], [flips])
                edit = FlipEdit(probes, layers, targets[0], torch.zeros(1, dtype=torch.long), **settings)
                logits = last_move_logits(self._model, [prefix], edit)[0]
                run.check()
                with self._lock:
                    if self._view_key() == key:
                        self.edited_probs = json_grid(torch.softmax(logits, -1).numpy())
        self._job.start(work, what=what)

    def _residual_at(self, prefix: list[int], layer: int) -> torch.Tensor:
        """``[1, d]``: the residual stream after ``layer`` at the prefix's last move."""
        X, _ = residuals(self._model, np.asarray([prefix]), [layer], progress=False)
        return X[-1:, 0]

    def compute_saliency(self) -> None:
        """The latent saliency of the predicted move at this position (in the background)."""
        with self._lock:
            prefix, probes = self._prefix(), self._probes.get(self.encoding)
            if not prefix or probes is None:
                raise ValueError("latent saliency needs a move played and fitted probes")
            layers = list(range(self.layer, self.n_layers))
            settings = {**self._edit_settings, "method": self.method}
            key = self._view_key(flips=False)

        def work(run):
            with self._doing("saliency", "latent saliency"):
                move, values = latent_saliency(self._model, probes, prefix, layers, **settings)
                with self._lock:
                    if self._view_key(flips=False) == key:
                        self.saliency = {"move": move, "values": json_grid(values)}
        self._saliency_job.start(work, what="latent saliency")

    # ------------------------------------------------------------------ the view's requests
    def _respond(self, method: str, args: dict) -> tuple[dict, list]:
        """As the base's; and a move (or flip) that works clears the message of a refused one, whatever
        square that was (the base clears only a failure of the very same request)."""
        reply = super()._respond(method, args)
        source = self._error_source
        if "error" not in reply[0] and source is not None and source.startswith(method + "{"):
            self._resolved(source)
        return reply

    @serves("play")
    def _play(self, square: int) -> dict:
        self.play(square)
        return {"cursor": self.cursor}

    @serves("flip")
    def _flip(self, square: int) -> dict:
        self.flip(square)
        return {"flips": self.flips}

    @serves("saliency")
    def _saliency(self) -> dict:
        self.compute_saliency()
        return {}


class OthelloView(ipywidgets.VBox):
    """Othello-GPT, seen and edited: ``OthelloView(model, moves=None)``.

    The board plays (click an empty legal square; or give ``moves``, a game to step through with the
    arrows), and shows the model's next-move probabilities on the squares. Beside it, the board a linear
    probe reads from the residual stream after the chosen ``layer`` (slider), in ``"relative"``
    (mine/theirs/empty) or ``"colour"`` (black/white/empty) terms, with the squares where it is wrong
    marked. A click on a disc of that board flips it in the model's representation (at that layer and the
    ones after, each with its own probe; ``method`` ``"vector"``, the linear probe's direction, by default: on
    the shipped model it removes errors where the paper's ``"gradient"`` steps do not, and it is immediate):
    the predicted moves are redrawn, with the legal moves of the flipped board outlined. The model can play a colour
    (``opponent``); latent saliency on demand; the probes' held-out accuracy by layer below (plotly).

    ``probes``: :class:`~interpwidgets.othello.BoardProbes` of every layer (linear, and MLP ones shown in
    the chart); by default linear probes of both encodings are fitted on ``probe_games`` games in the
    background.

    Examples
    --------
    >>> from interpwidgets.worlds.othello import load
    >>> view = OthelloView(load(), "d3 c5 f6", probe_games=40, background=False)
    >>> view.board.play("F5"); view.board.cursor
    4
    >>> len(view.board.decoded)
    64
    """

    def __init__(self, model, moves=None, probes=None, *, layer: int | None = None, encoding: str = "relative",
                 method: str = "vector", probe_games: int = 300, edit_settings: Mapping | None = None,
                 background: bool = True):
        self.board = OthelloBoard(model, moves, probes, layer=layer, encoding=encoding, method=method,
                                  probe_games=probe_games, edit_settings=edit_settings, background=background)
        self.figure = self._figure()
        self._drawing = threading.Lock()
        self.board.observe(self._redraw, names=["accuracy", "layer", "encoding"])
        self._redraw()
        super().__init__([self.board, self.figure])

    def wait(self, timeout: float | None = None) -> OthelloView:
        self.board.wait(timeout)
        return self

    def _figure(self):
        import plotly.graph_objects as go

        fig = go.FigureWidget()
        fig.update_xaxes(title_text="layer (residual stream after it)", dtick=1)
        fig.update_yaxes(title_text="held-out accuracy (all squares, every move)", tickformat=".0%")
        fig.update_layout(height=330, width=720, margin=dict(l=70, r=20, t=50, b=50),
                          title=dict(text="board probes by layer", x=0.5, font=dict(size=13)),
                          legend=dict(font=dict(size=11)))
        return fig

    def _redraw(self, change=None) -> None:
        with self._drawing:  # the fitting job's thread and the kernel's may both redraw
            acc, fig = self.board.accuracy, self.figure
            with fig.batch_update():
                fig.data = []
                palette = {"relative": "#1f77b4", "colour": "#d62728"}
                names = {"relative": "mine/theirs", "colour": "black/white"}
                for label, values in acc.items():
                    kind, enc = label.split(" ")
                    fig.add_scatter(x=list(range(len(values))), y=values, mode="lines+markers",
                                    name=f"{kind}, {names[enc]}",
                                    line=dict(color=palette[enc], dash="solid" if kind == "linear" else "dot"))
                layer = self.board.layer
                fig.layout.shapes = [dict(type="line", x0=layer, x1=layer, y0=0, y1=1, xref="x", yref="paper",
                                          line=dict(color="#888", dash="dash"))] if acc else []
                fig.layout.annotations = [dict(x=layer, y=1, xref="x", yref="paper", yanchor="bottom",
                                               text=f"shown: layer {layer}", showarrow=False)] if acc else []
                fig.layout.title.text = ("board probes by layer (held-out games)" if acc else
                                         "board probes by layer: fitting…")
