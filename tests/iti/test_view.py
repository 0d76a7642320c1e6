"""ITIView: generations with and without the edit, cancellation of stale ones, linking, curves."""

import time

import ipywidgets
import models
import pytest
import torch

import interpwidgets as iw
from interpwidgets.iti.metrics import edit_costs


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
    """Each forward pass takes 10 ms: a generation of 40 tokens cannot finish between two slider moves, so
    only the last setting's generation may finish, and the stale ones stop within a token or two."""
    model, iti = setup
    calls = []

    def slow(module, args):
        calls.append(1)
        time.sleep(0.01)

    handle = model.register_forward_pre_hook(slow)
    try:
        view = iw.ITIView(model, None, iti, [[5, 6, 7]], alpha=1.0, max_new_tokens=40)
        for alpha in (2.0, 3.0, 4.0, 30.0):  # moved while generating
            view.alpha = alpha
        view.wait(60)
    finally:
        handle.remove()
    assert not view.generating and view.generations == 1  # four stale generations stopped before finishing
    # the last setting, whole: 40 plain + 40 edited passes, and a few for each stale one (uncancelled: 240)
    assert len(calls) <= 80 + 4 * 3, len(calls)
    assert view.edited_tokens == _greedy(model, iti, [5, 6, 7], 30.0, 40)
    models.assert_engine_clean(model)  # no hook of any kind left behind by the cancelled generations


def test_a_moved_slider_never_waits_for_the_stale_generation(setup):
    """The stale generation is stopped, not joined on the kernel's thread: the setter returns while that
    generation is still blocked inside a forward pass (had it waited, the pass would have timed out)."""
    import threading

    model, iti = setup
    gate, inside, timed_out = threading.Event(), threading.Event(), []

    def blocked(module, args):
        inside.set()
        timed_out.append(not gate.wait(10))

    handle = model.register_forward_pre_hook(blocked)
    try:
        view = iw.ITIView(model, None, iti, [[5, 6, 7]], alpha=1.0, max_new_tokens=4)
        assert inside.wait(10)  # the first generation is inside a forward pass, held at the gate
        view.alpha = 3.0
        view.close()  # closing does not wait either
        assert timed_out == [] and view._job.running  # returned while the stale run is still held
        gate.set()
        assert view._job.wait(30)
    finally:
        handle.remove()
    assert not any(timed_out) and not view.generating
    models.assert_engine_clean(model)


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


def test_sweep_measures_the_current_heads_and_direction(setup):
    """sweep() measures the costs and calls the truth judge for the setting the controls show now."""
    model, iti = setup
    view = iw.ITIView(model, None, iti, [[5, 6, 7]], max_new_tokens=3, background=False)
    view.kind, view.k = "probe", 3
    texts = [{"input_ids": list(range(3, 15))}, {"input_ids": list(range(20, 26))}]
    prompt = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        plain = model(prompt).logits[0, -1]
    seen = []

    def changed_top_token(it, alpha):  # a judge that reads the edited model: is the next token another one?
        seen.append((it.kind, it.heads, alpha))
        with torch.no_grad(), it.apply(model, alpha):
            return float(model(prompt).logits[0, -1].argmax() != plain.argmax())

    curves = view.sweep([0, 5, 200], texts, truth=changed_top_token, progress=False)
    assert [s[:2] for s in seen] == [("probe", iti.select(k=3, kind="probe").heads)] * 3
    assert curves["truth"][0] == 0.0 and curves["truth"][-1] == 1.0  # no edit changes nothing; a huge one does
    direct = edit_costs(model, iti.select(k=3, kind="probe"), texts, [0, 5, 200], progress=False)
    assert curves["kl"] == direct["kl"] and curves["cross_entropy"] == direct["cross_entropy"]
    assert curves["kl"][0] == 0 < curves["kl"][1] < curves["kl"][2]
    assert view.curves["kind"] == "probe" and view.curves["alpha"] == [0.0, 5.0, 200.0]


def test_a_failing_judge_is_the_judges_failure_not_the_generations(setup):
    """Both answers are generated before they are judged: a judge that raises leaves the texts, counts the
    generation, and says that the judge failed."""
    model, iti = setup

    def judge(i, text):
        raise KeyError("no such question")

    view = iw.ITIView(model, None, iti, [[5, 6, 7]], alpha=12.0, max_new_tokens=4, background=False, judge=judge)
    assert view.edited_tokens == _greedy(model, iti, [5, 6, 7], 12.0, 4) and view.generations == 1
    assert view.error == "judge: KeyError: 'no such question'" and view.verdicts == {}


def test_a_chat_prompt_goes_through_the_template():
    """A conversation is read as the tokenizer's chat template renders it, the assistant's turn opened (the
    real chat model answers as generate() does on the template's ids); the view shows the last message."""
    model, tokenizer = models.smollm2()
    g = torch.Generator().manual_seed(0)
    iti = iw.ITI.from_activations(torch.randn(100, 30, 9, 64, generator=g), torch.arange(100) % 2, k=2)
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    briefly = [{"role": "system", "content": "Answer in one word."}, *chat]
    view = iw.ITIView(model, tokenizer, iti, [chat, "Plain text", briefly], alpha=0.0, max_new_tokens=6,
                      background=False)
    ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=6, do_sample=False)
    assert "".join(view.plain_tokens) == tokenizer.decode(out[0, ids.shape[1]:]) == "The capital of France is Paris"
    assert view.prompts == ["What is the capital of France?\n", "Plain text", "What is the capital of France?\n"]
    view.close()
    models.assert_engine_clean(model)
    with pytest.raises(ValueError, match="need a tokenizer with a chat template"):
        iw.ITIView(models.minilm(), models.minilm_tokenizer(), iti, [chat], background=False)
