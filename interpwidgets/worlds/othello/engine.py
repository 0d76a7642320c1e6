"""Othello on 64-bit bitboards, vectorized over many games at once (numpy ``uint64``).

Squares are numbered ``row * 8 + col`` (0-based): rows ``A`` to ``H`` from the top, columns ``1`` to ``8``
from the left, as the Othello-GPT paper names them (``"D3"``: row D, the fourth, column 3, square
``3 * 8 + 2 = 26``). The game starts with white on D4 and E5, black on D5 and E4, and black to move. A
player with no legal move passes; the game ends when neither has one. A game is recorded as its moves only
(passes are implied: the player to move after a pass is the one who has a legal move),
as the paper's synthetic games are.

Legal moves and flips are the classic bitboard fills: in each of the eight directions, a run of the
opponent's discs that starts next to the square and ends on one of the mover's.

Examples
--------
>>> b = Boards.start(1)
>>> [name(s) for s in squares(b.legal()[0])]
['C4', 'D3', 'E6', 'F5']
>>> b = b.play(np.array([square("D3")]))
>>> b.counts()
(array([4]), array([1]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Boards", "Trace", "square", "name", "squares", "cells", "random_games", "replay", "trace", "parse_game",
           "BLACK", "WHITE"]

BLACK, WHITE = 0, 1  # the player to move
_U = np.uint64
_ALL = _U(0xFFFFFFFFFFFFFFFF)
_NOT_COL1 = _U(0xFEFEFEFEFEFEFEFE)  # every square but column 1 (where an eastward shift wraps in)
_NOT_COL8 = _U(0x7F7F7F7F7F7F7F7F)  # every square but column 8
# (shift, mask after the shift): east, west, south, north and the four diagonals
_DIRECTIONS = ((1, _NOT_COL1), (-1, _NOT_COL8), (8, _ALL), (-8, _ALL),
               (9, _NOT_COL1), (7, _NOT_COL8), (-7, _NOT_COL1), (-9, _NOT_COL8))


def _shift(b: np.ndarray, step: int, mask: np.uint64) -> np.ndarray:
    return ((b << _U(step)) if step > 0 else (b >> _U(-step))) & mask


def square(label: str) -> int:
    """``"D3"`` -> 26."""
    if len(label) != 2 or label[0].upper() not in "ABCDEFGH" or label[1] not in "12345678":
        raise ValueError(f"square {label!r}: give a row A-H and a column 1-8, e.g. 'D3'")
    return "ABCDEFGH".index(label[0].upper()) * 8 + int(label[1]) - 1


def name(index: int) -> str:
    """26 -> ``"D3"``."""
    if not 0 <= int(index) < 64:
        raise ValueError(f"square {index}: squares are 0 to 63")
    return "ABCDEFGH"[int(index) // 8] + str(int(index) % 8 + 1)


def squares(bits) -> list[int]:
    """The squares set in a bitboard, in increasing order."""
    bits = int(bits)
    return [i for i in range(64) if bits >> i & 1]


def cells(bits) -> np.ndarray:
    """``bool [..., 64]``: the squares set in each bitboard of ``bits`` (``uint64 [...]``)."""
    bits = np.asarray(bits, _U)
    flat = np.unpackbits(bits.reshape(-1).view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    return flat.reshape(*bits.shape, 64).astype(bool)


def _bits(index: np.ndarray) -> np.ndarray:
    return np.left_shift(_U(1), np.asarray(index).astype(_U))


@dataclass(frozen=True)
class Boards:
    """``n`` positions: ``mine`` and ``theirs`` the discs of the player to move and of the other (``uint64
    [n]``), ``player`` who is to move (``BLACK`` or ``WHITE``, ``int8 [n]``)."""

    mine: np.ndarray
    theirs: np.ndarray
    player: np.ndarray

    @classmethod
    def start(cls, n: int) -> Boards:
        black = _U((1 << square("D5")) | (1 << square("E4")))
        white = _U((1 << square("D4")) | (1 << square("E5")))
        return cls(np.full(n, black, _U), np.full(n, white, _U), np.zeros(n, np.int8))

    def legal(self) -> np.ndarray:
        """The legal moves of the player to move, a bitboard per position."""
        empty = ~(self.mine | self.theirs)
        moves = np.zeros_like(self.mine)
        for step, mask in _DIRECTIONS:
            run = _shift(self.mine, step, mask) & self.theirs
            for _ in range(5):  # a run is at most six discs long
                run |= _shift(run, step, mask) & self.theirs
            moves |= _shift(run, step, mask) & empty
        return moves

    def flips(self, moves: np.ndarray) -> np.ndarray:
        """The discs each move (a square index per position) turns over."""
        m = _bits(moves)
        out = np.zeros_like(self.mine)
        for step, mask in _DIRECTIONS:
            run = _shift(m, step, mask) & self.theirs
            x = run
            for _ in range(5):
                x = _shift(x, step, mask) & self.theirs
                run |= x
            closed = (_shift(run | m, step, mask) & ~run & self.mine) != 0  # the run ends on one of ours
            out |= np.where(closed, run, _U(0))
        return out

    def play(self, moves: np.ndarray) -> Boards:
        """Each position after its move (a square index); the other player is then to move. A move that is
        not legal is a ValueError naming the first one."""
        moves = np.asarray(moves)
        if moves.shape != self.mine.shape:
            raise ValueError(f"give one move per position: {moves.shape} moves for {self.mine.shape} positions")
        bad = (self.legal() & _bits(moves)) == 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"position {i}: {name(moves[i])} is not a legal move (legal: "
                             f"{[name(s) for s in squares(self.legal()[i])]})")
        f = self.flips(moves)
        return Boards(self.theirs & ~f, self.mine | f | _bits(moves), 1 - self.player)

    @classmethod
    def from_grid(cls, grid: np.ndarray, player) -> Boards:
        """Positions from boards ``[n, 64]`` (1 black, -1 white, 0 empty) and the players to move ``[n]``."""
        weights = np.left_shift(_U(1), np.arange(64, dtype=_U))
        grid = np.asarray(grid).reshape(-1, 64)
        black = np.where(grid == 1, weights, _U(0)).sum(1, dtype=_U)
        white = np.where(grid == -1, weights, _U(0)).sum(1, dtype=_U)
        mover_black = np.asarray(player) == BLACK
        return cls(np.where(mover_black, black, white), np.where(mover_black, white, black),
                   np.asarray(player, np.int8))

    def passed(self) -> Boards:
        """The same discs with the other player to move."""
        return Boards(self.theirs, self.mine, 1 - self.player)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Black's and white's discs per position."""
        mine, theirs = cells(self.mine).sum(-1), cells(self.theirs).sum(-1)
        black = np.where(self.player == BLACK, mine, theirs)
        return black, mine + theirs - black

    def grid(self) -> np.ndarray:
        """``int8 [n, 8, 8]``: 1 black, -1 white, 0 empty."""
        sign = np.where(self.player == BLACK, 1, -1).astype(np.int8)[:, None, None]
        board = cells(self.mine).astype(np.int8) - cells(self.theirs).astype(np.int8)
        return board.reshape(-1, 8, 8) * sign


def _choose(legal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random set square of each (non-zero) bitboard."""
    legal_cells = cells(legal)
    return np.argmax(np.where(legal_cells, rng.random(legal_cells.shape), -1.0), axis=1)


def random_games(n: int, seed: int = 0) -> np.ndarray:
    """``n`` games of uniformly random legal moves: ``int8 [n, 60]`` square indices, ``-1`` after a game
    that ended early (both players without a move)."""
    rng = np.random.default_rng(seed)
    boards, out = Boards.start(n), np.full((n, 60), -1, np.int8)
    for ply in range(60):
        boards, legal = _resolve_passes(boards)
        live = legal != 0
        if not live.any():
            break
        moves = np.where(live, _choose(np.where(live, legal, _U(1)), rng), 0)
        sub = Boards(boards.mine[live], boards.theirs[live], boards.player[live]).play(moves[live])
        mine, theirs, player = boards.mine.copy(), boards.theirs.copy(), boards.player.copy()
        mine[live], theirs[live], player[live] = sub.mine, sub.theirs, sub.player
        boards = Boards(mine, theirs, player)
        out[live, ply] = moves[live]
    return out


def replay(game) -> list[Boards]:
    """The start and the position after each move of one game (a sequence of square indices; ``-1`` ends
    it). Where the player to move has no legal move, the other plays the next move (a pass)."""
    b = Boards.start(1)
    out = [b]
    for move in game:
        if move < 0:
            break
        if b.legal()[0] == 0:
            b = b.passed()
        b = b.play(np.array([move]))
        out.append(b)
    return out


@dataclass(frozen=True)
class Trace:
    """Every position of ``n`` games: index ``t`` is the position after ``t`` moves, with a pass already
    made where the player to move had no legal move (so ``player`` is who plays move ``t + 1``).
    ``grid`` ``int8 [n, 61, 8, 8]`` (1 black, -1 white, 0 empty), ``player`` ``int8 [n, 61]``, ``legal``
    ``uint64 [n, 61]`` (the next move's legal squares; 0 once the game is over), ``length`` ``[n]``."""

    grid: np.ndarray
    player: np.ndarray
    legal: np.ndarray
    length: np.ndarray

    def legal_mask(self) -> np.ndarray:
        """``bool [n, 61, 64]``: the legal squares of each next move."""
        return cells(self.legal)


def _resolve_passes(boards: Boards) -> tuple[Boards, np.ndarray]:
    """Hand the move to the other player where the player to move has none and the other has one (where
    neither has, the game is over and the turn stays as the moves alternate); the legal moves after."""
    legal = boards.legal()
    stuck = legal == 0
    if not stuck.any():
        return boards, legal
    other = boards.passed()
    other_legal = other.legal()
    passes = stuck & (other_legal != 0)
    boards = Boards(np.where(passes, other.mine, boards.mine), np.where(passes, other.theirs, boards.theirs),
                    np.where(passes, other.player, boards.player).astype(np.int8))
    return boards, np.where(passes, other_legal, legal)


def trace(games) -> Trace:
    """Replay ``games`` (``[n, 60]`` square indices, ``-1`` after the end) all at once. An illegal move is a
    ValueError that names the game, the move number and the square."""
    games = np.atleast_2d(np.asarray(games)).astype(np.int64)
    n = len(games)
    if games.ndim != 2 or games.shape[1] > 60:
        raise ValueError(f"games must be [n, at most 60] square indices, not of shape {games.shape}")
    ended = np.maximum.accumulate(games < 0, axis=1)
    if (games < -1).any() or (ended & (games >= 0)).any():
        i, t = np.argwhere((games < -1) | (ended & (games >= 0)))[0]
        raise ValueError(f"game {i}, move {t + 1}: {games[i, t]} after the end or not a square: a game is square "
                         "indices 0 to 63, then -1 to its end")
    grid = np.zeros((n, 61, 8, 8), np.int8)
    player = np.zeros((n, 61), np.int8)
    legal = np.zeros((n, 61), _U)
    length = np.zeros(n, np.int64)
    boards, moves_now = _resolve_passes(Boards.start(n))
    for t in range(61):
        grid[:, t], player[:, t], legal[:, t] = boards.grid(), boards.player, moves_now
        if t == games.shape[1]:
            break
        move = games[:, t]
        live = (move >= 0) & (length == t)
        if not live.any():
            break
        if (move[live] > 63).any():
            i = int(np.flatnonzero(live & (move > 63))[0])
            raise ValueError(f"game {i}, move {t + 1}: {move[i]} is not a square (0 to 63)")
        bad = live & ((moves_now & _bits(np.where(live, move, 0))) == 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"game {i}, move {t + 1}: {name(move[i])} is not legal (legal: "
                             f"{[name(s) for s in squares(moves_now[i])]})")
        sub = Boards(boards.mine[live], boards.theirs[live], boards.player[live]).play(move[live])
        mine, theirs, pl = boards.mine.copy(), boards.theirs.copy(), boards.player.copy()
        mine[live], theirs[live], pl[live] = sub.mine, sub.theirs, sub.player
        boards, moves_now = _resolve_passes(Boards(mine, theirs, pl))
        moves_now = np.where(live, moves_now, _U(0))  # a game that has ended stays over
        length[live] += 1
    return Trace(grid, player, legal, length)


def parse_game(moves) -> list[int]:
    """A game as square indices, from indices, names (``["D3", "C5"]``) or one string (``"d3 c5 f6"``);
    a square that is not one, or a move that is not legal, is a ValueError naming the first such move."""
    if isinstance(moves, str):
        moves = moves.replace(",", " ").split()
    out = []
    for i, m in enumerate(moves):
        try:
            out.append(square(m) if isinstance(m, str) else int(m))
        except (ValueError, KeyError) as err:
            raise ValueError(f"move {i + 1}: {err}") from None
        if not 0 <= out[-1] < 64:
            raise ValueError(f"move {i + 1}: {m!r} is not a square (0 to 63, or a name like 'D3')")
    if len(out) > 60:
        raise ValueError(f"a game has at most 60 moves, got {len(out)}")
    if out:
        try:
            trace(np.asarray([out]))
        except ValueError as err:
            raise ValueError(str(err).removeprefix("game 0, ")) from None
    return out
