"""ProbeDashboard without a browser: live filling, the top K, a cell's scores, bad settings."""

import time

import pytest
import torch

import interpwidgets as iw
from interpwidgets.transport import decode


def _planted(n=400):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 3, 5, 8, generator=g)
    y = torch.arange(n) % 2
    X[y == 1, 2, 4, :2] += 1.5  # the strongest
    X[y == 1, 0, 1, :2] += 0.8
    return X, y


def test_fills_in_row_by_row_and_ends_with_the_whole_result():
    X, y = _planted()
    seen = []
    board = iw.ProbeDashboard(shape=(3, 5))
    assert board.grid == [[None] * 5] * 3 and board.results is None
    board = iw.ProbeDashboard.fit(X, y, groups=torch.arange(400) // 2, k=2, background=False)
    board.observe(lambda c: seen.append(c["new"]), names="grid")
    assert board.results.batch_shape == (3, 5) and board.progress == 1.0
    assert board.top == [[2, 4], [0, 1]] and board.selected_heads == [(2, 4), (0, 1)]
    acc = board.results.metrics["val_accuracy"]
    assert board.grid[2][4] == round(float(acc[2, 4]), 4)
    # the same probes as one batched fit on the same split
    whole = iw.fit_probes(X, y, split=(board.results.train_idx, board.results.val_idx))
    torch.testing.assert_close(acc, whole.metrics["val_accuracy"])
    board.metric = "val_auc"
    assert seen and board.grid[2][4] == round(float(board.results.metrics["val_auc"][2, 4]), 4)


def test_background_fit_shows_each_row_as_it_is_done(monkeypatch):
    """Hold the fit after each row: the grid shows the rows done so far, and only those."""
    import threading

    from interpwidgets.probes import widget as dashboard_module

    X, y = _planted()
    real, done, go = dashboard_module.fit_probes, threading.Semaphore(0), threading.Semaphore(0)

    def one_row_at_a_time(*args, **kwargs):
        go.acquire()
        out = real(*args, **kwargs)
        done.release()
        return out

    monkeypatch.setattr(dashboard_module, "fit_probes", one_row_at_a_time)
    board = iw.ProbeDashboard.fit(X, y, k=3)
    seen = []
    for r in range(3):
        go.release()  # fit row r
        assert done.acquire(timeout=30)
        deadline = time.time() + 10  # the row is shown just after its fit returns
        while board.grid[r][0] is None and time.time() < deadline:
            time.sleep(0.01)
        seen.append([[v is not None for v in row] for row in board.grid])
    board.wait(30)
    assert seen[0] == [[True] * 5, [False] * 5, [False] * 5]
    assert seen[1] == [[True] * 5, [True] * 5, [False] * 5]
    assert board.progress == 1.0 and all(v is not None for row in board.grid for v in row)
    assert board.grid[2][4] == round(float(board.results.metrics["val_accuracy"][2, 4]), 4)


def test_a_cell_sends_the_probe_scores_by_split():
    X, y = _planted()
    board = iw.ProbeDashboard.fit(X, y, background=False)
    reply, buffers = board._respond("cell", {"row": 2, "col": 4})
    from ipywidgets.widgets.widget import _put_buffers

    _put_buffers(reply, reply["buffer_paths"], buffers)
    cell = reply["result"]
    r = board.results
    score = X[r.val_idx, 2, 4] @ r.weight[2, 4] + r.bias[2, 4]  # by hand
    torch.testing.assert_close(torch.tensor(decode(cell["val"]["score"])), score[:, 0])
    accuracy = ((score[:, 0] > 0).long() == y[r.val_idx]).float().mean()
    assert cell["metrics"]["val_accuracy"] == pytest.approx(float(accuracy))
    assert decode(cell["train"]["positive"]).sum() == int(y[r.train_idx].sum())


def test_bad_settings_are_named_and_undone():
    X, y = _planted()
    board = iw.ProbeDashboard.fit(X, y, k=2, background=False)
    board.k = 99
    assert board.k == 15 and "k must be between 1 and the number of cells (15), got 99" in board.error
    board.metric = "f1"
    assert board.metric == "val_accuracy" and "metric must be one of" in board.error
    reply, _ = board._respond("cell", {"row": 3, "col": 0})
    assert "out of range: 3 layers x 5 heads" in reply["error"]
    with pytest.raises(ValueError, match="\\[examples, rows, cols, d\\]"):
        iw.ProbeDashboard.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="results= \\(a ProbeResult\\) or the grid's shape="):
        iw.ProbeDashboard()


def test_one_ranking_for_the_dashboard_and_iti():
    """Ties keep the grid order and NaN comes last, in ProbeResult.top, ITI.heads and the dashboard alike."""
    X, y = _planted()
    iti = iw.ITI.from_activations(X, y, k=6)
    acc = iti.probes.metrics["val_accuracy"]
    acc[:] = 0.5
    acc[0, 3] = acc[2, 1] = acc[1, 0] = 0.9  # a three-way tie at the top
    acc[0, 0] = float("nan")  # a probe that could not be scored
    acc[1, 4] = 0.7
    expected = [(0, 3), (1, 0), (2, 1), (1, 4), (0, 1), (0, 2)]
    assert iti.probes.top(6) == expected and iti.heads == expected
    board = iw.ProbeDashboard(iti.probes, k=6)
    assert board.selected_heads == expected
    assert iti.probes.top(15)[-1] == (0, 0)  # NaN last


def test_a_failed_fit_keeps_its_rows_and_leaves_no_progress_bar(monkeypatch):
    import interpwidgets.probes.widget as widget

    X, y = _planted()
    real, calls = widget.fit_probes, []

    def fails_on_the_second_row(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("the solver diverged")
        return real(*args, **kwargs)

    monkeypatch.setattr(widget, "fit_probes", fails_on_the_second_row)
    board = iw.ProbeDashboard.fit(X, y, background=False)
    assert board.error == "fitting: FloatingPointError: the solver diverged" and "fails_on_the_second_row" in \
        board.error_traceback
    assert board.progress == 1.0 and board.grid[0][0] is not None and board.grid[1][0] is None
