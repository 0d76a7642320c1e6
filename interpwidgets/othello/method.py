"""Othello-GPT's internal board (Li et al. 2023; the linear mine/theirs reading of Nanda et al. 2023):
board probes per layer, edits that flip a square of the board the model holds, and latent saliency.

Encodings of a square: ``"colour"`` (0 empty, 1 black, 2 white) and ``"relative"`` (0 empty, 1 *mine*:
the player to move next, 2 *theirs*). Probes read ``layers.{i}.resid_post`` at every move: the row of
position ``t`` (the model has read moves ``0..t``) is labelled with the board after move ``t``.

Edits act on one position's residual vector at one or more layers, inside the forward pass (engine
``intervene``), each layer with its own probe:

* ``"gradient"`` (the paper's ``mingpt/utils.py: intervene``): Adam on the vector so that the probe reads
  the flipped square (weight 1) and keeps its reading of the other squares (weight ``keep``, 0.2 in the
  paper's code), for ``steps`` steps.
* ``"vector"``: add the linear probe's direction ``w[to] - w[from]`` of each flipped square, just enough
  that its logit margin for the new state is ``strength`` (vector arithmetic on the linear probe).

Examples
--------
>>> from interpwidgets.worlds.othello import load, random_games
>>> model = load()
>>> games = random_games(40, seed=5)
>>> probes = fit_board_probes(model, games[:30], games[30:], encoding="relative", progress=False)
>>> probes.accuracy.shape   # one accuracy per layer, on the held-out games
(6,)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from ..capture import collect, intervene
from ..probes.multitask import MultiTaskProbes, fit_multitask_probes
from ..stats import ratio_bootstrap
from ..worlds.othello.engine import BLACK, Boards, cells, trace
from ..worlds.othello.model import BLOCK_SIZE, SQUARE_OF_TOKEN, check_vocabulary, encode

__all__ = ["ENCODINGS", "CLASS_NAMES", "METHODS", "board_labels", "residuals", "BoardProbes", "fit_board_probes",
           "random_init", "FlipEdit", "last_move_logits", "predicted_set_errors", "intervention_benchmark",
           "Benchmark", "intervention_errors", "latent_saliency", "flipped_board", "flip_targets"]

ENCODINGS = ("colour", "relative")
CLASS_NAMES = {"colour": ("empty", "black", "white"), "relative": ("empty", "mine", "theirs")}
METHODS = ("gradient", "vector")


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


def board_labels(grid: np.ndarray, player: np.ndarray, encoding: str) -> np.ndarray:
    """``int64 [..., 64]`` classes of each square from boards ``grid [..., 8, 8]`` (1 black, -1 white) and
    the player to move ``[...]``."""
    _check_encoding(encoding)
    g = np.asarray(grid).reshape(*np.shape(grid)[:-2], 64).astype(np.int64)
    if encoding == "colour":
        return np.select([g == 1, g == -1], [1, 2], 0)
    mover = np.where(np.asarray(player) == BLACK, 1, -1)[..., None]
    return np.select([g == mover, g == -mover], [1, 2], 0)


def _tokens(games) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.from_numpy(encode(np.asarray(games)[:, :BLOCK_SIZE]))
    return tokens, (tokens != 0).long()


def residuals(model, games, layers: Sequence[int] | None = None, batch_size: int = 128,
              progress: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """The residual stream after each layer at every move of ``games``: ``float32 [rows, layers, d]`` and
    the rows' ``(game, position)`` (``int64 [rows, 2]``), through the engine's ``collect``."""
    check_vocabulary(model)
    layers = list(range(model.config.n_layer)) if layers is None else list(layers)
    tokens, mask = _tokens(games)
    store = collect(model, {"input_ids": tokens, "attention_mask": mask},
                    [f"layers.{i}.resid_post" for i in layers], positions="all", batch_size=batch_size,
                    max_memory=None, progress=progress)
    X = torch.stack([store[f"layers.{i}.resid_post"] for i in layers], 1)
    return X, store.index.numpy()


@dataclass
class BoardProbes:
    """Board probes of one encoding and kind, one per layer, with their held-out accuracy.

    ``accuracy`` ``[layers]`` and ``square_accuracy`` ``[layers, 64]`` are on the validation games (every
    square of every position); ``game_hits`` ``[layers, games]`` (each validation game's positions read
    right, a position counting its share of the 64 squares) and ``game_rows`` ``[games]`` (its positions)
    give the intervals over games.
    """

    encoding: str
    kind: str
    layers: list[int]
    probes: MultiTaskProbes
    accuracy: np.ndarray
    square_accuracy: np.ndarray
    game_hits: np.ndarray = field(repr=False)
    game_rows: np.ndarray = field(repr=False)

    def at(self, layer: int) -> int:
        if layer not in self.layers:
            raise ValueError(f"no probe at layer {layer}: probes were fitted at layers {self.layers}")
        return self.layers.index(layer)

    def logits(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """``[n, d]`` residual vectors at ``layer`` -> ``[n, 64, 3]`` logits (differentiable)."""
        return self.probes.logits(h, (self.at(layer),))

    def decode(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """``[n, 64]`` classes read from ``[n, d]`` residual vectors."""
        with torch.no_grad():
            return self.logits(h, layer).argmax(-1)

    def score(self, model, games, features: tuple | None = None) -> tuple[np.ndarray, ...]:
        """Accuracy on other ``games``: per layer ``[layers]``, per layer and square ``[layers, 64]``; and each
        game's hits ``[layers, games]`` and positions ``[games]``, for :func:`~interpwidgets.stats.ratio_bootstrap`
        (``features``: ``residuals(model, games, self.layers)`` if computed)."""
        games = np.asarray(games)
        X, index = features if features is not None else residuals(model, games, self.layers, progress=False)
        return self._scores(X, _row_labels(games, index, self.encoding), index[:, 0])

    def _scores(self, X: torch.Tensor, labels: np.ndarray, game: np.ndarray):
        hit = (self.probes.predict(X) == torch.from_numpy(labels)[:, None]).float().numpy()  # [rows, layers, 64]
        counts = np.bincount(game)
        hits = np.stack([np.bincount(game, hit[:, j].mean(-1), minlength=len(counts))
                         for j in range(len(self.layers))])
        return hit.mean((0, 2)), hit.mean(0), hits[:, counts > 0], counts[counts > 0]

    def interval(self, layer: int, n_boot: int = 2000) -> tuple[float, float, float]:
        """Accuracy at ``layer`` (as ``accuracy``: pooled over positions) with its 95% bootstrap interval,
        the validation games resampled."""
        mean, lo, hi = ratio_bootstrap(self.game_hits[self.at(layer)], self.game_rows, n_boot)
        return float(mean), float(lo), float(hi)


def fit_board_probes(model, fit_games, val_games, *, encoding: str = "relative", kind: str = "linear",
                     layers: Sequence[int] | None = None, hidden: int = 128, epochs: int = 8,
                     features: tuple | None = None, progress: bool = True, seed: int = 0) -> BoardProbes:
    """Fit a board probe (64 squares x 3 classes; ``kind="linear"`` or ``"mlp"`` with ``hidden`` units, the
    paper's two probes) at each layer on every move of ``fit_games``, scored on every move of ``val_games``.
    ``features`` may pass ``residuals(model, fit + val games)`` computed once for several probes."""
    _check_encoding(encoding)
    if kind not in ("linear", "mlp"):
        raise ValueError(f"kind must be 'linear' or 'mlp', got {kind!r}")
    fit_games, val_games = np.asarray(fit_games), np.asarray(val_games)
    games = np.concatenate([fit_games, val_games])
    layers = list(range(model.config.n_layer)) if layers is None else list(layers)
    X, index = features if features is not None else residuals(model, games, layers, progress=progress)
    labels = _row_labels(games, index, encoding)
    val = index[:, 0] >= len(fit_games)
    split = (torch.from_numpy(np.flatnonzero(~val)), torch.from_numpy(np.flatnonzero(val)))
    probes = fit_multitask_probes(X, torch.from_numpy(labels), classes=3, hidden=hidden if kind == "mlp" else 0,
                                  split=split, epochs=epochs, seed=seed, progress=progress)
    out = BoardProbes(encoding, kind, layers, probes, *(np.zeros(0),) * 4)
    out.accuracy, out.square_accuracy, out.game_hits, out.game_rows = out._scores(
        X[split[1]], labels[split[1]], index[split[1].numpy(), 0] - len(fit_games))
    return out


def _row_labels(games: np.ndarray, index: np.ndarray, encoding: str) -> np.ndarray:
    """The board after move ``t`` for each row ``(game, t)`` of :func:`residuals`, in ``encoding``."""
    tr = trace(games)
    return board_labels(tr.grid, tr.player, encoding)[index[:, 0], index[:, 1] + 1]


def random_init(model, seed: int = 1):
    """A model of the same class and config with freshly initialized weights (the control of the paper's
    probes): whatever a probe reads from it, the architecture and the inputs give, not training."""
    with torch.random.fork_rng(devices=[]):  # seeded, and the caller's random state left as it was
        torch.manual_seed(seed)
        out = type(model)(model.config).eval()
    out.loss_type = getattr(model, "loss_type", None)
    return out


# ---------------------------------------------------------------------------------------------- edits

@dataclass
class FlipEdit:
    """An edit that makes the model's board read ``targets`` (``{square: class}``) at the last position of
    each row (``positions [b]``), at ``layers`` (each with its own probe), by ``method``.

    ``targets`` may be one dict for every row or one per row. Use as the edit of ``intervene``:
    ``edit.sites()`` maps each layer's site to its hook.
    """

    probes: BoardProbes
    layers: Sequence[int]
    targets: dict | Sequence[dict]
    positions: torch.Tensor
    method: str = "gradient"
    steps: int = 1000
    lr: float = 1e-3
    keep: float = 0.2
    strength: float = 4.0
    sizes: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method == "vector" and self.probes.kind != "linear":
            raise ValueError("the vector edit adds a linear probe's directions: give linear probes")
        for layer in self.layers:
            self.probes.at(layer)
        self.positions = torch.as_tensor(self.positions, dtype=torch.long)

    def _rows_targets(self, b: int) -> list[dict]:
        t = self.targets
        rows = [t] * b if isinstance(t, dict) else list(t)
        if len(rows) != b:
            raise ValueError(f"{len(rows)} target boards for a batch of {b} rows")
        return rows

    def sites(self) -> dict:
        return {f"layers.{layer}.resid_post": self._hook(layer) for layer in self.layers}

    def _hook(self, layer: int):
        def edit(t: torch.Tensor, ctx) -> torch.Tensor:
            rows = torch.arange(t.shape[0])
            h = t[rows, self.positions].float()
            new = self.apply(h, layer)
            out = t.clone()
            out[rows, self.positions] = new.to(t.dtype)
            return out
        return edit

    def apply(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """Edit ``[b, d]`` residual vectors at ``layer``; ``sizes[layer]`` keeps each row's ``|edit| / |h|``."""
        targets = self._rows_targets(len(h))
        new = self._vector(h, layer, targets) if self.method == "vector" else self._gradient(h, layer, targets)
        self.sizes[layer] = ((new - h).norm(dim=-1) / h.norm(dim=-1).clamp_min(1e-12)).numpy()
        return new

    def _gradient(self, h: torch.Tensor, layer: int, targets: list[dict]) -> torch.Tensor:
        rows = [i for i, row in enumerate(targets) if row]  # a row with nothing to flip is left as it is
        out = h.detach().clone()
        if not rows:
            return out
        with torch.no_grad():
            goal = self.probes.decode(h[rows], layer).clone()  # [b, 64]: the probe's own reading, as the paper
        weight = torch.full(goal.shape, self.keep)
        for j, i in enumerate(rows):
            for square, cls in targets[i].items():
                goal[j, square] = cls
                weight[j, square] = 1.0
        x = h[rows].detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                loss = F.cross_entropy(self.probes.logits(x, layer).reshape(-1, 3), goal.reshape(-1),
                                       reduction="none").reshape(goal.shape)
                loss = (loss * weight).mean(1).sum()  # each row's own mean: the rows are independent
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        out[rows] = x.detach()
        return out

    def _vector(self, h: torch.Tensor, layer: int, targets: list[dict]) -> torch.Tensor:
        """Along ``w[to] - w[rival]`` (the strongest other class) until ``to`` leads every other class by
        ``strength``: a step or two (a step past one rival can lift the third class)."""
        W, b = self.probes.probes.raw_linear((self.probes.at(layer),))  # [d, 64, 3], [64, 3]
        out = h.clone()
        for i, row in enumerate(targets):
            for square, cls in row.items():
                for _ in range(4):
                    z = out[i] @ W[:, square] + b[square]  # [3]
                    rival = max((c for c in range(3) if c != cls), key=lambda c: float(z[c]))
                    margin = z[cls] - z[rival]
                    if margin >= self.strength - 1e-4:
                        break
                    u = W[:, square, cls] - W[:, square, rival]
                    out[i] = out[i] + (self.strength - margin) / u.dot(u).clamp_min(1e-12) * u
        return out


def last_move_logits(model, prefixes: Sequence[Sequence[int]], edit: FlipEdit | None = None,
                     batch_size: int = 256) -> torch.Tensor:
    """``[n, 64]`` logits of the move after each prefix (square indices, at least one move, at most 59),
    under ``edit`` (its ``positions`` must be each prefix's last index); ``-inf`` on the centre squares."""
    check_vocabulary(model)
    lengths = [len(p) for p in prefixes]
    if min(lengths) < 1 or max(lengths) > BLOCK_SIZE:
        raise ValueError(f"prefixes must hold 1 to {BLOCK_SIZE} moves (the model reads at most {BLOCK_SIZE}); "
                         f"got lengths {min(lengths)} to {max(lengths)}")
    tokens, mask = _tokens(_padded(prefixes))
    last = torch.tensor(lengths) - 1
    device = next(model.parameters()).device
    out = torch.full((len(prefixes), 64), float("-inf"))
    parts: list[FlipEdit] = []
    for i in range(0, len(prefixes), batch_size):
        rows = slice(i, i + batch_size)
        edits = {}
        if edit is not None:
            part = FlipEdit(**{**edit.__dict__, "positions": last[rows], "sizes": {},
                               "targets": edit.targets if isinstance(edit.targets, dict) else edit.targets[rows]})
            parts.append(part)
            edits = part.sites()
        with torch.no_grad(), intervene(model, edits):
            logits = model(input_ids=tokens[rows].to(device), attention_mask=mask[rows].to(device)).logits
        z = logits[torch.arange(len(last[rows])), last[rows]].float().cpu()
        out[rows][:, SQUARE_OF_TOKEN[1:]] = z[:, 1:]  # out[rows] is a view: this writes into out
    if edit is not None:  # the edit's sizes over every row, from the batches' copies
        edit.sizes = {layer: np.concatenate([p.sizes[layer] for p in parts]) for layer in parts[0].sizes}
    return out


def predicted_set_errors(logits: torch.Tensor, legal: np.ndarray) -> np.ndarray:
    """Per row, the errors of the predicted legal-move set against ``legal`` (``bool [n, 64]``): the model's
    top ``k`` moves, ``k`` the number of legal moves, and the errors are the moves predicted and not legal
    plus the legal moves not predicted (the paper's measure, Li et al. 2023 sec. 4.2)."""
    legal = np.asarray(legal, bool)
    order = torch.argsort(logits, dim=-1, descending=True).numpy()
    k = legal.sum(1)
    predicted = np.zeros_like(legal)
    for i in range(len(legal)):
        predicted[i, order[i, :k[i]]] = True
    return (predicted ^ legal).sum(1)


def _padded(prefixes) -> np.ndarray:
    """Prefixes of games as one ``[n, longest]`` array of square indices, ``-1`` after each one's end."""
    games = np.full((len(prefixes), max(1, max(len(p) for p in prefixes))), -1, np.int64)
    for i, p in enumerate(prefixes):
        games[i, :len(p)] = p
    return games


def _last_positions(prefixes) -> tuple[np.ndarray, np.ndarray]:
    """The board (``[n, 64]``, 1 black, -1 white) and the player to move after each prefix, from one trace."""
    tr = trace(_padded(prefixes))
    rows = np.arange(len(prefixes))
    return tr.grid[rows, tr.length].reshape(len(prefixes), 64), tr.player[rows, tr.length]


def flipped_board(game: Sequence[int], squares: Sequence[int]) -> Boards:
    """The position after ``game`` (pass made where due) with the discs on ``squares`` turned over: the
    board an edit asks the model to believe."""
    grid, player = _last_positions([list(game)])
    grid = grid.copy()
    for s in squares:
        if grid[0, s] == 0:
            raise ValueError(f"square {s} is empty: only a disc can be flipped")
        grid[0, s] = -grid[0, s]
    return Boards.from_grid(grid, player)


@dataclass
class Benchmark:
    """Intervention cases: a prefix of a game, one occupied square to flip, the legal moves before and
    after the flip (``bool [n, 64]``)."""

    prefixes: list[list[int]]
    squares: np.ndarray
    legal_before: np.ndarray
    legal_after: np.ndarray

    def __len__(self) -> int:
        return len(self.prefixes)


def intervention_benchmark(games, n: int, seed: int = 0) -> Benchmark:
    """``n`` cases from ``games``: a random game, a random prefix (1 to 59 moves, the game not over), and a
    random occupied square whose flip changes the legal moves and leaves at least one (the paper's
    benchmark asks the same of its cases). One case per game at most, so intervals over cases are over
    games."""
    games = np.asarray(games)
    rng = np.random.default_rng(seed)
    tr = trace(games)
    out = Benchmark([], [], [], [])
    for g in rng.permutation(len(games)):
        if len(out) == n:
            break
        top = min(int(tr.length[g]), BLOCK_SIZE)
        for t in rng.permutation(np.arange(1, top + 1)):
            if tr.legal[g, t] == 0:
                continue
            prefix = [int(m) for m in games[g, :t]]
            grid = tr.grid[g, t].reshape(64)
            before = cells(tr.legal[g, t])
            occupied = np.flatnonzero(grid)
            flipped = np.repeat(grid[None], len(occupied), 0)  # each occupied square flipped, all at once
            flipped[np.arange(len(occupied)), occupied] *= -1
            after_all = cells(Boards.from_grid(flipped, np.full(len(occupied), tr.player[g, t])).legal())
            legal_after = dict(zip(occupied.tolist(), after_all, strict=True))
            for s in rng.permutation(occupied):
                after = legal_after[int(s)]
                if after.any() and (after != before).any():
                    out.prefixes.append(prefix)
                    out.squares.append(int(s))
                    out.legal_before.append(before)
                    out.legal_after.append(after)
                    break
            else:
                continue
            break
    if len(out) < n:
        raise ValueError(f"only {len(out)} cases found in {len(games)} games; give more games")
    return Benchmark(out.prefixes, np.array(out.squares), np.array(out.legal_before), np.array(out.legal_after))


def flip_targets(probes: BoardProbes, prefixes, squares_per_row: Sequence[Sequence[int]]) -> list[dict]:
    """For each row, ``{square: class}`` of the flipped squares in the probes' encoding (a colour flip is
    black <-> white, and so mine <-> theirs)."""
    out = []
    grids, players = _last_positions([list(p) for p in prefixes])
    for grid, player, squares in zip(grids, players, squares_per_row, strict=True):
        labels = board_labels(grid.reshape(8, 8), player, probes.encoding)
        row = {}
        for s in squares:
            if labels[s] == 0:
                raise ValueError(f"square {s} is empty: only a disc can be flipped")
            row[int(s)] = 3 - int(labels[s])  # 1 <-> 2
        out.append(row)
    return out


def intervention_errors(model, probes: BoardProbes, bench: Benchmark, layers: Sequence[int],
                        method: str = "gradient", **settings) -> dict[str, np.ndarray]:
    """Errors of the predicted legal-move set per case (:func:`predicted_set_errors`): ``"edit"`` (with the
    flip, against the flipped board's legal moves), ``"none"`` (no edit, against the flipped board's: the
    baseline the edit must beat) and ``"none_original"`` (no edit, against the original board's); and
    ``"size"``, the edit's ``|change| / |h|`` at the first edited layer (its cost)."""
    targets = flip_targets(probes, bench.prefixes, [[s] for s in bench.squares])
    plain = last_move_logits(model, bench.prefixes)
    edit = FlipEdit(probes, list(layers), targets, torch.zeros(len(bench), dtype=torch.long), method, **settings)
    edited = last_move_logits(model, bench.prefixes, edit)
    return {"edit": predicted_set_errors(edited, bench.legal_after),
            "none": predicted_set_errors(plain, bench.legal_after),
            "none_original": predicted_set_errors(plain, bench.legal_before),
            "size": edit.sizes[min(layers)]}


def latent_saliency(model, probes: BoardProbes, prefix: Sequence[int], layers: Sequence[int],
                    method: str = "gradient", move: int | None = None, **settings) -> tuple[int, np.ndarray]:
    """The predicted move (or ``move``) after ``prefix`` and, per square, how much its logit falls when the
    square's disc is flipped in the model's board (``float [64]``, NaN on empty squares): the squares the
    prediction rests on have large values."""
    plain = last_move_logits(model, [list(prefix)])[0]
    move = int(plain.argmax()) if move is None else int(move)
    tr = trace(np.asarray([list(prefix)]))
    occupied = [int(s) for s in np.flatnonzero(tr.grid[0, int(tr.length[0])].reshape(64))]
    targets = flip_targets(probes, [prefix] * len(occupied), [[s] for s in occupied])
    edit = FlipEdit(probes, list(layers), targets, torch.zeros(len(occupied), dtype=torch.long), method, **settings)
    edited = last_move_logits(model, [list(prefix)] * len(occupied), edit)
    out = np.full(64, np.nan)
    out[occupied] = (plain[move] - edited[:, move]).numpy()
    return move, out
