"""The Othello world's model card: what the shipped GPT learned, measured on held-out games (never trained
on, nothing chosen on them), with 95% bootstrap intervals over games.

``python -m interpwidgets.worlds.othello.card`` writes ``checkpoint/model_card.json``.

1. **Legal moves**: the share of positions of the test games where the model's top next move is illegal.
2. **Board probes** (:func:`interpwidgets.othello.fit_board_probes`), linear and MLP, black/white/empty and
   mine/theirs/empty, at every layer: fitted on the probe-fit games, the best layer chosen on the choose
   games, accuracy on the test games (every square of every position). The same probes on a randomly
   initialized model of the same shape are the control.
3. **Interventions**: flip one disc in the model's board at the last position of a case
   (:func:`~interpwidgets.othello.intervention_benchmark`) and count the errors of the predicted legal-move
   set against the flipped board's legal moves, with the edit and without. The edited layers (a band from
   a start layer to the last) and the vector edit's strength are chosen on the choose benchmark (the fewest
   errors); the test benchmark reports. Three edits: gradient steps on the mine/theirs linear probe,
   gradient steps on the black/white MLP probe (the paper's setting), and the mine/theirs probe's direction
   added (vector arithmetic). The cost of each, ``|edit| / |h|`` at the first edited layer, beside it.
4. **Latent saliency**: on test positions, the saliency of each disc for the predicted move against the
   engine's truth: whether flipping that disc on the real board makes the move illegal. The AUROC of
   saliency for those discs (0.5: saliency knows nothing of them).
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from ...stats import interval, ratio_bootstrap
from . import CHECKPOINT, SPLIT_SEEDS, load, random_games
from .model import legal_top1_error

__all__ = ["CARD", "COUNTS", "EDITS", "measure"]

CARD = CHECKPOINT / "model_card.json"
COUNTS = {"legal": 1000, "probe_fit": 600, "probe_choose": 150, "probe_test": 300, "bench_choose": 100,
          "bench_test": 300, "saliency": 30}
GRADIENT = {"steps": 1000, "lr": 1e-3, "keep": 0.2}  # the paper's intervene() settings
STRENGTHS = (1.0, 2.0, 4.0, 8.0)  # the vector edit's logit margin, chosen on the choose benchmark
EDITS = {"gradient, linear mine/theirs": ("relative", "linear", "gradient"),
         "gradient, MLP black/white": ("colour", "mlp", "gradient"),
         "vector, linear mine/theirs": ("relative", "linear", "vector")}


def _games(split: str, n: int) -> np.ndarray:
    return random_games(n, SPLIT_SEEDS[split])


def legal_moves(model) -> dict:
    games = _games("test", COUNTS["legal"])
    _, per_game = legal_top1_error(model, games)
    counts = (games[:, 1:60] >= 0).sum(1)
    rate, lo, hi = ratio_bootstrap(per_game * counts, counts)
    return {"top1_illegal": round(float(rate), 6), "lo": round(float(lo), 6), "hi": round(float(hi), 6),
            "games": len(games), "positions": int(counts.sum())}


def probe_table(model, progress: bool = False) -> tuple[dict, dict]:
    """Per-layer test accuracy of every probe, on the model and on its random-init twin; the fitted probes."""
    from ...othello import ENCODINGS, fit_board_probes, random_init, residuals

    fit, choose, test = (_games(s, COUNTS[f"probe_{k}"]) for s, k in
                         (("probe_fit", "fit"), ("choose", "choose"), ("test", "test")))
    table, fitted = {}, {}
    for which, m in (("trained", model), ("random_init", random_init(model))):
        features = residuals(m, np.concatenate([fit, choose]), progress=progress)
        test_features = residuals(m, test, progress=progress)
        for enc in ENCODINGS:
            for kind in ("linear", "mlp"):
                p = fit_board_probes(m, fit, choose, encoding=enc, kind=kind, features=features, progress=progress)
                best = int(np.argmax(p.accuracy))  # chosen on the choose games
                acc, _, hits, rows = p.score(m, test, test_features)
                mean, lo, hi = ratio_bootstrap(hits[best], rows)
                table[f"{which} {kind} {enc}"] = {
                    "test_accuracy_by_layer": [round(float(a), 4) for a in acc],
                    "best_layer_on_choose": best, "test_accuracy": round(float(mean), 4),
                    "lo": round(float(lo), 4), "hi": round(float(hi), 4)}
                if which == "trained":
                    fitted[(enc, kind)] = p
    return table, fitted


def _mean(errors) -> dict:
    return interval(np.asarray(errors, float))


def interventions(model, fitted: dict) -> dict:
    from ...othello import intervention_benchmark, intervention_errors

    n_layers = model.config.n_layer
    choose = intervention_benchmark(_games("choose", 400), COUNTS["bench_choose"], seed=0)
    test = intervention_benchmark(_games("test", 800), COUNTS["bench_test"], seed=0)
    out = {}
    for label, (enc, kind, method) in EDITS.items():
        probes = fitted[(enc, kind)]
        grid = [{**GRADIENT}] if method == "gradient" else [{"strength": s} for s in STRENGTHS]
        scored = []
        for start in range(n_layers):
            for settings in grid:
                e = intervention_errors(model, probes, choose, range(start, n_layers), method, **settings)
                scored.append((float(e["edit"].mean()), start, settings))
        best, start, settings = min(scored, key=lambda x: x[0])
        e = intervention_errors(model, probes, test, range(start, n_layers), method, **settings)
        out[label] = {"layers": list(range(start, n_layers)), "settings": settings,
                      "choose_errors_by_start_layer": {str(s): round(v, 3) for v, s, st in scored if st == settings},
                      "edit_errors": _mean(e["edit"]), "no_edit_errors": _mean(e["none"]),
                      "no_edit_errors_vs_original_board": _mean(e["none_original"]),
                      "errors_removed_paired": _mean(e["none"] - e["edit"]),
                      "edit_size": _mean(e["size"])}
    out["cases"] = {"choose": len(choose), "test": len(test)}
    return out


def saliency(model, fitted: dict, edit: dict) -> dict:
    """AUROC of latent saliency for the discs whose flip (on the real board) makes the predicted move illegal."""
    from ...othello import flipped_board, last_move_logits, latent_saliency
    from ...probes.metrics import auc

    probes = fitted[("relative", "linear")]
    games = _games("test", COUNTS["saliency"])
    rng = np.random.default_rng(1)
    scores, critical = [], []
    for g in games:
        length = int((g >= 0).sum())
        t = int(rng.integers(5, min(length, 59)))
        prefix = [int(m) for m in g[:t]]
        move = int(last_move_logits(model, [prefix])[0].argmax())
        legal_now = int(flipped_board(prefix, []).legal()[0])
        if not legal_now >> move & 1:
            continue  # an illegal prediction has no engine truth to compare with
        _, values = latent_saliency(model, probes, prefix, edit["layers"], "vector", move=move, **edit["settings"])
        for s in np.flatnonzero(~np.isnan(values)):
            scores.append(values[s])
            critical.append(not int(flipped_board(prefix, [int(s)]).legal()[0]) >> move & 1)
    a = auc(torch.tensor(scores)[None], torch.tensor(critical).long()[None])
    return {"auroc": round(float(a[0]), 4), "discs": len(scores), "critical_discs": int(np.sum(critical)),
            "positions": len(games), "edit": "vector, linear mine/theirs (its chosen layers and strength)"}


def measure(path=CHECKPOINT, progress: bool = False) -> dict:
    """The card of the checkpoint at ``path`` (the shipped one by default)."""
    model = load(path)
    start = time.time()
    state = json.loads((path / "training_state.json").read_text())
    table, fitted = probe_table(model, progress)
    edits = interventions(model, fitted)
    return {
        "model": {"recipe": state["recipe"], "parameters": sum(p.numel() for p in model.parameters()),
                  "trained_steps": state["step"], "trained_games": state["step"] * state["recipe"]["batch"],
                  "trained_on": state["trained_on"], "training_seconds": round(state["seconds"]),
                  "choose_top1_illegal_while_training": state["choose_error"]},
        "counts": COUNTS, "split_seeds": SPLIT_SEEDS,
        "legal_moves": legal_moves(model),
        "probes": table,
        "interventions": edits,
        "latent_saliency": saliency(model, fitted, edits["vector, linear mine/theirs"]),
        "seconds_to_measure": round(time.time() - start),
    }


def main() -> None:
    card = measure(progress=True)
    CARD.write_text(json.dumps(card, indent=1))
    print(json.dumps({k: card[k] for k in ("legal_moves", "latent_saliency")}, indent=1))


if __name__ == "__main__":
    main()
