"""ITIView in Chromium, from an exported page: both generations and the curves with alpha marked."""

import models
import torch
from pages import open_exported

import interpwidgets as iw


def test_generations_and_curves_render_offline(tmp_path, offline_page):
    model = models.gpt2()
    g = torch.Generator().manual_seed(0)
    iti = iw.ITI.from_activations(torch.randn(200, 2, 4, 8, generator=g), torch.arange(200) % 2, k=2)
    view = iw.ITIView(model, None, iti, [[5, 6, 7], [8, 9]], alpha=12.0, max_new_tokens=5, background=False)
    view.sweep([0, 6, 12, 18], [{"input_ids": list(range(3, 15))}], truth=lambda it, a: a / 20, progress=False)
    open_exported(offline_page, view, tmp_path / "iti.html")
    edited = offline_page.locator(".iwiti-edited[data-painted]")
    edited.wait_for(timeout=20000)
    assert edited.locator(".iwiti-gen").inner_text() == "".join(view.edited_tokens)
    assert offline_page.locator(".iwiti-plain .iwiti-gen").inner_text() == "".join(view.plain_tokens)
    assert offline_page.locator(".iwiti-chart").count() == 3
    # the alpha marker sits at 12 of 0..18 on every chart: two thirds of the way along the x axis
    xs = offline_page.eval_on_selector_all(".iwiti-marker", "ls => ls.map(l => +l.getAttribute('x1'))")
    assert len(xs) == 3 and all(abs(x - (42 + (12 / 18) * (300 - 42 - 8))) < 0.5 for x in xs)
    assert "2 heads edited" in offline_page.locator(".iwiti-heads").inner_text()
    assert offline_page.errors == [] and offline_page.blocked == []
