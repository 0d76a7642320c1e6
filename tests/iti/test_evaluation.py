"""The protocol's parts: bootstrap intervals, truth at matched cost (and paired), the climb over alpha, and the
choice under a KL budget."""

import models
import numpy as np
import pytest
import torch

from interpwidgets.iti import ITI
from interpwidgets.iti.evaluation import Sweep, alpha_ladder, bootstrap, choose, sweep, truth_at_cost


def test_the_cluster_bootstrap_widens_for_correlated_questions():
    """Questions of one creature answered alike: resampling creatures, not questions, gives the honest width."""
    creatures = np.repeat(np.arange(16), 3)
    correct = np.repeat(np.random.default_rng(1).random(16) < 0.5, 3)  # a creature's three questions agree
    _, lo, hi = bootstrap(correct)
    _, glo, ghi = bootstrap(correct, groups=creatures)
    assert (ghi - glo) > 1.4 * (hi - lo)  # ~ sqrt(3) wider: 16 independent units, not 48


def test_random_draws_resampled_widen_the_interval_of_their_mean():
    """The mean of several random draws: the interval counts the spread between draws, not only questions."""
    good, bad = _sweep([0.0, 1.0], [0.0, 0.1]), _sweep([0.0, 0.1], [0.0, 0.1])
    both = truth_at_cost([good, bad], [0.1])
    assert both["truth"] == [0.55]
    assert both["truth_lo"][0] < 0.2 and both["truth_hi"][0] > 0.9  # as far apart as the two draws are


def test_bootstrap_intervals_cover_the_mean_and_narrow_with_more_questions():
    rng = np.random.default_rng(0)
    small, large = rng.random(40) < 0.7, rng.random(4000) < 0.7
    m, lo, hi = bootstrap(small)
    assert m == small.mean() and lo < m < hi
    m2, lo2, hi2 = bootstrap(large)
    assert (hi2 - lo2) < (hi - lo) / 5  # ~ 1/sqrt(n): 10x the questions, ~1/10 the width
    assert 0.68 < lo2 < 0.7 < hi2 < 0.72
    assert bootstrap(small, seed=1)[1] == bootstrap(small, seed=1)[1]  # seeded


def _sweep(rates, kl, n=20):
    """A sweep whose alpha i makes the first rates[i] * n of n questions true."""
    correct = np.array([[q < r * n for q in range(n)] for r in rates])
    return Sweep("mass_mean", 1, [float(a) for a in range(len(rates))], correct, list(kl), [0.4 + 2 * k for k in kl])


def test_truth_at_matched_cost_reads_the_curve_between_alphas():
    s = _sweep([0.0, 0.5, 1.0], [0.0, 0.1, 0.3])
    got = truth_at_cost(s, [0.05, 0.2, 0.5])
    assert got["truth"][:2] == [0.25, 0.75]  # linear between (0.0, 0) and (0.1, 0.5), (0.1, 0.5) and (0.3, 1)
    assert got["truth"][2] is None  # the curve never reached KL 0.5
    assert got["truth_lo"][1] < 0.75 < got["truth_hi"][1]
    rise = truth_at_cost(s, [0.2], cost="ce_rise")  # cross-entropy 0.4 + 2 KL here: a rise of 0.2 is KL 0.1
    assert rise["truth"] == [0.5]
    assert truth_at_cost(s, [1.5], cost="alpha")["truth"] == [0.75]  # equal strength: halfway from alpha 1 to 2
    with pytest.raises(ValueError, match="cost must be one of"):
        truth_at_cost(s, [0.1], cost="KL")
    # paired: a curve against itself differs by exactly nothing, interval included
    same = truth_at_cost(s, [0.05, 0.2], against=s)
    assert same["truth"] == same["truth_lo"] == same["truth_hi"] == [0.0, 0.0]
    # a curve that reaches the same truth at half the cost is ahead at every level
    cheaper = _sweep([0.0, 0.5, 1.0], [0.0, 0.05, 0.15])
    ahead = truth_at_cost(cheaper, [0.05, 0.1], against=s)
    assert ahead["truth"] == [0.25, 0.25] and ahead["truth_lo"][0] > 0
    # several sweeps give their mean
    assert truth_at_cost([s, cheaper], [0.05])["truth"] == [0.375]
    with pytest.raises(ValueError, match="same questions"):
        truth_at_cost(s, [0.1], against=_sweep([0.0, 1.0], [0.0, 0.1], n=7))


@pytest.fixture(scope="module")
def setup():
    model = models.gpt2()
    g = torch.Generator().manual_seed(0)
    iti = ITI.from_activations(torch.randn(200, 2, 4, 8, generator=g), torch.arange(200) % 2, k=2)
    texts = [{"input_ids": list(range(3, 3 + n))} for n in (12, 9, 15, 7)]
    return model, iti, texts


def test_the_climb_passes_the_cap_and_measures_every_rung_where_the_cost_grows(setup):
    model, iti, texts = setup

    def nobody(it, alpha):
        return np.zeros(5, dtype=bool)

    cap = 0.002  # this random little model's KL tops out near 0.01
    s = sweep(model, iti, nobody, texts, kl_cap=cap)
    assert s.alpha[0] == 0 and s.kl[-1] > cap >= max(s.kl[:-1])  # stops at the first rung past the cap
    ladder = alpha_ladder()
    last_negligible = max(a for a, k in zip(s.alpha, s.kl, strict=True) if k < cap / 100)
    fine = [a for a in ladder if last_negligible <= a <= s.alpha[-1]]
    assert [a for a in s.alpha if a >= last_negligible] == fine  # no rung skipped where the KL grows
    assert s.correct.shape == (len(s.alpha), 5)
    fixed = sweep(model, iti, nobody, texts, alphas=[0.0, 3.0])
    assert fixed.alpha == [0.0, 3.0] and fixed.kl[0] == 0


def test_choose_takes_the_best_truth_within_the_budget(setup):
    model, iti, texts = setup

    def true_from_alpha_4(it, alpha):  # every question turns true once alpha reaches 4, whatever K
        return np.full(5, alpha >= 4)

    picked = choose(model, iti, ks=(1, 2), correct=true_from_alpha_4, cost_texts=texts, kl_budget=0.5,
                    kinds=("mass_mean",))["mass_mean"]
    grid = picked["grid"]  # [k, alpha, truth, kl]
    within = [g for g in grid if g[3] <= 0.5]
    best = max(g[2] for g in within)
    assert picked["truth"] == best == 1.0 and picked["kl"] <= 0.5
    assert picked["kl"] == min(g[3] for g in within if g[2] == best)  # the cheapest of the best
    assert picked["alpha"] >= 4
    tight = choose(model, iti, ks=(1, 2), correct=true_from_alpha_4, cost_texts=texts,
                   kl_budget=min(g[3] for g in grid if g[1] >= 4) / 2, kinds=("mass_mean",))["mass_mean"]
    assert tight["truth"] == 0.0 and tight["alpha"] == 0.0  # nothing affordable helps: no edit
    with pytest.raises(ValueError, match="kl_budget must be positive"):
        choose(model, iti, ks=(1,), correct=true_from_alpha_4, cost_texts=texts, kl_budget=0)
