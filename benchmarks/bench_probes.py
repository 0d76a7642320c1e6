"""144 head-wise logistic probes: ``fit_probes`` vs a loop of scikit-learn ``LogisticRegression``.

Features ``[2000, 12, 12, 64]`` float32 (examples x layers x heads x d_head), binary labels. Both
sides fit the same objective (log loss + ``||w||^2 / 2``, i.e. ``C = 1``) on the same stratified
80/20 split (``res.train_idx`` / ``res.val_idx`` of ``fit_probes``) and report validation accuracy.

Synthetic data that looks like attention-head activations (see :func:`make_features`): per head an
anisotropic Gaussian (random rotation times a power-law spectrum), a non-zero mean, an overall scale
of ~3, and a planted label direction whose strength varies across heads, from chance to strong.

Timing includes each side's data reshaping and its validation scoring (``fit_probes`` computes its
metrics itself). Repetitions are interleaved (ours, scikit-learn max_iter=1000, scikit-learn
max_iter=100, rotating), each call after a short idle pause (:data:`PAUSE_S`), and the median and
minimum are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N, LAYERS, HEADS, D_HEAD = 2000, 12, 12, 64
THREADS = 2
# idle time before each timed call: after a scikit-learn loop, BLAS/OpenMP worker threads keep spinning
# for a moment and, on 2 cores, slow whatever torch runs next by ~40%
PAUSE_S = 0.5
SCALE = 3.0  # RMS of a head's centred features
MEAN_STD = 1.5  # per-coordinate std of a head's mean offset
SPECTRUM_EXPONENT = 0.7  # generator singular values k ** -0.7 (covariance eigenvalues k ** -1.4)
# per head: chance (separation 0), weak/moderate, or strong; fractions and separation ranges
STRENGTH_MIX = (("chance", 0.35, (0.0, 0.0)), ("moderate", 0.55, (0.3, 2.0)), ("strong", 0.10, (2.5, 4.0)))


@dataclass
class ProbeData:
    """Features ``[N, LAYERS, HEADS, D_HEAD]``, labels ``[N]`` and each head's planted separation."""

    features: torch.Tensor
    labels: torch.Tensor
    separation: torch.Tensor  # [LAYERS, HEADS] Mahalanobis distance between the class means
    bayes_accuracy: torch.Tensor  # [LAYERS, HEADS] Phi(separation / 2)


def make_features(seed: int = 0, exponent: float = SPECTRUM_EXPONENT,
                  shape: tuple[int, int, int, int] = (N, LAYERS, HEADS, D_HEAD)) -> ProbeData:
    """Synthetic head activations ``[n, layers, heads, d_head]`` (``shape``) with a planted, head-dependent
    label signal.

    Per head ``p``: ``x = A_p z + mu_p + (y - 1/2) * delta_p * u_p`` with ``z ~ N(0, I_d)``,
    ``A_p = SCALE * Q_p diag(s)`` (``Q_p`` a random rotation, ``s_k = k ** -exponent`` normalised to
    RMS 1, so the covariance has eigenvalues ``∝ k ** -(2 * exponent)`` and the features an RMS
    spread of ``SCALE``), ``mu_p ~ N(0, MEAN_STD^2 I)``, ``u_p`` a random unit direction and
    ``delta_p`` chosen so that the Mahalanobis distance between the class means is the head's
    separation ``s_p`` (Bayes accuracy ``Phi(s_p / 2)``). ``s_p`` is 0 (chance) for ~35% of heads,
    uniform in [0.3, 2] for ~55% and in [2.5, 4] for ~10%. Labels are balanced (1000 / 1000).
    """
    g = torch.Generator().manual_seed(seed)
    n, layers, heads, d = shape
    P = layers * heads
    labels = torch.randperm(n, generator=g) % 2
    s = torch.arange(1, d + 1, dtype=torch.float64) ** -exponent
    s = s / s.pow(2).mean().sqrt()
    Q, R = torch.linalg.qr(torch.randn(P, d, d, generator=g, dtype=torch.float64))
    Q = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar-distributed rotation
    A = SCALE * Q * s
    mu = MEAN_STD * torch.randn(P, d, generator=g, dtype=torch.float64)
    u = torch.randn(P, d, generator=g, dtype=torch.float64)
    u = u / u.norm(dim=-1, keepdim=True)
    separation = _draw_separations(P, g)
    cov = A @ A.transpose(1, 2)
    mahalanobis_u = (u * torch.linalg.solve(cov, u.unsqueeze(-1)).squeeze(-1)).sum(-1).sqrt()
    delta = separation / mahalanobis_u  # shift along u giving Mahalanobis distance `separation`
    z = torch.randn(n, P, d, generator=g, dtype=torch.float64)
    sign = (labels.double() - 0.5)[:, None, None]
    X = torch.einsum("pij,npj->npi", A, z) + mu + sign * delta[None, :, None] * u
    bayes = torch.special.ndtr(separation / 2)
    return ProbeData(X.float().reshape(n, layers, heads, d), labels,
                     separation.reshape(layers, heads).float(), bayes.reshape(layers, heads).float())


def _draw_separations(P: int, g: torch.Generator) -> torch.Tensor:
    """Each head's class-mean Mahalanobis distance, drawn from :data:`STRENGTH_MIX`."""
    u = torch.rand(P, generator=g, dtype=torch.float64)
    r = torch.rand(P, generator=g, dtype=torch.float64)
    out = torch.zeros(P, dtype=torch.float64)
    lo_frac = 0.0
    for _, frac, (lo, hi) in STRENGTH_MIX:
        pick = (u >= lo_frac) & (u < lo_frac + frac)
        out[pick] = lo + (hi - lo) * r[pick]
        lo_frac += frac
    return out


# --------------------------------------------------------------------------- the two sides


def fit_ours(data: ProbeData):
    """``fit_probes`` on the 4-D features as they are (it reshapes and scores by itself)."""
    from interpwidgets.probes import fit_probes

    return fit_probes(data.features, data.labels, progress=False)


@dataclass
class SklearnResult:
    """Per-probe validation accuracy ``[P]``, weights ``[P, d]``, biases ``[P]`` and iteration counts."""

    val_accuracy: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    n_iter: np.ndarray
    convergence_warnings: int


def fit_sklearn(data: ProbeData, train_idx: np.ndarray, val_idx: np.ndarray, max_iter: int) -> SklearnResult:
    """One ``LogisticRegression(max_iter=max_iter)`` (lbfgs, C=1) per head, on the given split."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    n, d = data.features.shape[0], data.features.shape[-1]
    X = np.ascontiguousarray(data.features.numpy().reshape(n, -1, d).transpose(1, 0, 2))  # [P, n, d]
    y = data.labels.numpy()
    y_tr, y_va = y[train_idx], y[val_idx]
    acc, coef, icpt, iters = [], [], [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for Xp in X:
            clf = LogisticRegression(max_iter=max_iter).fit(Xp[train_idx], y_tr)
            acc.append(clf.score(Xp[val_idx], y_va))
            coef.append(clf.coef_[0])
            icpt.append(clf.intercept_[0])
            iters.append(clf.n_iter_[0])
    n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    return SklearnResult(np.array(acc), np.array(coef), np.array(icpt), np.array(iters), n_warn)


# --------------------------------------------------------------------------- comparison


def objective(data: ProbeData, train_idx: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-probe ``sum log-loss + ||w||^2 / 2`` on the training split, in float64. ``W`` [P, d], ``b`` [P]."""
    n, d = data.features.shape[0], data.features.shape[-1]
    X = data.features.reshape(n, -1, d)[torch.as_tensor(train_idx)].double()  # [n_train, P, d]
    y = data.labels[torch.as_tensor(train_idx)].double()[:, None]
    z = torch.einsum("npd,pd->np", X, torch.as_tensor(W, dtype=torch.float64)) + torch.as_tensor(b).double()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y.expand_as(z), reduction="none").sum(0)
    return (loss + 0.5 * torch.as_tensor(W, dtype=torch.float64).pow(2).sum(-1)).numpy()


def compare(data: ProbeData, ours, sk: SklearnResult) -> dict:
    """Accuracy agreement and objective gap between our probes and scikit-learn's."""
    tr = ours.train_idx.numpy()
    ours_acc = ours.metrics["val_accuracy"].flatten().numpy().astype(np.float64)
    W, b = ours.weight[..., 0].reshape(-1, ours.weight.shape[-2]).numpy(), ours.bias.reshape(-1).numpy()
    f_ours = objective(data, tr, W, b)
    f_sk = objective(data, tr, sk.coef, sk.intercept)
    rel = (f_ours - f_sk) / np.abs(f_sk)
    examples_apart = np.rint(np.abs(ours_acc - sk.val_accuracy) * len(ours.val_idx))  # val examples
    return {
        "ours_mean_val_accuracy": float(ours_acc.mean()),
        "sklearn_mean_val_accuracy": float(sk.val_accuracy.mean()),
        "mean_accuracy_diff_points": float(100 * (ours_acc.mean() - sk.val_accuracy.mean())),
        "max_abs_per_probe_accuracy_diff_points": float(100 * np.abs(ours_acc - sk.val_accuracy).max()),
        "probes_with_different_accuracy": int((examples_apart > 0).sum()),
        "max_val_examples_apart": int(examples_apart.max()),
        "objective_rel_gap_ours_minus_sklearn": {"median": float(np.median(rel)), "max": float(rel.max()),
                                                 "min": float(rel.min())},
        "sklearn_n_iter": {"mean": float(sk.n_iter.mean()), "max": int(sk.n_iter.max())},
        "sklearn_convergence_warnings": sk.convergence_warnings,
    }


# --------------------------------------------------------------------------- timing


def _time(fn: Callable[[], object]) -> tuple[float, object]:
    time.sleep(PAUSE_S)
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def time_sides(data: ProbeData, repeats: int, sk_iters: tuple[int, ...],
               ) -> tuple[dict[str, list[float]], dict]:
    """Interleaved repetitions of ours and scikit-learn at each ``max_iter``; times and last results."""
    ours = fit_ours(data)  # warm-up, and the split both sides use
    tr, va = ours.train_idx.numpy(), ours.val_idx.numpy()
    sides: dict[str, Callable[[], object]] = {"fit_probes": lambda: fit_ours(data)}
    for it in sk_iters:
        sides[f"sklearn_max_iter_{it}"] = lambda it=it: fit_sklearn(data, tr, va, it)
    names = list(sides)
    times: dict[str, list[float]] = {n: [] for n in names}
    results: dict = {}
    for r in range(repeats):
        for n in names[r % len(names):] + names[:r % len(names)]:
            t, results[n] = _time(sides[n])
            times[n].append(t)
    return times, results


def run_case(data: ProbeData, repeats: int, sk_iters: tuple[int, ...]) -> dict:
    """Timing and agreement for one data set."""
    times, results = time_sides(data, repeats, sk_iters)
    ours = results["fit_probes"]
    t_ours = statistics.median(times["fit_probes"])
    out: dict = {"fit_probes": {"median_s": t_ours, "min_s": min(times["fit_probes"]),
                                "times_s": times["fit_probes"],
                                "iterations": {"mean": float(ours.iterations.float().mean()),
                                               "max": int(ours.iterations.max())},
                                "mean_val_accuracy": float(ours.metrics["val_accuracy"].mean())}}
    for it in sk_iters:
        key = f"sklearn_max_iter_{it}"
        ts = times[key]
        out[key] = {"median_s": statistics.median(ts), "min_s": min(ts), "times_s": ts,
                    "speedup_median": statistics.median(ts) / t_ours,
                    "speedup_min": min(ts) / min(times["fit_probes"]),
                    **compare(data, ours, results[key])}
    out["bayes_mean_accuracy"] = float(data.bayes_accuracy.mean())
    return out


def run(repeats: int = 5) -> dict:
    """The main case (spectrum exponent 0.7) with max_iter 1000 and 100, then a milder-spectrum variant."""
    torch.set_num_threads(THREADS)
    main = make_features()
    sep = main.separation.flatten()
    result = {
        "setup": {"n": N, "layers": LAYERS, "heads": HEADS, "d_head": D_HEAD, "dtype": "float32",
                  "threads": torch.get_num_threads(), "repeats": repeats, "split": "stratified 80/20, seed 0",
                  "sklearn": "LogisticRegression(max_iter=...) defaults otherwise: lbfgs, C=1.0, tol=1e-4",
                  "ours": "fit_probes(features, labels) defaults: l2=1.0, max_iter=100, tol=1e-4",
                  "generator": " ".join(make_features.__doc__.split("\n\n")[1].split()),
                  "heads_at_chance": int((sep == 0).sum()), "heads_strong": int((sep >= 2.5).sum()),
                  "feature_std": float(main.features.std()),
                  "feature_mean_abs": float(main.features.abs().mean())},
        "main": run_case(main, repeats, (1000, 100)),
    }
    variant = make_features(exponent=SPECTRUM_EXPONENT / 2)
    result["variant_milder_spectrum"] = {
        "description": "same generator with s_k = k ** -0.35 (covariance eigenvalues k ** -0.7)",
        **run_case(variant, max(3, repeats - 2), (1000,))}
    return result


def markdown(result: dict) -> str:
    """A Markdown table of the probe results."""
    lines = ["| data | side | median s | min s | speedup (medians) | mean val acc | max per-probe acc diff "
             "| sklearn iters mean/max | conv. warnings |", "|---|---|---|---|---|---|---|---|---|"]
    for case, label in (("main", "spectrum k^-0.7"), ("variant_milder_spectrum", "spectrum k^-0.35")):
        c = result[case]
        o = c["fit_probes"]
        lines.append(f"| {label} | fit_probes | {o['median_s']:.3f} | {o['min_s']:.3f} | - "
                     f"| {100 * o['mean_val_accuracy']:.2f}% | - | (ours: {o['iterations']['mean']:.1f}/"
                     f"{o['iterations']['max']}) | - |")
        for key in (k for k in c if k.startswith("sklearn_max_iter_")):
            s = c[key]
            lines.append(f"| {label} | {key.replace('_', ' ')} | {s['median_s']:.3f} | {s['min_s']:.3f} "
                         f"| {s['speedup_median']:.1f}x | {100 * s['sklearn_mean_val_accuracy']:.2f}% "
                         f"| {s['max_abs_per_probe_accuracy_diff_points']:.2f} pt "
                         f"| {s['sklearn_n_iter']['mean']:.1f}/{s['sklearn_n_iter']['max']} "
                         f"| {s['sklearn_convergence_warnings']} |")
    return "\n".join(lines)


def main() -> None:
    """CLI: run the probe benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = run(args.repeats)
    print(json.dumps(result["setup"], indent=1))
    print(markdown(result))


if __name__ == "__main__":
    main()
