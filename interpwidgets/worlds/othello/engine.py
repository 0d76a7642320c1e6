"""Othello on 64-bit bitboards, vectorized over many games at once (numpy ``uint64``).

Squares are numbered ``row * 8 + col``: rows ``A`` to ``H`` from the top, columns ``1`` to ``8`` from the
left (``"D3"`` is row 3, column 2, square 26), as the Othello-GPT paper names them. The game starts with
white on D4 and E5, black on D5 and E4, and black to move. A player with no legal move passes; the game ends
when neither has one. A game is recorded as its moves only (passes are implied: the player to move after a
pass is the one who has a legal move), as the paper's synthetic games are.

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

__all__ = ["Boards", "square", "name", "squares", "random_games", "replay", "BLACK", "WHITE"]

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

    def passed(self) -> Boards:
        """The same discs with the other player to move."""
        return Boards(self.theirs, self.mine, 1 - self.player)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Black's and white's discs per position."""
        def pop(b):
            return np.unpackbits(b.view(np.uint8).reshape(-1, 8), axis=1).sum(1).astype(np.int64)

        mine, theirs = pop(self.mine), pop(self.theirs)
        black = np.where(self.player == BLACK, mine, theirs)
        return black, mine + theirs - black

    def grid(self) -> np.ndarray:
        """``int8 [n, 8, 8]``: 1 black, -1 white, 0 empty."""
        def cells(b):
            return np.unpackbits(b.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little").reshape(-1, 8, 8)

        sign = np.where(self.player == BLACK, 1, -1).astype(np.int8)[:, None, None]
        return (cells(self.mine).astype(np.int8) - cells(self.theirs).astype(np.int8)) * sign


def _choose(legal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random set square of each (non-zero) bitboard."""
    cells = np.unpackbits(legal.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little").astype(bool)
    return np.argmax(np.where(cells, rng.random(cells.shape), -1.0), axis=1)


def random_games(n: int, seed: int = 0) -> np.ndarray:
    """``n`` games of uniformly random legal moves: ``int8 [n, 60]`` square indices, ``-1`` after a game
    that ended early (both players without a move)."""
    rng = np.random.default_rng(seed)
    boards, out = Boards.start(n), np.full((n, 60), -1, np.int8)
    for ply in range(60):
        legal = boards.legal()
        stuck = legal == 0
        if stuck.any():  # pass where the other player can move; the game is over where neither can
            swapped = Boards(np.where(stuck, boards.theirs, boards.mine), np.where(stuck, boards.mine, boards.theirs),
                             np.where(stuck, 1 - boards.player, boards.player).astype(np.int8))
            boards, legal = swapped, swapped.legal()
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
