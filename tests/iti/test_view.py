"""ITIView: generations with and without the edit, cancellation of stale ones, linking, curves."""

import ipywidgets
import models
import pytest
import torch

import interpwidgets as iw


@pytest.fixture
def setup():
    model = models.gpt2()
    g = torch.Generator().manual_seed(0)
    acts, labels = torch.randn(200, 2, 4, 8, generator=g), torch.arange(200) % 2
    acts[labels == 1, 1, 2] += 1.0
    return model, iw.ITI.from_activations(acts, labels, k=2)


def _greedy(model, iti, prompt, alpha, n):
    with torch.no_grad(), iti.apply(model, alpha):
        out = model.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False, pad_token_id=0)
    return [f" {t}" for t in out[0, len(prompt):].tolist()]


def test_generations_match_direct_generation(setup):
    model, iti = setup
    view = iw.ITIView(model, None, iti, [[5, 6, 7]], alpha=12.0, max_new_tokens=6, background=False)
    assert view.plain_tokens == _greedy(model, iti, [5, 6, 7], 0.0, 6)
    assert view.edited_tokens == _greedy(model, iti, [5, 6, 7], 12.0, 6)
    assert view.edited_tokens != view.plain_tokens  # a strong edit changes this tiny model's text
    assert view.heads == [list(h) for h in iti.heads] and view.generations == 1


def test_a_moved_slider_cancels_the_stale_generation(setup):
    model, iti = setup
    view = iw.ITIView(model, None, iti, [[5, 6, 7]], alpha=1.0, max_new_tokens=40)
    for alpha in (2.0, 3.0, 4.0, 30.0):  # moved while generating
        view.alpha = alpha
    view.wait(60)
    assert not view.generating
    assert view.edited_tokens == _greedy(model, iti, [5, 6, 7], 30.0, 40)  # the last setting, whole
    assert 1 <= view.generations <= 5  # stale ones were stopped before finishing, or finished first
    assert iw.capture.__name__ and sum(len(m._forward_hooks) for m in model.modules()) == 0  # no hook left


def test_k_kind_and_heads_from_a_dashboard(setup):
    model, iti = setup
    view = iw.ITIView(model, None, iti, [[5, 6, 7]], max_new_tokens=3, background=False)
    view.k = 4
    assert len(view.heads) == 4 and view.iti.k == 4
    view.kind = "random"
    assert view.iti.kind == "random"
    board = iw.ProbeDashboard(iti.probes, k=3)
    ipywidgets.dlink((board, "top"), (view, "heads"))
    assert view.heads == board.top and view.iti.heads == [tuple(h) for h in board.top]
    board.k = 1
    assert view.iti.heads == [tuple(board.top[0])]
    view.k = 99
    assert view.k == 1 and "k must be between 1 and the number of heads (8)" in view.error
    view.prompt_index = 3
    assert view.prompt_index == 0 and "prompt_index must be between 0 and 0" in view.error


def test_sweep_fills_the_curves(setup):
    model, iti = setup
    view = iw.ITIView(model, None, iti, [[5, 6, 7]], max_new_tokens=3, background=False)
    texts = [{"input_ids": list(range(3, 15))}]
    curves = view.sweep([0, 5, 10], texts, truth=lambda it, a: a / 10, progress=False)
    assert curves["kl"][0] == 0 and curves["truth"] == [0.0, 0.5, 1.0] and view.curves["alpha"] == [0.0, 5.0, 10.0]
