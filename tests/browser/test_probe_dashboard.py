"""ProbeDashboard in Chromium, from an exported page: the grid, the readout, a cell's histograms."""

import torch
from pages import open_exported

import interpwidgets as iw


def test_grid_readout_and_histograms_offline(tmp_path, offline_page):
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(300, 4, 6, 8, generator=g), torch.arange(300) % 2
    X[y == 1, 3, 5, 0] += 2.0
    board = iw.ProbeDashboard.fit(X, y, k=3, background=False)
    open_exported(offline_page, board, tmp_path / "pd.html", row=3, col=5)
    canvas = offline_page.locator(".iwpd-grid canvas[data-painted]")
    canvas.wait_for(timeout=20000)
    offline_page.locator(".iwpd-detail[data-painted]").wait_for(timeout=10000)
    acc = board.results.metrics["val_accuracy"]
    assert f"val_accuracy {acc[3, 5]:.3f}" in offline_page.locator(".iwpd-detail").inner_text()
    hists = offline_page.locator(".iwpd-detail svg.iw-chart")
    assert hists.count() == 2
    bars = hists.first.locator("rect").count()
    assert bars >= 10  # both classes spread over bins
    labels = hists.first.locator("text").all_text_contents()
    assert "probe score (logit)" in labels and "examples" in labels and "boundary (0)" in labels
    assert len([t for t in labels if t.lstrip("-").replace(".", "").isdigit()]) >= 5  # ticks, not only min and max
    assert offline_page.locator(".iwpd-top").input_value() == str(board.top).replace(" ", "")
    # hover cell (1, 2): the readout names it with Python's number (the canvas says where its cells are)
    box = canvas.bounding_box()
    cell, left, top = (float(canvas.get_attribute(f"data-{k}")) for k in ("cell", "left", "top"))
    assert cell >= 36  # big enough to read
    offline_page.mouse.move(box["x"] + left + 2.5 * cell, box["y"] + top + 1.5 * cell)
    assert offline_page.locator(".iwpd-readout").inner_text() == f"layer 1, head 2: val_accuracy {acc[1, 2]:.3f}"
    assert offline_page.errors == [] and offline_page.blocked == []


def test_a_30_layer_grid_fits_one_screen_and_is_read_right(tmp_path, offline_page):
    """SmolLM2's 30 x 9 heads: the cells shrink so that the grid fits 640 x 480 px, and the hovered cell is
    still the one named (the readout follows the smaller cells)."""
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(120, 30, 9, 4, generator=g), torch.arange(120) % 2
    board = iw.ProbeDashboard.fit(X, y, k=4, background=False)
    open_exported(offline_page, board, tmp_path / "pd30.html")
    canvas = offline_page.locator(".iwpd-grid canvas[data-painted]")
    canvas.wait_for(timeout=20000)
    cell, left, top = (float(canvas.get_attribute(f"data-{k}")) for k in ("cell", "left", "top"))
    box = canvas.bounding_box()
    assert 10 <= cell and 30 * cell <= 480 and box["height"] <= top + 480
    offline_page.mouse.move(box["x"] + left + 8.5 * cell, box["y"] + top + 27.5 * cell)
    acc = board.results.metrics["val_accuracy"]
    assert offline_page.locator(".iwpd-readout").inner_text() == f"layer 27, head 8: val_accuracy {acc[27, 8]:.3f}"
    assert offline_page.errors == []
