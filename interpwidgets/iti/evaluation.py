"""ITI measured the way a reviewer asks: settings chosen on one split, results reported on another with
bootstrap intervals over questions, and direction kinds compared at matched cost.

* :func:`sweep` measures, for one fitted ITI, the per-question correctness and the costs (KL from the
  unedited model and cross-entropy, on plain text) at each alpha.
* :func:`choose` picks K and alpha for each direction kind on a *choose* split: the best truth rate among
  the settings whose KL stays within a budget fixed beforehand (ties: the lower KL).
* :func:`bootstrap` and :func:`truth_at_cost` give 95% intervals by resampling questions, the latter the
  truth rate at matched KL (read off each kind's curve), so kinds are compared at equal cost rather than
  at equal alpha.

``correct(iti, alpha)`` is the caller's judge: a boolean per question (e.g. the greedy answer is the true
one). Everything else is the engine's: the edit is :meth:`ITI.apply`, the costs :func:`edit_costs`.

Examples
--------
>>> import numpy as np
>>> from interpwidgets.iti.evaluation import bootstrap
>>> mean, lo, hi = bootstrap(np.array([1, 1, 1, 0] * 10), n_boot=500)
>>> float(mean), bool(lo < 0.75 < hi)
(0.75, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..stats import bootstrap, resample_weights
from .method import DIRECTIONS, ITI
from .metrics import edit_costs

__all__ = ["Sweep", "sweep", "choose", "bootstrap", "resample_weights", "truth_at_cost", "alpha_ladder", "COSTS",
           "protocol", "probe_summary"]

Judge = Callable[[ITI, float], np.ndarray]


@dataclass
class Sweep:
    """One ITI setting (direction kind, K) over a range of alphas."""

    kind: str
    k: int
    alpha: list[float]
    correct: np.ndarray  # [alphas, questions] bool
    kl: list[float]
    cross_entropy: list[float]
    groups: np.ndarray | None = None  # per question, for the cluster bootstrap (e.g. its creature)

    @property
    def ce_rise(self) -> list[float]:
        """Cross-entropy above the unedited model's (the sweep's first alpha must be 0)."""
        if self.alpha[0] != 0:
            raise ValueError("ce_rise needs the sweep to start at alpha 0 (the unedited model)")
        return [c - self.cross_entropy[0] for c in self.cross_entropy]

    def summary(self, n_boot: int = 2000, seed: int = 0) -> dict:
        """JSON-ready: the truth rate per alpha with its 95% interval over questions, and the costs."""
        mean, lo, hi = bootstrap(self.correct, n_boot, seed, groups=self.groups)
        return {"kind": self.kind, "k": self.k, "alpha": self.alpha, "truth": _round(mean), "truth_lo": _round(lo),
                "truth_hi": _round(hi), "kl": _round(self.kl), "cross_entropy": _round(self.cross_entropy),
                "questions": int(self.correct.shape[1])}


def _round(x, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in np.asarray(x).reshape(-1)]


def alpha_ladder(start: float = 1.0, factor: float = 2 ** 0.5, stop: float = 4096.0) -> list[float]:
    """0, then ``start`` times powers of ``factor`` up to ``stop``: the alphas an open-ended sweep climbs."""
    out, a = [0.0], start
    while a <= stop:
        out.append(round(a, 3))
        a *= factor
    return out


def sweep(model, iti: ITI, correct: Judge, cost_texts: Sequence, *, alphas: Sequence[float] | None = None,
          kl_cap: float | None = None, block: int = 4, tokenizer=None, batch_size: int = 16, groups=None) -> Sweep:
    """Per alpha: which questions the edited model gets right (``correct(iti, alpha)``) and what the edit costs
    on ``cost_texts`` (KL and cross-entropy, every position edited, as :func:`edit_costs` does).

    With ``alphas`` the sweep measures those. Without, it climbs :func:`alpha_ladder` until the KL passes
    ``kl_cap``: each direction kind then gets a range of its own, wide enough to pass every cost it is
    compared at (probe weights and random directions need far larger alphas than mass-mean shifts for the
    same KL). The climb first takes every other rung while the KL stays below a hundredth of the cap
    (random directions pass many alphas that change nothing), then measures every rung from the last
    negligible one on. Costs are measured ``block`` alphas at a time, each block against one unedited run.
    ``groups`` (one per question) makes the intervals resample groups of questions.
    """
    if alphas is None and kl_cap is None:
        raise ValueError("give the alphas to measure, or kl_cap to climb alpha until the KL passes it")
    costs: dict[float, tuple[float, float]] = {}  # alpha -> (kl, cross-entropy)

    def measure(chunk: list[float]) -> None:
        got = edit_costs(model, iti, cost_texts, chunk, tokenizer=tokenizer, batch_size=batch_size, progress=False)
        costs.update(zip(chunk, zip(got["kl"], got["cross_entropy"], strict=True), strict=True))

    if alphas is not None:
        done = [float(a) for a in alphas]
        for i in range(0, len(done), block):
            measure(done[i:i + block])
    else:
        ladder, small = alpha_ladder(), kl_cap / 100
        for i in range(0, len(ladder), 2 * block):  # coarse: every other rung
            chunk = ladder[i:i + 2 * block:2]
            measure(chunk)
            if costs[chunk[-1]][0] >= small:
                break
        start = max(ladder.index(a) for a, (kl, _) in costs.items() if kl < small or a == 0)
        stop = len(ladder) - 1
        for j in range(start, len(ladder)):  # fine: every rung from the last negligible one until the cap
            if ladder[j] not in costs:
                measure([a for a in ladder[j:] if a not in costs][:block])
            if costs[ladder[j]][0] > kl_cap:
                stop = j
                break
        done = sorted(a for a in costs if a <= ladder[stop])
    right = np.stack([np.asarray(correct(iti, a), dtype=bool) for a in done])
    return Sweep(iti.kind, iti.k, done, right, [costs[a][0] for a in done], [costs[a][1] for a in done],
                 None if groups is None else np.asarray(groups))


def choose(model, iti: ITI, *, ks: Sequence[int], correct: Judge, cost_texts: Sequence, kl_budget: float,
           kl_cap: float | None = None, kinds: Sequence[str] = DIRECTIONS, tokenizer=None) -> dict[str, dict]:
    """For each direction kind: the K and alpha with the best truth rate on the choose split among the settings
    whose KL on ``cost_texts`` is at most ``kl_budget`` (ties: the lower KL, then the smaller K). Each K's
    alphas climb until the KL passes ``kl_cap`` (default: the budget), see :func:`sweep`.

    ``correct`` and ``cost_texts`` must come from the choose split only: the test split is for reporting.
    Returns ``{kind: {"k", "alpha", "truth", "kl", "alphas", "grid": [[k, alpha, truth, kl], ...]}}``, where
    ``alphas`` are those measured for the chosen K (the range a test sweep of that setting should cover).
    """
    if kl_budget <= 0:
        raise ValueError(f"kl_budget must be positive (nats per token), got {kl_budget}")
    cap = kl_budget if kl_cap is None else max(kl_cap, kl_budget)
    out = {}
    for kind in kinds:
        grid, ranges = [], {}
        for k in ks:
            s = sweep(model, iti.select(k=k, kind=kind), correct, cost_texts, kl_cap=cap, tokenizer=tokenizer)
            ranges[k] = s.alpha
            grid += [[k, a, float(t), float(c)] for a, t, c in zip(s.alpha, s.correct.mean(1), s.kl, strict=True)]
        within = [g for g in grid if g[3] <= kl_budget]
        k, alpha, truth, kl = max(within, key=lambda g: (g[2], -g[3], -g[0]))
        out[kind] = {"k": k, "alpha": alpha, "truth": round(truth, 4), "kl": round(kl, 4), "alphas": ranges[k],
                     "grid": [[g[0], g[1], round(g[2], 4), round(g[3], 4)] for g in grid]}
    return out


COSTS = ("kl", "ce_rise", "alpha")


def truth_at_cost(s: Sweep | Sequence[Sweep], levels: Sequence[float], cost: str = "kl", n_boot: int = 2000,
                  seed: int = 0, against: Sweep | Sequence[Sweep] | None = None) -> dict[str, list]:
    """The truth rate at matched cost: read off the curve truth(cost) at each ``level`` (linear between the
    measured alphas), with 95% intervals. ``cost`` is ``"kl"``, ``"ce_rise"`` (the rise in cross-entropy)
    or ``"alpha"`` (equal strength, the paper's comparison). A level beyond the largest cost measured gives
    None (the curve does not reach it).

    Several sweeps (e.g. random draws) give their mean, and each bootstrap replicate then draws the sweeps
    with replacement as well as the questions (or their groups, see :class:`Sweep`), so the interval
    holds the spread between draws too. With ``against`` (another kind's sweep or sweeps on the same
    questions, in the same order), the difference ``s - against`` at each level, with a paired interval
    (both read on the same resamples of the questions).
    """
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
    group = [s] if isinstance(s, Sweep) else list(s)
    others = [] if against is None else [against] if isinstance(against, Sweep) else list(against)
    n = group[0].correct.shape[1]
    if any(sw.correct.shape[1] != n for sw in group + others):
        raise ValueError("truth_at_cost compares sweeps over the same questions; their numbers of questions differ")
    w = resample_weights(n, group[0].groups, n_boot, seed)
    rng = np.random.default_rng(seed + 1)

    def read(sweeps: list[Sweep], level: float):
        values, boots = [], []
        for sw in sweeps:
            c = np.maximum.accumulate(np.asarray(getattr(sw, cost), dtype=np.float64))  # monotone for np.interp
            if level > c[-1]:
                return None
            boot = (sw.correct @ w.T) / w.sum(1)  # [alphas, n_boot]
            values.append(np.interp(level, c, sw.correct.mean(1)))
            boots.append([np.interp(level, c, boot[:, b]) for b in range(n_boot)])
        boots = np.asarray(boots)  # [draws, n_boot]
        if len(sweeps) > 1:  # the draws resampled too
            pick = rng.integers(0, len(sweeps), size=(n_boot, len(sweeps)))
            return float(np.mean(values)), boots[pick, np.arange(n_boot)[:, None]].mean(1)
        return float(values[0]), boots[0]

    out: dict[str, list] = {"level": [float(v) for v in levels], "truth": [], "truth_lo": [], "truth_hi": []}
    for level in levels:
        got = read(group, level)
        if others and got is not None:
            other = read(others, level)
            got = None if other is None else (got[0] - other[0], got[1] - other[1])
        out["truth"].append(None if got is None else round(got[0], 4))
        out["truth_lo"].append(None if got is None else round(float(np.percentile(got[1], 2.5)), 4))
        out["truth_hi"].append(None if got is None else round(float(np.percentile(got[1], 97.5)), 4))
    return out


def probe_summary(iti: ITI, top: int = 8) -> dict:
    """The probes' validation accuracy over every head: the best ``top`` heads and scores, the median, and how
    many heads pass 0.7.

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> acts, labels = torch.randn(120, 2, 3, 8, generator=g), torch.arange(120) % 2
    >>> acts[labels == 1, 1, 2] += 2.0  # layer 1, head 2 knows
    >>> s = probe_summary(ITI.from_activations(acts, labels, k=1, progress=False), top=2)
    >>> s["best_heads"][0], s["heads"]
    ([1, 2], 6)
    """
    acc = iti.probes.metrics["val_accuracy"]
    flat = acc.flatten().sort(descending=True).values
    return {"best_heads": [list(h) for h in iti.probes.top(top, "val_accuracy")],
            "best": [round(float(a), 4) for a in flat[:top]], "median": round(float(flat.median()), 4),
            "heads_above_0.7": int((flat > 0.7).sum()), "heads": len(flat),
            "validation_questions": len(iti.probes.val_idx) // 2}


def protocol(model, activations, labels, *, groups, choose_split: tuple[Judge, Sequence],
             test_split: tuple[Judge, Sequence],
             ks: Sequence[int], kl_budget: float, kl_levels: Sequence[float], ce_levels: Sequence[float] = (),
             random_draws: int = 3, test_groups=None, seed: int = 0, stack: str = "layers.", tokenizer=None) -> dict:
    """ITI measured end to end on one split: fitted on the fit questions' ``activations`` (``ITI.activations``),
    K and alpha chosen on the choose split, curves and matched-cost truth rates reported on the test split.

    ``choose_split`` and ``test_split`` are each ``(correct, cost_texts)``: the split's judge and the plain
    text its costs are measured on. Each direction kind is a list of draws: one for mass-mean and probe weights,
    ``random_draws`` random directions (each with its own K and alpha chosen), whose mean is the random
    control. For each draw, :func:`choose` picks K and alpha (alphas climbing until the KL passes the largest
    level); the test sweep covers the same alphas and two rungs more, so that it passes every compared level.
    ``test_groups`` (one per test question) makes the intervals resample groups. Returns the probes' summary,
    per kind the draws (chosen setting, heads, test curve, truth at matched KL and rise in cross-entropy) and
    their mean, paired differences between kinds at matched cost, and mass-mean against probe weights at
    equal alpha (the paper's comparison).
    """
    (choose_judge, choose_texts), (test_judge, test_texts) = choose_split, test_split

    def fitted(random_seed: int) -> ITI:  # the same probes and split; another random draw
        return ITI.from_activations(activations, labels, groups=groups, k=ks[0], seed=seed, random_seed=random_seed,
                                    stack=stack)

    iti = fitted(1000 * seed)
    draws = [1000 * seed + j for j in range(random_draws)]
    settings = [("mass_mean", iti, None), ("probe", iti, None)] + [("random", fitted(d), d) for d in draws]
    sweeps: dict[str, list] = {kind: [] for kind in DIRECTIONS}
    results: dict[str, dict] = {kind: {"draws": []} for kind in DIRECTIONS}
    for kind, it, random_seed in settings:
        pick = choose(model, it, ks=ks, kinds=(kind,), correct=choose_judge, cost_texts=choose_texts,
                      kl_budget=kl_budget, kl_cap=max(kl_levels), tokenizer=tokenizer)[kind]
        chosen = it.select(k=pick["k"], kind=kind)
        more = [a for a in alpha_ladder(stop=2 * pick["alphas"][-1]) if a > pick["alphas"][-1]]
        s = sweep(model, chosen, test_judge, test_texts, alphas=pick["alphas"] + more, tokenizer=tokenizer,
                  groups=test_groups)
        sweeps[kind].append(s)
        curve = s.summary()
        i = curve["alpha"].index(pick["alpha"])
        theta, mass_mean = chosen.theta(), chosen.select(kind="mass_mean").theta()
        results[kind]["draws"].append({
            "random_seed": random_seed,
            "chosen": {key: pick[key] for key in ("k", "alpha", "truth", "kl")},
            "heads": [list(h) for h in chosen.heads],
            "cos_to_mass_mean": round(float((theta * mass_mean).sum(-1).mean()), 4),  # mean over the chosen heads
            "at_chosen": {key: curve[key][i] for key in ("truth", "truth_lo", "truth_hi", "kl", "cross_entropy")},
            "curve": curve, "at_kl": truth_at_cost(s, kl_levels),
            "at_ce_rise": truth_at_cost(s, ce_levels, cost="ce_rise")})
    for kind in DIRECTIONS:  # the mean over draws
        results[kind]["at_kl"] = truth_at_cost(sweeps[kind], kl_levels)
        results[kind]["at_ce_rise"] = truth_at_cost(sweeps[kind], ce_levels, cost="ce_rise")
    pairs = (("probe", "mass_mean"), ("mass_mean", "random"), ("probe", "random"))
    mm_alpha = results["mass_mean"]["draws"][0]["chosen"]["alpha"]
    return {"probes": probe_summary(iti),
            "test": results,
            # paired over the same test questions: truth(a) - truth(b) at matched KL, with its interval
            "differences_at_kl": {f"{a}-{b}": truth_at_cost(sweeps[a], kl_levels, against=sweeps[b])
                                  for a, b in pairs},
            "differences_at_ce_rise": {f"{a}-{b}": truth_at_cost(sweeps[a], ce_levels, cost="ce_rise",
                                                                 against=sweeps[b]) for a, b in pairs},
            # the paper's comparison, at equal strength: mass-mean's chosen alpha on the probe-weight curve too
            "mass_mean-probe_at_equal_alpha": truth_at_cost(sweeps["mass_mean"], [mm_alpha], cost="alpha",
                                                            against=sweeps["probe"]),
            "probe_kl_at_mass_mean_alpha": round(float(np.interp(mm_alpha, sweeps["probe"][0].alpha,
                                                                 sweeps["probe"][0].kl)), 4)}

