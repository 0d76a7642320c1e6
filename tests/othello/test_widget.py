"""OthelloView in Python (the browser test drives the same through Chromium): playing and refusing moves,
stepping through a given game, the probe's board and its encodings, flips and their edited predictions,
the model playing a colour, latent saliency, the accuracy chart, and bad input."""

import numpy as np
import pytest
import torch

from interpwidgets.othello import OthelloView, fit_board_probes, last_move_logits, residuals
from interpwidgets.worlds.othello import Boards, config, random_games, square, squares, trace


@pytest.fixture(scope="module")
def model():
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(config(2, 2, 32)).eval()


@pytest.fixture(scope="module")
def probes(model):
    games = random_games(30, seed=21)
    return [fit_board_probes(model, games[:24], games[24:], encoding=e, epochs=2, progress=False)
            for e in ("relative", "colour")]


@pytest.fixture
def view(model, probes):
    return OthelloView(model, "d3 c5 f6", probes, background=False, edit_settings={"steps": 50, "lr": 5e-2})


def test_a_given_game_steps_and_plays(view):
    b = view.board
    assert b.moves == [square("D3"), square("C5"), square("F6")] and b.cursor == 3
    assert sum(v != 0 for v in b.board) == 7 and b.player == 1  # white to move after three moves
    probs = np.array([0 if p is None else p for p in b.probs])
    assert probs.sum() == pytest.approx(1, abs=1e-3) and b.probs[27] == 0  # no token names a centre square
    b.step(-2)
    assert b.cursor == 1 and sum(v != 0 for v in b.board) == 5
    b.play("C3")  # a new line from move 1: the old moves after it go
    assert b.moves == [square("D3"), square("C3")] and b.cursor == 2


def test_bad_moves_are_refused_with_what_is_legal(view):
    b = view.board
    with pytest.raises(ValueError, match=r"D3 is occupied: play on an empty square \(legal: "):
        b.play("D3")
    with pytest.raises(ValueError, match="A1 is not a legal move for white"):
        b.play("A1")
    with pytest.raises(ValueError, match="squares are 0 to 63"):
        b.play(70)
    assert b.moves == [square("D3"), square("C5"), square("F6")]  # nothing changed
    reply, _ = b._respond("play", {"square": 0})  # from the view: an error reply and the banner
    assert "A1 is not a legal move" in reply["error"] and "A1 is not a legal move" in b.error
    b._respond("play", {"square": b.legal[0]})
    assert b.error == "" and b.cursor == 4


def test_the_probe_board_follows_layer_and_encoding(view, model, probes):
    b = view.board
    assert len(b.decoded) == len(b.truth) == len(b.confidence) == 64
    h = residuals(model, np.array([b.moves]), progress=False)[0][-1:]  # [1, layers, d] at the last move
    by_encoding = {p.encoding: p for p in probes}
    assert b.decoded == by_encoding["relative"].decode(h[:, b.layer], b.layer)[0].tolist()
    b.encoding = "colour"
    tr = trace(np.array([b.moves]))
    truth = tr.grid[0, 3].reshape(64)
    assert b.truth == [0 if v == 0 else 1 if v == 1 else 2 for v in truth]
    assert b.decoded == by_encoding["colour"].decode(h[:, b.layer], b.layer)[0].tolist()
    b.layer = 0
    assert b.decoded == by_encoding["colour"].decode(h[:, 0], 0)[0].tolist()
    with pytest.raises(Exception, match="layer must be 0 to 1"):
        b.layer = 2
    with pytest.raises(Exception, match="encoding must be one of"):
        b.encoding = "parity"
    assert list(view.figure.data[0].x) == [0, 1] and {d.name for d in view.figure.data} == {
        "linear, mine/theirs", "linear, black/white"}


def test_a_flip_edits_the_prediction_and_outlines_the_flipped_boards_moves(view):
    b = view.board
    plain = list(b.probs)
    s = square("D4")  # a white disc after D3 C5 F6? whichever colour: it is a disc
    assert b.board[s] != 0
    b.flip("D4")
    assert b.flips == [s] and len(b.edited_probs) == 64 and b.edited_probs != plain
    grid = trace(np.array([b.moves])).grid[0, 3].reshape(64).copy()
    grid[s] = -grid[s]
    black, white = (np.array([sum(1 << int(i) for i in np.flatnonzero(grid == c))], np.uint64) for c in (1, -1))
    board = Boards(white, black, np.array([1], np.int8))  # the flipped board, built here; white to move
    assert b.edited_legal == squares(board.legal()[0]) and b.edited_legal != b.legal
    b.method = "gradient"  # the other edit (the default is "vector")
    assert len(b.edited_probs) == 64
    b.flip("D4")  # flipping again un-flips
    assert b.flips == [] and b.edited_probs == []
    with pytest.raises(ValueError, match="A1 is empty: only a disc can be flipped"):
        b.flip("A1")
    b.flip("D4")
    b.step(-1)
    assert b.flips == []  # another position: the flips were of the old one


def test_the_model_plays_its_colour(view, model):
    b = view.board
    b.opponent = "black"  # white to move: the user; then the model answers as black
    b.play(b.legal[0])
    before = trace(np.array([b.moves[:4]]))
    legal = squares(before.legal[0, 4])
    probs = torch.softmax(last_move_logits(model, [b.moves[:4]])[0], -1)
    assert b.cursor == 5 and b.player == 1
    assert b.moves[4] == max(legal, key=lambda i: probs[i])  # its most probable legal move
    b.opponent = "none"
    b.cursor = 0
    b.opponent = "black"  # black to move at the start: the model opens
    assert b.cursor == 1 and b.moves[0] in (19, 26, 37, 44) and b.player == 1
    with pytest.raises(Exception, match="opponent must be one of"):
        b.opponent = "both"


def test_saliency_and_an_edit_run_side_by_side(model, probes):
    view = OthelloView(model, "d3 c5 f6", probes, edit_settings={"steps": 300, "lr": 5e-2})
    b = view.board
    b.flip("D4")
    b.compute_saliency()  # started while the edit runs: the edit is not stopped by it
    assert view.wait(120) and len(b.edited_probs) == 64 and b.saliency and b.busy == ""
    b.flip("E5")
    assert b.edited_probs == []  # the new flips never show the old ones' predictions
    view.wait(120)
    assert len(b.edited_probs) == 64 and b.flips == sorted([square("D4"), square("E5")])
    b.flip("C5")
    b.flip("C5")  # undone while its edit runs: that edit's result is not shown
    view.wait(120)
    assert b.flips == sorted([square("D4"), square("E5")]) and len(b.edited_probs) == 64
    b.flips = []
    b.flip("C5")
    b.flip("C5")
    view.wait(120)
    assert b.flips == [] and b.edited_probs == []


def test_a_pass_is_said(model, probes):
    games = random_games(400, seed=3)
    tr = trace(games)
    g, t = next((g, t) for g in range(400) for t in range(1, int(tr.length[g]))
                if tr.player[g, t] == tr.player[g, t - 1] and tr.legal[g, t])
    view = OthelloView(model, [int(m) for m in games[g, :t]], probes, background=False)
    mover, other = ("black", "white") if tr.player[g, t] == 0 else ("white", "black")
    assert view.board.notice == f"{other} has no legal move and passes: {mover} moves again"
    view.board.step(-1)
    assert view.board.notice == ""


def test_latent_saliency_on_demand(view):
    b = view.board
    b.compute_saliency()
    values = b.saliency["values"]
    occupied = [i for i in range(64) if b.board[i] != 0]
    assert all(values[i] is not None for i in occupied) and sum(v is not None for v in values) == len(occupied)
    assert b.saliency["move"] in range(64)
    b.step(-1)
    assert b.saliency == {}  # it was of the old position


def test_before_the_first_move_there_is_nothing_to_read(model, probes):
    view = OthelloView(model, None, probes, background=False)
    b = view.board
    assert b.cursor == 0 and b.probs == [] and b.decoded == [] and sorted(b.legal) == [19, 26, 37, 44]
    with pytest.raises(ValueError, match="play a move first"):
        b.flip("D4")


def test_bad_construction_says_what_is_wrong(model, probes):
    from transformers import GPT2Config, GPT2LMHeadModel

    with pytest.raises(ValueError, match="an Othello-GPT reads 61"):
        OthelloView(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2)), background=False)
    with pytest.raises(ValueError, match="move 2: D3 is not legal"):
        OthelloView(model, "d3 d3", probes, background=False)
    with pytest.raises(TypeError, match="probes must be BoardProbes"):
        OthelloView(model, None, [object()], background=False)
    torch.manual_seed(1)
    wider = GPT2LMHeadModel(config(2, 2, 48)).eval()
    with pytest.raises(ValueError, match="these probes read 32-wide residuals, but this model's are 48 wide"):
        OthelloView(wider, None, probes, background=False)


def test_default_probes_are_fitted_in_the_background(model):
    view = OthelloView(model, "d3", probe_games=12)
    assert view.wait(120).board.probes and view.board.notice == ""
    assert set(view.board.accuracy) == {"linear relative", "linear colour"}
    assert len(view.board.decoded) == 64
