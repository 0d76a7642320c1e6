"""The Othello method on a small random GPT of the paper's vocabulary (what the shipped model learned is
the card's test): board labels, probes fitted and scored by game, the two flip edits doing what they say,
the intervention benchmark's cases, the legal-set errors, and latent saliency's shape."""

import numpy as np
import pytest
import torch

from interpwidgets.othello import (
    board_labels,
    fit_board_probes,
    flip_targets,
    flipped_board,
    intervention_benchmark,
    intervention_errors,
    last_move_logits,
    latent_saliency,
    predicted_set_errors,
    random_init,
    residuals,
)
from interpwidgets.othello.method import FlipEdit
from interpwidgets.probes.multitask import fit_multitask_probes
from interpwidgets.worlds.othello import config, random_games, square, trace


@pytest.fixture(scope="module")
def model():
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(config(2, 2, 32)).eval()


@pytest.fixture(scope="module")
def games():
    return random_games(48, seed=11)


@pytest.fixture(scope="module")
def probes(model, games):
    return fit_board_probes(model, games[:36], games[36:], encoding="relative", epochs=2, progress=False)


def test_board_labels_in_both_encodings():
    tr = trace(np.array([[square("D3")]]))
    start, after = tr.grid[0, 0], tr.grid[0, 1]  # white to move after black's D3
    colour = board_labels(start, tr.player[0, 0], "colour")
    assert colour[square("D4")] == 2 and colour[square("D5")] == 1 and colour[0] == 0  # white, black, empty
    mine = board_labels(after, tr.player[0, 1], "relative")  # white moves: white's discs are "mine"
    assert mine[square("E5")] == 1 and mine[square("D3")] == 2 and mine[square("D4")] == 2
    with pytest.raises(ValueError, match="encoding must be one of"):
        board_labels(start, 0, "parity")


def test_residual_rows_are_every_move_of_every_game(model, games):
    X, index = residuals(model, games[:3], progress=False)
    lengths = np.minimum((games[:3] >= 0).sum(1), 59)
    assert X.shape == (lengths.sum(), 2, 32)
    assert (np.bincount(index[:, 0]) == lengths).all() and index[:, 1].max() == 58


def test_probes_are_scored_on_the_held_out_games_per_game(model, games, probes):
    assert probes.accuracy.shape == (2,) and probes.square_accuracy.shape == (2, 64)
    assert probes.game_hits.shape == (2, 12)  # one per validation game
    acc, by_square, hits, rows = probes.score(model, games[36:])
    np.testing.assert_allclose(acc, probes.accuracy, atol=1e-6)
    np.testing.assert_allclose(by_square.mean(1), acc, atol=1e-6)  # every square counts once per position
    assert (rows == np.minimum((games[36:] >= 0).sum(1), 59)).all()  # the rows of each validation game
    assert (hits <= rows).all() and hits[1].sum() / rows.sum() == pytest.approx(acc[1], abs=1e-6)
    mean, lo, hi = probes.interval(1)
    assert lo < mean < hi and mean == pytest.approx(probes.accuracy[1], abs=1e-6)  # the same number as shown
    with pytest.raises(ValueError, match="no probe at layer 5"):
        probes.at(5)


def test_the_mlp_probe_reads_what_a_linear_one_cannot():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(6000, 1, 4, generator=g)
    y = ((X[:, 0, 0] > 0) ^ (X[:, 0, 1] > 0)).long()[:, None]  # XOR: no line separates it
    split = (torch.arange(5000), torch.arange(5000, 6000))
    linear = fit_multitask_probes(X, y, split=split, epochs=6, progress=False)
    mlp = fit_multitask_probes(X, y, hidden=32, split=split, epochs=6, lr=1e-2, progress=False)
    assert linear.metrics["val_accuracy"].item() < 0.6 < 0.9 < mlp.metrics["val_accuracy"].item()
    W, b = linear.raw_linear((0,))  # the linear probe as a map of the raw features
    torch.testing.assert_close(X[:5, 0] @ W.reshape(4, -1) + b.reshape(-1), linear.logits(X[:5])[:, 0].reshape(5, -1))
    with pytest.raises(ValueError, match="for linear probes"):
        mlp.raw_linear((0,))


def _h(model, game, layer):
    X, _ = residuals(model, game[None], [layer], progress=False)
    return X[-1:, 0]


def test_the_vector_edit_sets_the_squares_margin(model, games, probes):
    game = games[0][:10]
    h = _h(model, game, 1)
    s = int(np.flatnonzero(trace(game[None]).grid[0, 10].reshape(64))[0])
    target = flip_targets(probes, [list(game)], [[s]])[0]
    edit = FlipEdit(probes, [1], target, torch.zeros(1, dtype=torch.long), "vector", strength=3.0)
    new = edit.apply(h, 1)
    z = probes.logits(new, 1)[0, s]
    cls = target[s]
    rival = max(float(z[c]) for c in range(3) if c != cls)
    assert float(z[cls]) - rival >= 3.0 - 1e-3  # the new state leads every other one by the strength
    assert probes.decode(new, 1)[0, s] == cls and edit.sizes[1][0] > 0


def test_the_gradient_edit_flips_the_square_and_keeps_the_rest(model, games, probes):
    game = games[1][:20]
    h = _h(model, game, 1)
    before = probes.decode(h, 1)[0]
    occupied = np.flatnonzero(trace(game[None]).grid[0, 20].reshape(64))
    s = int(occupied[np.flatnonzero(before[occupied].numpy() > 0)[0]])  # a disc the probe reads as a disc
    target = {s: 3 - int(before[s])}
    new = FlipEdit(probes, [1], target, torch.zeros(1, dtype=torch.long), "gradient", steps=300, lr=5e-2).apply(h, 1)
    after = probes.decode(new, 1)[0]
    assert after[s] == target[s]
    assert (after != before).sum() <= 4  # the square, and few others
    with pytest.raises(ValueError, match="method must be one of"):
        FlipEdit(probes, [1], target, torch.zeros(1, dtype=torch.long), "magic")


def test_an_edit_changes_the_prediction_through_the_engine(model, games, probes):
    prefixes = [list(games[2][:15]), list(games[3][:30])]
    plain = last_move_logits(model, prefixes)
    s = int(np.flatnonzero(trace(np.array([prefixes[0]])).grid[0, 15].reshape(64))[0])
    targets = flip_targets(probes, prefixes[:1], [[s]]) + [{}]  # the second row asks for no flip
    for method, settings in (("vector", {"strength": 20.0}), ("gradient", {"steps": 50, "lr": 0.05})):
        edit = FlipEdit(probes, [1], targets, torch.zeros(2, dtype=torch.long), method, **settings)
        edited = last_move_logits(model, prefixes, edit)
        assert not torch.allclose(plain[0], edited[0])
        torch.testing.assert_close(edited[1], plain[1])  # rows do not mix, and a row without a flip is left alone
        assert edit.sizes[1][1] == 0 and edit.sizes[1][0] > 0
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())  # hooks removed


def test_predicted_set_errors_count_both_ways():
    logits = torch.full((1, 64), -5.0)
    logits[0, [1, 2, 3]] = torch.tensor([3.0, 2.0, 1.0])
    legal = np.zeros((1, 64), bool)
    legal[0, [1, 2, 9]] = True  # top-3 predicted {1, 2, 3}: 3 is wrong, 9 is missed
    assert predicted_set_errors(logits, legal).tolist() == [2]
    legal[0, 9], legal[0, 3] = False, True
    assert predicted_set_errors(logits, legal).tolist() == [0]


def test_benchmark_cases_flip_a_disc_that_changes_the_legal_moves():
    games = random_games(60, seed=12)
    bench = intervention_benchmark(games, 20, seed=3)
    assert len(bench) == 20 and len({tuple(p[:5]) for p in bench.prefixes}) > 15
    for prefix, s, before, after in zip(bench.prefixes, bench.squares, bench.legal_before, bench.legal_after,
                                       strict=True):
        grid = trace(np.array([prefix])).grid[0, len(prefix)].reshape(64)
        assert grid[s] != 0 and (before != after).any() and after.any()
        assert (after == np.unpackbits(flipped_board(prefix, [s]).legal().view(np.uint8), bitorder="little")
                .astype(bool)).all()
    with pytest.raises(ValueError, match="give more games"):
        intervention_benchmark(games[:2], 10)
    with pytest.raises(ValueError, match="is empty"):
        flipped_board([square("D3")], [0])


def test_intervention_errors_and_saliency_shapes(model, games, probes):
    bench = intervention_benchmark(games, 6, seed=0)
    e = intervention_errors(model, probes, bench, [1], "vector", strength=4.0)
    assert set(e) == {"edit", "none", "none_original", "size"} and all(len(v) == 6 for v in e.values())
    prefix = list(games[4][:12])
    move, values = latent_saliency(model, probes, prefix, [1], "vector")
    grid = trace(np.array([prefix])).grid[0, 12].reshape(64)
    assert np.isnan(values[grid == 0]).all() and np.isfinite(values[grid != 0]).all()
    assert move == int(last_move_logits(model, [prefix])[0].argmax())


def test_the_control_model_is_the_same_shape_freshly_drawn(model):
    twin = random_init(model)
    assert type(twin) is type(model) and twin.config.n_layer == model.config.n_layer
    assert not torch.equal(twin.transformer.wte.weight, model.transformer.wte.weight)
