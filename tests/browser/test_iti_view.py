"""ITIView in Chromium, from an exported page: both generations and the curves with alpha marked."""

import models
import torch
from pages import open_exported

import interpwidgets as iw


def test_generations_and_curves_render_offline(tmp_path, offline_page):
    model = models.gpt2()
    g = torch.Generator().manual_seed(0)
    iti = iw.ITI.from_activations(torch.randn(200, 2, 4, 8, generator=g), torch.arange(200) % 2, k=2)
    judged = []  # the plain answer is judged first, then the edited one

    def judge(i, text):
        judged.append(text)
        return "true" if len(judged) % 2 else "misconception"

    view = iw.ITIView(model, None, iti, [[5, 6, 7], [8, 9]], alpha=12.0, max_new_tokens=5, background=False,
                      judge=judge)
    view.sweep([0, 6, 12, 18], [{"input_ids": list(range(3, 15))}], truth=lambda it, a: a / 20, progress=False)
    open_exported(offline_page, view, tmp_path / "iti.html")
    edited = offline_page.locator(".iwiti-edited[data-painted]")
    edited.wait_for(timeout=20000)
    assert edited.locator(".iwiti-gen").inner_text() == "".join(view.edited_tokens)
    assert offline_page.locator(".iwiti-plain .iwiti-gen").inner_text() == "".join(view.plain_tokens)
    charts = offline_page.locator(".iwiti-curves svg.iw-chart")
    assert charts.count() == 3
    # the alpha marker sits at 12 of 0..18 on every chart: two thirds of the way along the x axis (46 px of
    # y axis on the left, 10 px of margin on the right of 300)
    xs = offline_page.eval_on_selector_all(".iwiti-marker", "ls => ls.map(l => +l.getAttribute('x1'))")
    assert len(xs) == 3 and all(abs(x - (46 + (12 / 18) * (300 - 46 - 10))) < 0.5 for x in xs)
    # real axes: round ticks along alpha, and titles with units
    ticks = charts.first.locator("text").all_text_contents()
    assert {"0", "5", "10", "15"} <= set(ticks) and "alpha (edit strength)" in ticks
    assert "nats per token" in charts.nth(1).locator("text").all_text_contents()
    assert "2 heads edited" in offline_page.locator(".iwiti-heads").inner_text()
    # the judge's verdicts are marked by words, not colour alone
    assert offline_page.locator(".iwiti-plain .iwiti-verdict").inner_text() == "✓ true"
    assert offline_page.locator(".iwiti-edited .iwiti-verdict").inner_text() == "✗ misconception"
    # curves measured for other heads say so
    assert offline_page.locator(".iwiti-stale").count() == 0
    view.k = 3
    open_exported(offline_page, view, tmp_path / "iti_stale.html")
    offline_page.locator(".iwiti-stale").filter(has_text="measured for mass-mean direction on 2 heads").wait_for(
        timeout=20000)
    assert offline_page.errors == [] and offline_page.blocked == []
