"""Batched probes find what was planted, find nothing in noise, and agree with scikit-learn."""

import warnings

import numpy as np
import pytest
import torch

import interpwidgets as iw
from interpwidgets.probes import auc, dice, r2, rmse, train_val_split


def _planted(n=1200, layers=3, heads=4, d=16, seed=0, signal=(1, 2)):
    """Features [n, layers, heads, d] of anisotropic noise; one (layer, head) carries the label along `u`."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    scale = torch.linspace(3.0, 0.2, d)
    X = torch.randn(n, layers, heads, d, generator=g) * scale + 2.0  # offset, like real activations
    u = torch.randn(d, generator=g)
    u /= u.norm()
    X[:, signal[0], signal[1]] += (2 * y - 1)[:, None].float() * 2.5 * u
    return X, y, u


def _cos(a, b):
    return float(a @ b / (a.norm() * b.norm()))


def test_a_planted_direction_is_found():
    X, y, u = _planted()
    res = iw.fit_probes(X, y)
    acc = res.metrics["val_accuracy"]
    assert acc.shape == (3, 4)
    assert res.top(1) == [(1, 2)]
    assert acc[1, 2] > 0.97 and res.metrics["val_auc"][1, 2] > 0.99
    others = acc.flatten()[torch.arange(12) != 6]
    assert others.max() < 0.6  # every other head is at chance
    # the mass-mean shift points along the planted direction; the probe weights separate along it
    assert _cos(res.direction("mass_mean", X, y)[1, 2], u) > 0.98
    w = res.direction("probe")[1, 2]
    assert _cos(w * torch.linspace(3.0, 0.2, 16) ** 2, u) > 0.9  # probe ~ Sigma^-1 u in anisotropic noise
    assert res.direction("random").shape == (3, 4, 16)


def test_shuffled_labels_give_chance():
    X, y, _ = _planted()
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    acc = iw.fit_probes(X, shuffled).metrics["val_accuracy"]
    assert abs(acc.mean() - 0.5) < 0.05 and acc.max() < 0.62


def test_agrees_with_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    X, y, _ = _planted(n=600, layers=2, heads=3, d=12, seed=3, signal=(0, 1))
    X[:, 1, 0] += y[:, None] * 0.4  # a weaker second signal
    res = iw.fit_probes(X, y, l2=0.5, tol=1e-7, max_iter=500)  # the same optimum, tightly
    tr, va = res.train_idx, res.val_idx
    for layer in range(2):
        for head in range(3):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf = LogisticRegression(C=2.0, max_iter=5000, tol=1e-8).fit(X[tr, layer, head], y[tr])
            np.testing.assert_allclose(res.weight[layer, head, :, 0].numpy(), clf.coef_[0], atol=2e-3, rtol=2e-3)
            np.testing.assert_allclose(res.bias[layer, head, 0].item(), clf.intercept_[0], atol=2e-3, rtol=2e-3)
            ours = res.metrics["val_accuracy"][layer, head].item()
            assert abs(clf.score(X[va, layer, head], y[va]) - ours) < 0.5 / len(va)


def test_multiclass_and_per_probe_labels():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(900, 5, 6, generator=g)
    labels = torch.stack([(X[:, i, i] > 0.5).long() + (X[:, i, i] > -0.5).long() for i in range(5)], 1)
    res = iw.fit_probes(X, labels * 10)  # classes 0/10/20 per probe: each probe has its own labels
    assert res.weight.shape == (5, 6, 3) and res.classes.tolist() == [0, 10, 20]
    assert (res.metrics["val_accuracy"] > 0.9).all()
    pred = res.predict(X[:5])
    assert pred.shape == (5, 5) and set(pred.unique().tolist()) <= {0, 10, 20}


def test_ridge_recovers_coefficients():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(500, 2, 4, generator=g)
    coef = torch.tensor([1.0, -2.0, 0.5, 0.0])
    y = X[:, 1] @ coef + 3.0 + 0.01 * torch.randn(500, generator=g)
    res = iw.fit_probes(X, y, kind="ridge", l2=1e-3)
    torch.testing.assert_close(res.weight[1, :, 0], coef, atol=5e-3, rtol=0)
    assert abs(res.bias[1, 0].item() - 3.0) < 5e-3
    assert res.metrics["val_r2"][1] > 0.999 and res.metrics["val_r2"][0] < 0.05
    assert res.metrics["val_rmse"][1] < 0.02


def test_groups_never_straddle_the_split():
    groups = np.repeat(np.arange(50), 4)  # 50 questions, 4 answers each
    labels = np.tile([0, 1, 0, 1], 50)
    tr, va = train_val_split(labels, groups, val_frac=0.2, seed=0)
    assert not set(groups[tr.numpy()]) & set(groups[va.numpy()])
    assert len(va) == 40 and abs(labels[va.numpy()].mean() - 0.5) < 1e-9
    X, y, _ = _planted(n=200)
    res = iw.fit_probes(X, y, groups=np.arange(200) // 4)
    assert not set((res.train_idx // 4).tolist()) & set((res.val_idx // 4).tolist())


def test_save_and_load_round_trip(tmp_path):
    X, y, _ = _planted(n=300)
    res = iw.fit_probes(X, y)
    res.directions["mass_mean"] = res.direction("mass_mean", X, y)
    res.save(tmp_path / "probes.safetensors")
    back = iw.ProbeResult.load(tmp_path / "probes.safetensors")
    assert back.kind == "logistic" and back.l2 == res.l2
    assert torch.equal(back.weight, res.weight) and torch.equal(back.predict(X), res.predict(X))
    assert torch.equal(back.metrics["val_accuracy"], res.metrics["val_accuracy"])
    assert torch.equal(back.direction("mass_mean"), res.directions["mass_mean"])


def test_probes_on_collected_activations_of_a_real_model():
    """End to end on MiniLM: a probe reads from [CLS] whether a sentence is a question. 80 sentences, each
    as a statement and as a question, split by sentence: 32 validation examples, so a probe that reads
    nothing has a chance below 1e-5 of passing 0.9 at any of the 6 layers (the shuffled-label control shows it)."""
    import models

    from interpwidgets.datasets import stdlib_sentences

    stems = [s.rstrip(".").strip() for s in stdlib_sentences(80)]
    texts = [s + "." for s in stems] + [f"Is it true that {s[0].lower() + s[1:]}?" for s in stems]
    labels = torch.tensor([0] * len(stems) + [1] * len(stems))
    groups = np.tile(np.arange(len(stems)), 2)
    store = iw.collect(models.minilm("sdpa"), texts, "layers.*.resid_post", positions=0, progress=False)
    X = store.stack("layers.*.resid_post")
    res = iw.fit_probes(X, labels, groups=groups)
    assert res.metrics["val_accuracy"].shape == (6,) and len(res.val_idx) == 32
    assert res.metrics["val_accuracy"].max() >= 0.9  # measured: 0.94 at layers 3 and 4
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    control = iw.fit_probes(X, shuffled, groups=groups)
    assert control.metrics["val_accuracy"].max() < 0.8


def test_bad_input_is_explained():
    X = torch.randn(20, 3, 4)
    with pytest.raises(ValueError, match="one class"):
        iw.fit_probes(X, torch.zeros(20))
    with pytest.raises(ValueError, match="19 rows"):
        iw.fit_probes(X, torch.zeros(19))
    with pytest.raises(ValueError, match=r"\[n\] or \[n, \*batch\]"):
        iw.fit_probes(X, torch.zeros(20, 2))
    bad = X.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        iw.fit_probes(bad, torch.arange(20) % 2)
    with pytest.raises(ValueError, match="between 1 and the number of probes"):
        iw.fit_probes(X, torch.arange(20) % 2).top(4)


def test_metrics_against_hand_values():
    scores = torch.tensor([[0.1, 0.4, 0.35, 0.8]])
    target = torch.tensor([0, 0, 1, 1])
    assert auc(scores, target).item() == pytest.approx(0.75)
    assert r2(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])).item() == 1.0
    assert rmse(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])).item() == 1.0
    assert dice(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0])).item() == 0.5
