"""OthelloView's speed: games generated, training throughput, probe fitting, and the round trip of a click.

1. Games per second: ``random_games`` (bitboards, every game at once) against a square-by-square generator
   written here in the style of the paper's ``get_ood_game`` (one game at a time, each move's legality
   found by walking the eight directions from every empty square), same machine, same count of games.
2. Training throughput: tokens per second of the shipped recipe's training step (its batch, AdamW), on this
   machine's threads.
3. Probe fitting for every layer: ``fit_board_probes`` (linear and MLP, 600 games: every move of every
   game) against one scikit-learn ``LogisticRegression`` (on standardized features) per square at one
   layer (the per-square loop a user would write; 64 of them), timed on one layer and said so.
4. A click in the view, in JupyterLab (a live kernel, Chromium): the Python time of the ``play`` request
   (refereeing, the model's next-move probabilities, the probe's board) and the time from the click to the
   redrawn board in the page.

Writes ``benchmarks/results/othello.json`` and ``othello.md``: ``python benchmarks/bench_othello.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE), str(ROOT / "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

from run import machine_info, write_json  # noqa: E402

from interpwidgets.worlds import othello  # noqa: E402

EIGHT = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]


def _scalar_flips(board: list[list[int]], colour: int, r: int, c: int) -> list[tuple[int, int]]:
    out = []
    for dr, dc in EIGHT:
        run, y, x = [], r + dr, c + dc
        while 0 <= y < 8 and 0 <= x < 8 and board[y][x] == -colour:
            run.append((y, x))
            y, x = y + dr, x + dc
        if run and 0 <= y < 8 and 0 <= x < 8 and board[y][x] == colour:
            out += run
    return out


def scalar_game(rng) -> list[int]:
    """One random legal game, square by square (passes where due)."""
    board = [[0] * 8 for _ in range(8)]
    board[3][3] = board[4][4] = -1
    board[3][4] = board[4][3] = 1
    colour, moves = 1, []
    for _ in range(120):
        legal = [(r, c) for r in range(8) for c in range(8) if board[r][c] == 0 and _scalar_flips(board, colour, r, c)]
        if not legal:
            colour = -colour
            legal = [(r, c) for r in range(8) for c in range(8)
                     if board[r][c] == 0 and _scalar_flips(board, colour, r, c)]
            if not legal:
                break
        r, c = legal[rng.integers(len(legal))]
        for y, x in _scalar_flips(board, colour, r, c):
            board[y][x] = colour
        board[r][c] = colour
        moves.append(r * 8 + c)
        colour = -colour
    return moves


def games_per_second(n: int = 20000, n_scalar: int = 300) -> dict:
    start = time.perf_counter()
    othello.random_games(n, seed=0)
    ours = n / (time.perf_counter() - start)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(n_scalar):
        scalar_game(rng)
    scalar = n_scalar / (time.perf_counter() - start)
    return {"interpwidgets_games_per_s": round(ours), "square_by_square_games_per_s": round(scalar, 1),
            "games": n, "scalar_games": n_scalar, "speedup": round(ours / scalar, 1)}


def training_throughput(steps: int = 6) -> dict:
    """Tokens per second of the shipped recipe's training step (its loss, AdamW), for each of its targets."""
    from interpwidgets.worlds.othello.train import RECIPE, build, loss

    model = build(RECIPE).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    out = {"batch_games": RECIPE["batch"], "steps_timed": steps}
    for target in dict.fromkeys(stage["target"] for stage in RECIPE["stages"]):
        times = []
        for step in range(steps + 1):
            games = othello.random_games(RECIPE["batch"], [9, step])
            start = time.perf_counter()
            value = loss(model, games, target)  # the legal-moves target replays the games: timed with the step
            opt.zero_grad()
            value.backward()
            opt.step()
            if step:  # the first step warms up
                times.append(time.perf_counter() - start)
        out[target] = {"tokens_per_s": round(RECIPE["batch"] * 59 / statistics.median(times)),
                       "step_s": statistics.median(times)}
    return out


def probe_fitting(n_games: int = 600) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from interpwidgets.othello import fit_board_probes, residuals
    from interpwidgets.othello.method import _row_labels

    model = othello.load()
    fit, val = othello.random_games(n_games, 3), othello.random_games(150, 1)
    games = np.concatenate([fit, val])
    start = time.perf_counter()
    features = residuals(model, games, progress=False)
    collect_s = time.perf_counter() - start
    out = {"games": n_games, "rows": int((features[1][:, 0] < n_games).sum()), "collect_s": round(collect_s, 2)}
    for kind in ("linear", "mlp"):
        start = time.perf_counter()
        p = fit_board_probes(model, fit, val, encoding="relative", kind=kind, features=features, progress=False)
        out[f"{kind}_all_layers_s"] = round(time.perf_counter() - start, 2)
        out[f"{kind}_best_accuracy"] = round(float(p.accuracy.max()), 4)
    X, index = features
    labels = _row_labels(games, index, "relative")
    train = index[:, 0] < n_games
    layer = model.config.n_layer - 1
    start = time.perf_counter()
    hits = []
    for s in range(64):
        # standardized, as our probes' features are (unscaled, lbfgs stops at its iteration limit)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        clf.fit(X[train, layer].numpy(), labels[train, s])
        hits.append(clf.score(X[~train, layer].numpy(), labels[~train, s]))
    out["sklearn_one_layer_s"] = round(time.perf_counter() - start, 2)
    out["sklearn_one_layer_accuracy"] = round(float(np.mean(hits)), 4)
    out["sklearn_all_layers_estimate_s"] = round(out["sklearn_one_layer_s"] * model.config.n_layer, 1)
    return out


CLICKS = 8
NOTEBOOK = [
    """import json, time
from pathlib import Path
import interpwidgets as iw
from interpwidgets.worlds import othello
from interpwidgets.othello import fit_board_probes
games = othello.random_games(200, othello.SPLIT_SEEDS["probe_fit"])
model = othello.load()
probes = [fit_board_probes(model, games[:160], games[160:], encoding=e, progress=False) for e in ("relative", "colour")]
view = iw.OthelloView(model, None, probes)
b = view.board
served = []
serve = b._respond
def timed(method, args):
    start = time.perf_counter()
    reply = serve(method, args)
    served.append([method, time.perf_counter() - start])
    Path("served.json").write_text(json.dumps({"served": served, "legal": b.legal, "cursor": b.cursor}))
    return reply
b._respond = timed
Path("served.json").write_text(json.dumps({"served": served, "legal": b.legal, "cursor": b.cursor}))
view""",
]


def click_round_trip() -> dict:
    from lab import jupyterlab, kernel_state, run_notebook
    from playwright.sync_api import sync_playwright

    from interpwidgets.widgets.export import CHROMIUM_ARGS, find_chromium

    with (tempfile.TemporaryDirectory() as tmp, jupyterlab(Path(tmp), {"bench": NOTEBOOK}) as lab,
          sync_playwright() as p):
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        page = run_notebook(browser, lab["url_of"]("bench"), height=1400)
        s = kernel_state(lab["root"], lambda s: s["legal"], 240, "served.json")
        page.locator(".iwoth-game").wait_for(timeout=60000)
        paints = []
        for k in range(1, CLICKS + 1):
            move = s["legal"][0]
            ms = page.evaluate("""async ([sq, k]) => {
                const cell = document.querySelector(`.iwoth-game [data-square="${sq}"]`);
                const t0 = performance.now();
                cell.dispatchEvent(new MouseEvent("click", { bubbles: true }));
                while (!document.querySelector(".iwoth-where")?.textContent.startsWith(`move ${k} of`)) {
                    await new Promise((r) => requestAnimationFrame(r));
                }
                await new Promise((r) => requestAnimationFrame(r));  // the frame that shows it
                return performance.now() - t0; }""", [move, k])
            paints.append(ms / 1000)
            s = kernel_state(lab["root"], lambda s, k=k: s["cursor"] == k, 60, "served.json")
        browser.close()
    python = [t for m, t in s["served"] if m == "play"]
    return {"clicks": CLICKS, "python_play_s": {"median": statistics.median(python), "all": python},
            "click_to_paint_s": {"median": statistics.median(paints), "all": paints}}


def markdown(r: dict, info: dict) -> str:
    g, t, pf, c = r["games"], r["training"], r["probes"], r["click"]
    rows = [
        ("games per second, interpwidgets (bitboards, all games at once)", f"{g['interpwidgets_games_per_s']:,}"),
        ("games per second, square by square (the paper's way)", f"{g['square_by_square_games_per_s']:,}"),
        *((f"training throughput, target {k!r}", f"{v['tokens_per_s']:,} tokens/s ({v['step_s']:.2f} s/step)")
          for k, v in t.items() if isinstance(v, dict)),
        (f"residuals of {pf['games'] + 150} games, every layer", f"{pf['collect_s']} s"),
        (f"linear board probes, all layers ({pf['rows']:,} rows)",
         f"{pf['linear_all_layers_s']} s (best {pf['linear_best_accuracy']:.1%})"),
        ("MLP board probes, all layers", f"{pf['mlp_all_layers_s']} s (best {pf['mlp_best_accuracy']:.1%})"),
        ("scikit-learn, one LogisticRegression per square, one layer", f"{pf['sklearn_one_layer_s']} s "
         f"({pf['sklearn_one_layer_accuracy']:.1%}; all layers ~{pf['sklearn_all_layers_estimate_s']} s)"),
        ("a click: Python time of the move (median)", f"{c['python_play_s']['median'] * 1000:.0f} ms"),
        ("a click: to the redrawn board in Chromium (median)", f"{c['click_to_paint_s']['median'] * 1000:.0f} ms"),
    ]
    head = f"# Othello benchmark\n\n{info['date']} · {info['cpu_model']} · {info['torch_threads']} torch threads\n\n"
    return head + "| measurement | result |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n"


def main() -> None:
    torch.set_num_threads(2)
    info = machine_info()
    result = {"machine": info, "games": games_per_second(), "training": training_throughput(),
              "probes": probe_fitting(), "click": click_round_trip()}
    write_json("othello.json", result)
    text = markdown(result, info)
    (HERE / "results" / "othello.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
