"""Interventions' arithmetic, composition of contexts, bad input, and hooks that always go."""

import models
import pytest
import torch
from transformers.modeling_utils import AttentionInterface

import interpwidgets as iw

ORIGINAL_GET_INTERFACE = AttentionInterface.get_interface


@pytest.fixture
def gpt2():
    return models.gpt2("sdpa")


@pytest.fixture
def ids(gpt2):
    return models.tokens(gpt2, batch=2, seq=6)


def _clean(model):
    models.assert_engine_clean(model)
    assert AttentionInterface.get_interface is ORIGINAL_GET_INTERFACE


def _edited(model, ids, site, edit):
    with torch.no_grad():
        with iw.capture(model, site) as clean:
            model(ids)
        with iw.intervene(model, {site: edit}), iw.capture(model, site) as out:
            model(ids)
    return clean[site], out[site]


def test_add_with_positions_and_heads_selects_the_outer_product(gpt2, ids):
    v = torch.arange(8.0)
    before, after = _edited(gpt2, ids, "layers.0.attn.head_out", iw.Add(v, alpha=0.5, heads=[1, 3], positions=[0, -1]))
    expected = before.clone()
    for p in (0, 5):
        for h in (1, 3):
            expected[:, p, h] += 0.5 * v
    assert torch.equal(after, expected)


def test_add_per_head_vectors(gpt2, ids):
    v = torch.randn(2, 8)
    before, after = _edited(gpt2, ids, "layers.1.attn.head_out", iw.Add(v, alpha=2.0, heads=[0, 2]))
    torch.testing.assert_close(after[:, :, [0, 2]], before[:, :, [0, 2]] + 2.0 * v)
    assert torch.equal(after[:, :, [1, 3]], before[:, :, [1, 3]])


def test_scale_set_and_zero_ablation(gpt2, ids):
    before, after = _edited(gpt2, ids, "layers.0.resid_post", iw.Scale(0.5, positions=[2]))
    torch.testing.assert_close(after[:, 2], before[:, 2] * 0.5)
    assert torch.equal(after[:, [0, 1, 3, 4, 5]], before[:, [0, 1, 3, 4, 5]])
    _, after = _edited(gpt2, ids, "layers.0.attn.q", iw.Set(1.5, heads=[0]))
    assert (after[:, :, 0] == 1.5).all()
    _, after = _edited(gpt2, ids, "layers.0.mlp.hidden", iw.Ablate())
    assert (after == 0).all()


def test_mean_ablation_uses_the_batch_mean_or_the_given_mean(gpt2, ids):
    before, after = _edited(gpt2, ids, "layers.0.attn.head_out", iw.Ablate("mean", heads=[1]))
    mean = before[:, :, 1].mean(dim=(0, 1))
    torch.testing.assert_close(after[:, :, 1], mean.expand_as(after[:, :, 1]))
    assert torch.equal(after[:, :, 0], before[:, :, 0])
    given = torch.randn(32)
    _, after = _edited(gpt2, ids, "layers.1.resid_pre", iw.Ablate("mean", mean=given, positions=[0]))
    torch.testing.assert_close(after[:, 0], given.expand(2, 32))


def test_patch_copies_another_run(gpt2, ids):
    other = models.tokens(gpt2, batch=2, seq=6, seed=5)
    site = "layers.0.attn.head_out"
    with torch.no_grad():
        with iw.capture(gpt2, [site, "layers.1.resid_post"]) as source:
            gpt2(other)
        with iw.intervene(gpt2, {site: iw.Patch(source)}), iw.capture(gpt2, "layers.1.resid_post") as patched:
            gpt2(ids)
    # all of layer 0's attention output comes from the other run; the residual stream does not
    assert not torch.allclose(patched["layers.1.resid_post"], source["layers.1.resid_post"])
    _, after = _edited(gpt2, ids, site, iw.Patch(source, heads=[2]))
    torch.testing.assert_close(after[:, :, 2], source[site][:, :, 2])


def test_pattern_edit_changes_the_attention_output(gpt2, ids):
    uniform = lambda p, ctx: torch.tril(torch.ones_like(p)) / torch.tril(torch.ones_like(p)).sum(-1, keepdim=True)  # noqa: E731
    sites = ["layers.0.attn.pattern", "layers.0.attn.head_out", "layers.0.attn.v"]
    with torch.no_grad(), iw.intervene(gpt2, {"layers.0.attn.pattern": uniform}), iw.capture(gpt2, sites) as c:
        gpt2(ids)
    v = c["layers.0.attn.v"]  # [b, s, h, d]: with uniform causal attention, head_out is the running mean of v
    running_mean = v.cumsum(1) / torch.arange(1, 7).view(1, 6, 1, 1)
    torch.testing.assert_close(c["layers.0.attn.head_out"], running_mean, atol=1e-5, rtol=1e-5)


def test_capture_sees_edits_whatever_the_nesting(gpt2, ids):
    site = "layers.0.resid_post"
    edit = {site: iw.Set(0.0)}
    with torch.no_grad():
        with iw.capture(gpt2, site) as outer, iw.intervene(gpt2, edit):
            gpt2(ids)
        with iw.intervene(gpt2, edit), iw.capture(gpt2, site) as inner:
            gpt2(ids)
    assert (outer[site] == 0).all() and (inner[site] == 0).all()
    _clean(gpt2)


def test_two_edits_on_one_site_compose_in_order(gpt2, ids):
    site = "layers.0.resid_post"
    with torch.no_grad():
        with iw.capture(gpt2, site) as clean:
            gpt2(ids)
        with iw.intervene(gpt2, {site: iw.Add(torch.ones(32))}), iw.intervene(gpt2, {site: iw.Scale(2.0)}), \
                iw.capture(gpt2, site) as c:
            gpt2(ids)
    torch.testing.assert_close(c[site], (clean[site] + 1) * 2)


def test_hooks_are_removed_when_the_forward_pass_raises(gpt2, ids):
    def boom(t, ctx):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with iw.capture(gpt2, iw.sites(gpt2)), iw.intervene(gpt2, {"layers.1.attn.q": boom}):
            gpt2(ids)
    _clean(gpt2)
    with pytest.raises(IndexError):
        with iw.capture(gpt2, ["layers.*.attn.pattern", "layers.0.resid_pre"]):
            gpt2(torch.tensor([[1000]]))  # token id outside the vocabulary
    _clean(gpt2)
    with torch.no_grad():  # and the model still runs plainly
        gpt2(ids)


def test_unknown_site_names_the_close_matches(gpt2):
    with pytest.raises(iw.SiteNotFoundError) as err:
        with iw.capture(gpt2, "layers.0.atn.q"):
            pass
    assert isinstance(err.value, KeyError)
    msg = str(err.value)
    assert "layers.0.attn.q" in msg and "iw.sites(model)" in msg
    with pytest.raises(iw.SiteNotFoundError, match="layers.9.resid_post|iw.sites"):
        iw.resolve_sites(gpt2, "layers.9.resid_post")
    _clean(gpt2)


def test_wrong_shaped_vector_names_the_expected_shape(gpt2):
    with pytest.raises(ValueError, match=r"\(32,\)"):
        with iw.intervene(gpt2, {"layers.0.resid_post": iw.Add(torch.ones(31))}):
            pass
    with pytest.raises(ValueError, match=r"\(8,\) or \(2, 8\)"):
        with iw.intervene(gpt2, {"layers.0.attn.head_out": iw.Add(torch.ones(3, 8), heads=[0, 1])}):
            pass
    with pytest.raises(ValueError, match="4 heads"):
        with iw.intervene(gpt2, {"layers.0.attn.head_out": iw.Add(torch.ones(8), heads=[7])}):
            pass
    with pytest.raises(ValueError, match="per-head site"):
        with iw.intervene(gpt2, {"layers.0.resid_post": iw.Scale(2, heads=[0])}):
            pass
    _clean(gpt2)


def test_an_edit_function_must_keep_the_shape(gpt2, ids):
    with pytest.raises(ValueError, match="must return a tensor of shape"):
        with iw.intervene(gpt2, {"layers.0.resid_post": lambda t, ctx: t[:, :1]}):
            gpt2(ids)
    _clean(gpt2)


def test_cache_offload_dtype_and_stack(gpt2, ids):
    with torch.no_grad(), iw.capture(gpt2, "layers.*.resid_post", dtype=torch.float16, device="cpu") as c:
        gpt2(ids)
    assert c["layers.0.resid_post"].dtype == torch.float16
    assert c.stack("layers.*.resid_post").shape == (2, 2, 6, 32)
    assert set(c) == {"layers.0.resid_post", "layers.1.resid_post"}
    assert "2 sites" in repr(c)
    with pytest.raises(KeyError, match="not captured"):
        c["layers.0.attn.q"]


def test_independent_calls_are_stacked_or_listed(gpt2, ids):
    with torch.no_grad(), iw.capture(gpt2, "layers.0.resid_post") as c:
        gpt2(ids)
        gpt2(ids)
        gpt2(ids[:, :3])
    calls = c.calls("layers.0.resid_post")
    assert [tuple(t.shape) for t in calls] == [(2, 6, 32), (2, 6, 32), (2, 3, 32)]
    with pytest.raises(ValueError, match="cache.calls"):
        c["layers.0.resid_post"]


def test_in_place_changes_after_capture_are_detected():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU(inplace=True))
    with torch.no_grad(), iw.capture(net, "0") as c:
        net(torch.randn(2, 3))
    with pytest.raises(RuntimeError, match="in place"):
        c["0"]


def test_a_context_serves_only_its_own_thread():
    """A widget editing in a background thread: the main thread's passes are neither edited nor captured there,
    and the background's edit is exact while the main thread captures at the same sites."""
    import threading

    model = models.gpt2()
    ids = models.tokens(model, batch=2, seq=6)
    with torch.no_grad():
        plain = model(ids).logits
    started, stop, seen = threading.Event(), threading.Event(), []

    def background():
        with torch.no_grad(), iw.intervene(model, {"layers.*.attn.head_out": iw.Ablate()}), \
                iw.capture(model, "layers.0.resid_post") as bg:
            started.set()
            while not stop.is_set():
                model(ids[:1, :3])
            seen.append(bg.calls("layers.0.resid_post"))

    t = threading.Thread(target=background)
    t.start()
    started.wait()
    try:
        for _ in range(20):
            with torch.no_grad(), iw.capture(model, ["layers.0.resid_post", "layers.1.attn.pattern"]) as cache:
                out = model(ids).logits
            assert torch.equal(out, plain)  # not ablated by the other thread's edit
            assert cache["layers.0.resid_post"].shape == (2, 6, 32)  # one call: only this thread's
    finally:
        stop.set()
        t.join()
    assert seen[0] and all(c.shape == (1, 3, 32) for c in seen[0])  # and the background saw only its own
    _clean(model)


def test_add_follows_a_changed_alpha_or_vector(gpt2, ids):
    """The broadcast Add caches alpha * vector: a later change of either must still take effect."""
    v = torch.ones(8)
    edit = iw.Add(v, alpha=1.0, heads=[1])
    site = "layers.0.attn.head_out"
    with torch.no_grad(), iw.capture(gpt2, site) as plain:
        gpt2(ids)
    for alpha, fill in ((1.0, 1.0), (3.0, 1.0), (3.0, -2.0)):
        edit.alpha = alpha
        v.fill_(fill)
        with torch.no_grad(), iw.intervene(gpt2, {site: edit}), iw.capture(gpt2, site) as edited:
            gpt2(ids)
        diff = edited[site] - plain[site]
        torch.testing.assert_close(diff[:, :, 1], torch.full_like(diff[:, :, 1], alpha * fill), atol=1e-5, rtol=0)
        assert torch.equal(edited[site][:, :, [0, 2, 3]], plain[site][:, :, [0, 2, 3]])


def test_add_follows_changed_heads_and_positions(gpt2, ids):
    """Setting heads or positions after the edit was made (and used) must move the edit with them."""
    site = "layers.0.attn.head_out"
    edit = iw.Add(torch.ones(8), alpha=1.0, heads=[1])
    with torch.no_grad(), iw.capture(gpt2, site) as plain:
        gpt2(ids)
    heads, positions = [1], None
    for name, value in (("heads", [1]), ("heads", [3]), ("positions", -1), ("heads", [0, 2]), ("positions", [0, 3]),
                        ("positions", None), ("heads", [2])):
        setattr(edit, name, value)  # one setting at a time
        heads, positions = (value, positions) if name == "heads" else (heads, value)
        with torch.no_grad(), iw.intervene(gpt2, {site: edit}), iw.capture(gpt2, site) as edited:
            gpt2(ids)
        changed = (edited[site] - plain[site]).abs().amax(dim=(0, 3)) > 0  # [positions, heads]
        expected = torch.zeros(6, 4, dtype=torch.bool)
        rows = torch.arange(6) if positions is None else torch.tensor(positions).reshape(-1) % 6
        expected[rows[:, None], torch.tensor(heads)[None, :]] = True
        assert torch.equal(changed, expected), (heads, positions)


def test_an_edit_at_the_last_position_edits_each_call_once(gpt2, ids):
    """positions=-1: the last prompt token, then every generated token (each the last of its call)."""
    site = "layers.1.attn.head_out"
    edit = iw.Add(torch.ones(8), alpha=2.0, heads=[2], positions=-1)
    with torch.no_grad(), iw.intervene(gpt2, {site: edit}), iw.capture(gpt2, site) as cache:
        out = gpt2.generate(ids[:1], max_new_tokens=3, do_sample=False, pad_token_id=0)
    with torch.no_grad(), iw.capture(gpt2, site) as plain:
        gpt2(out[:, :-1])
    diff = (cache[site] - plain[site])[0]  # [positions, heads, d]
    assert diff.shape[0] == 6 + 3 - 1
    assert diff[:5].abs().max() < 1e-6  # the prompt before its last token: untouched (up to rounding)
    torch.testing.assert_close(diff[5:, 2], torch.full((3, 8), 2.0), atol=1e-5, rtol=0)
    assert diff[5:, [0, 1, 3]].abs().max() < 1e-6  # other heads: cached vs. full-pass rounding only


def test_a_replaced_module_is_found_again(gpt2, ids):
    """Replacing a module by a copy keeps the module count: the engine must still edit the new module."""
    import copy

    site = "layers.0.attn.out"
    assert site in iw.sites(gpt2)  # the site table is built and cached with the old module
    attn = gpt2.transformer.h[0].attn
    attn.c_proj = copy.deepcopy(attn.c_proj)
    with torch.no_grad(), iw.intervene(gpt2, {site: iw.Set(0.0)}), iw.capture(gpt2, site) as cache:
        gpt2(ids)
    assert cache[site].abs().max() == 0
    _clean(gpt2)


def test_capture_and_edits_work_under_inference_mode(gpt2, ids):
    """Inference-mode tensors have no version counter: captures and Add's cache must not ask them for one."""
    site = "layers.0.attn.head_out"
    with torch.no_grad(), iw.capture(gpt2, site) as plain:
        gpt2(ids)
    with torch.inference_mode():
        edit = iw.Add(torch.ones(8), alpha=2.0, heads=[1])  # a vector made in inference mode too
        with iw.intervene(gpt2, {site: edit}), iw.capture(gpt2, site) as edited:
            gpt2(ids)
    diff = edited[site] - plain[site]
    torch.testing.assert_close(diff[:, :, 1], torch.full_like(diff[:, :, 1], 2.0), atol=1e-5, rtol=0)
    _clean(gpt2)


def test_add_follows_heads_changed_in_place_and_skips_positions_a_call_lacks(gpt2, ids):
    site = "layers.0.attn.head_out"
    edit = iw.Add(torch.ones(8), alpha=1.0, heads=[1])
    with torch.no_grad(), iw.capture(gpt2, site) as plain:
        gpt2(ids)
    with torch.no_grad(), iw.intervene(gpt2, {site: edit}):
        gpt2(ids)  # the broadcast delta is cached for head 1
    edit.heads[0] = 3  # changed in place, not set
    with torch.no_grad(), iw.intervene(gpt2, {site: edit}), iw.capture(gpt2, site) as edited:
        gpt2(ids)
    changed = (edited[site] - plain[site]).abs().amax(dim=(0, 1, 3)) > 0
    assert changed.tolist() == [False, False, False, True]
    # positions=-2 during cached generation: the new-token calls have one position, so only the prompt's
    # second-to-last token is edited, and nothing raises
    edit = iw.Add(torch.ones(8), alpha=2.0, heads=[2], positions=-2)
    with torch.no_grad(), iw.intervene(gpt2, {site: edit}), iw.capture(gpt2, site) as cache:
        out = gpt2.generate(ids[:1], max_new_tokens=3, do_sample=False, pad_token_id=0)
    with torch.no_grad(), iw.capture(gpt2, site) as again:
        gpt2(out[:, :-1])
    diff = (cache[site] - again[site])[0, :, 2].abs().amax(-1)
    assert diff[4] > 1 and diff[[0, 1, 2, 3, 5, 6, 7]].max() < 1e-5
