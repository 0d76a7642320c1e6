"""The Othello engine: hand-checked positions, a slow reference implementation on random positions, and the
invariants of random games."""

import numpy as np
import pytest

from interpwidgets.worlds.othello import BLACK, Boards, name, random_games, replay, square, squares

DIRECTIONS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]


def reference_flips(grid: np.ndarray, colour: int, r: int, c: int) -> set[int]:
    """The discs a move at (r, c) turns over, walked square by square (1 black, -1 white, 0 empty)."""
    if grid[r, c]:
        return set()
    out = set()
    for dr, dc in DIRECTIONS:
        run, y, x = [], r + dr, c + dc
        while 0 <= y < 8 and 0 <= x < 8 and grid[y, x] == -colour:
            run.append(y * 8 + x)
            y, x = y + dr, x + dc
        if run and 0 <= y < 8 and 0 <= x < 8 and grid[y, x] == colour:
            out |= set(run)
    return out


def test_the_opening_moves_are_the_known_ones():
    b = Boards.start(1)
    assert [name(s) for s in squares(b.legal()[0])] == ["C4", "D3", "E6", "F5"]
    after = b.play(np.array([square("D3")]))
    assert after.player[0] != BLACK and after.counts() == (np.array([4]), np.array([1]))
    assert [name(s) for s in squares(after.legal()[0])] == ["C3", "C5", "E3"]  # white's replies
    grid = after.grid()[0]
    assert grid[3, 2] == grid[3, 3] == grid[3, 4] == 1 and grid[4, 4] == -1  # D3, D4 (turned), D5 black; E5 white


def test_legal_moves_and_flips_match_a_square_by_square_reference():
    games = random_games(40, seed=1)
    checked = 0
    for game in games:
        for b in replay(game)[::3]:
            grid, colour = b.grid()[0], 1 if b.player[0] == BLACK else -1
            want = {r * 8 + c: reference_flips(grid, colour, r, c) for r in range(8) for c in range(8)}
            assert squares(b.legal()[0]) == sorted(s for s, f in want.items() if f)
            for s in squares(b.legal()[0]):
                assert squares(b.flips(np.array([s]))[0]) == sorted(want[s])
                checked += 1
    assert checked > 1000


def test_random_games_keep_the_rules():
    games = random_games(300, seed=0)
    assert games.shape == (300, 60) and ((games >= -1) & (games < 64)).all()
    assert (random_games(300, seed=0) == games).all() and (random_games(300, seed=1) != games).any()
    ended_early = 0
    for game in games:
        positions = replay(game)
        n = int((game >= 0).sum())
        assert (game[n:] == -1).all() and len(set(game[:n].tolist())) == n  # each square played once
        for before, after in zip(positions, positions[1:], strict=False):
            total0, total1 = sum(before.counts())[0], sum(after.counts())[0]
            assert total1 == total0 + 1  # one disc more, so a move never leaves the board unchanged
            assert (after.mine & after.theirs)[0] == 0
        last = positions[-1]
        if n < 60:  # ended early: neither player can move
            ended_early += 1
            assert last.legal()[0] == 0 and last.passed().legal()[0] == 0
    assert ended_early > 0  # (random games do end early now and then: the check above ran)


def test_a_pass_happens_only_without_a_legal_move():
    games = random_games(300, seed=2)
    passes = 0
    for game in games:
        b = Boards.start(1)
        for move in game[game >= 0]:
            if b.legal()[0] & (1 << int(move)) == 0:  # not the mover's: the player to move must have passed
                assert b.legal()[0] == 0
                b = b.passed()
                passes += 1
            b = b.play(np.array([move]))
    assert passes > 0


def test_bad_moves_and_squares_are_named():
    b = Boards.start(2)
    legal = "\\(legal: \\['C4', 'D3', 'E6', 'F5'\\]\\)"
    with pytest.raises(ValueError, match="position 1: A1 is not a legal move " + legal):
        b.play(np.array([square("D3"), square("A1")]))
    with pytest.raises(ValueError, match="give one move per position"):
        b.play(np.array([26]))
    with pytest.raises(ValueError, match="a row A-H and a column 1-8"):
        square("Z9")
