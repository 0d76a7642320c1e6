"""The engine under threads: contexts opened and closed from several threads at once, on one model and on
two, while another thread generates with an edit. Nothing may leak, and nothing may change what is captured."""

import sys
import threading

import models
import torch

import interpwidgets as iw

SITES = ["layers.0.attn.q", "layers.1.attn.pattern", "layers.0.attn.head_out", "layers.1.resid_post"]
ROUNDS, WORKERS = 50, 4


def _edits(model):
    return {"layers.0.attn.out": iw.Scale(0.5), "layers.1.attn.head_out": iw.Add(torch.ones(8), alpha=2.0, heads=[1])}


def _one_round(model, ids, edited: bool) -> dict[str, torch.Tensor]:
    with torch.no_grad(), iw.capture(model, SITES) as cache:
        if edited:
            with iw.intervene(model, _edits(model)):
                model(ids)
        else:
            model(ids)
    return {k: cache[k].clone() for k in SITES}


def _generate(model, prompt):
    edit = {"layers.*.attn.head_out": iw.Add(torch.full((8,), 3.0), alpha=1.0, heads=[0], positions=-1)}
    with torch.no_grad(), iw.intervene(model, edit):
        return model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)


def test_contexts_opened_and_closed_from_many_threads_leave_nothing_and_change_nothing():
    gpt2, llama = models.gpt2("sdpa"), models.llama("sdpa")  # both read q/k/pattern through the registry
    ids = {id(m): models.tokens(m, batch=2, seq=7) for m in (gpt2, llama)}
    prompt = models.tokens(gpt2, batch=1, seq=4, seed=1)
    # what a single thread sees, alone
    expected = {(id(m), e): _one_round(m, ids[id(m)], e) for m in (gpt2, llama) for e in (False, True)}
    generated = _generate(gpt2, prompt)
    models.assert_engine_clean(gpt2, llama)

    stop, failures, generations = threading.Event(), [], []

    def generator():
        try:
            while not stop.is_set():
                generations.append(_generate(gpt2, prompt))
        except Exception as err:  # a failure in a thread must fail the test
            failures.append(err)

    def worker(w: int):
        try:
            for r in range(ROUNDS):
                model = (gpt2, llama)[(w + r) % 2] if w % 2 else gpt2  # workers 0, 2 on one model; 1, 3 on two
                edited = (w + r) % 3 == 0
                for _ in range(5):  # contexts opened and closed with no pass in between: set-up races teardown
                    with iw.capture(model, SITES), iw.intervene(model, _edits(model)):
                        pass
                got = _one_round(model, ids[id(model)], edited)
                for site, t in got.items():
                    if not torch.equal(t, expected[(id(model), edited)][site]):
                        failures.append(AssertionError(f"worker {w} round {r}: {site} differs"))
        except Exception as err:
            failures.append(err)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: races show up at once
    try:
        gen = threading.Thread(target=generator)
        gen.start()
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        gen.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures[:3]
    assert generations and all(torch.equal(g, generated) for g in generations)
    models.assert_engine_clean(gpt2, llama)


def test_hook_context_counts_calls_from_the_context_opening():
    """HookContext.call is the forward call since *this* context opened, also when another context keeps the
    model's call tracker alive in between."""
    model = models.gpt2()
    ids = models.tokens(model, batch=1, seq=3)
    seen = []

    def spy(t, ctx):
        seen.append(ctx.call)
        return t

    with torch.no_grad(), iw.capture(model, "layers.0.resid_post"):  # keeps the tracker alive throughout
        for _ in range(3):
            model(ids)
        with iw.intervene(model, {"layers.0.attn.out": spy}):
            for _ in range(2):
                model(ids)
        with iw.intervene(model, {"layers.0.attn.out": spy}):
            model(ids)
    assert seen == [0, 1, 0]


def test_contexts_on_a_model_and_on_its_own_submodule_compose_in_order():
    """Two roots that share modules (the model and model.transformer): the edit still runs before the capture,
    whichever root each context was opened on, and both orders of opening give the edited value."""
    model = models.gpt2()
    ids = models.tokens(model, batch=1, seq=5)
    site = "layers.0.resid_post"
    for outer, inner in ((model, model.transformer), (model.transformer, model)):
        with torch.no_grad(), iw.capture(outer, site) as cache, iw.intervene(inner, {site: iw.Set(0.0)}):
            model(ids)
        assert cache[site].abs().max() == 0
        with torch.no_grad(), iw.intervene(outer, {site: iw.Set(0.0)}), iw.capture(inner, site) as cache:
            model(ids)
        assert cache[site].abs().max() == 0
    models.assert_engine_clean(model)
