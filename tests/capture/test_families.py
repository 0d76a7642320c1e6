"""The engine's acceptance list, per model family: sites, bit-identity, patterns, head_out, Add, generation."""

import models
import pytest
import torch
from transformers.modeling_utils import AttentionInterface

import interpwidgets as iw

ORIGINAL_GET_INTERFACE = AttentionInterface.get_interface


def _bert_inputs(model):
    ids = models.tokens(model, batch=2, seq=7)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # a padded row: masks must be honoured
    return dict(input_ids=ids, attention_mask=mask)


def _minilm_inputs(model):
    tok = models.minilm_tokenizer()
    return dict(tok(["The cat sat on the mat.", "Attention is all you need, they said."],
                    padding=True, return_tensors="pt"))


FAMILIES = {
    "gpt2": (models.gpt2, lambda m: dict(input_ids=models.tokens(m))),
    "llama": (models.llama, lambda m: dict(input_ids=models.tokens(m))),
    "bert": (models.bert, _bert_inputs),
    "minilm": (models.minilm, _minilm_inputs),
    "vit": (models.vit, lambda m: dict(pixel_values=models.images())),
    "t5": (models.t5, lambda m: dict(input_ids=models.tokens(m), decoder_input_ids=models.tokens(m, seq=4, seed=1))),
}


def _run(name, attn="eager", **extra):
    build, inputs = FAMILIES[name]
    model = build(attn)
    return model, {**inputs(model), **extra}


def _main_output(out):
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def _assert_clean(model):
    assert models.all_hooks(model) == 0
    assert AttentionInterface.get_interface is ORIGINAL_GET_INTERFACE


@pytest.mark.parametrize("name", FAMILIES)
def test_sites_are_listed(name):
    model, _ = _run(name)
    names = iw.sites(model)
    prefixes = ["encoder.", "decoder."] if name == "t5" else [""]
    n_layers = {"minilm": 6}.get(name, 2)
    for p in prefixes:
        assert names.count(f"{p}embed") == 1
        for i in range(n_layers):
            for part in ("resid_pre", "attn.q", "attn.k", "attn.v", "attn.pattern", "attn.head_out",
                         "attn.out", "mlp.hidden", "mlp.out", "resid_post"):
                assert f"{p}layers.{i}.{part}" in names
    if name == "t5":
        assert "decoder.layers.1.cross_attn.pattern" in names
        assert not any(n.startswith("encoder.") and "cross_attn" in n for n in names)
        assert names.index("encoder.layers.1.resid_post") < names.index("decoder.embed")


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("name", FAMILIES)
def test_capturing_everything_changes_nothing(name, attn):
    model, inputs = _run(name, attn)
    with torch.no_grad():
        ref = _main_output(model(**inputs))
        with iw.capture(model, iw.sites(model)) as cache:
            out = _main_output(model(**inputs))
    assert torch.equal(ref, out)
    assert len(cache) == len(iw.sites(model))
    _assert_clean(model)


def _reference_attentions(name, model, inputs):
    out = model(**inputs, output_attentions=True)
    if name == "t5":
        return {"encoder.": out.encoder_attentions, "decoder.": out.decoder_attentions}, out.cross_attentions
    return {"": out.attentions}, None


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("name", FAMILIES)
def test_pattern_equals_eager_output_attentions(name, attn):
    eager, inputs = _run(name, "eager")
    with torch.no_grad():
        refs, cross = _reference_attentions(name, eager, inputs)
        model, _ = _run(name, attn)
        with iw.capture(model, "**.attn.pattern") as c:
            model(**inputs)
    for prefix, ref in refs.items():
        assert len(ref) > 0, "eager run must return attentions"
        for i, r in enumerate(ref):
            got = c[f"{prefix}layers.{i}.attn.pattern"]
            if attn == "eager":
                assert torch.equal(got, r)
            else:  # sdpa's outputs feed later layers with rounding differences of ~1e-7
                torch.testing.assert_close(got, r, atol=2e-6, rtol=1e-5)
    if cross is not None:
        for i, r in enumerate(cross):
            with iw.capture(model, "**.cross_attn.pattern") as cc:
                model(**inputs)
            torch.testing.assert_close(cc[f"decoder.layers.{i}.cross_attn.pattern"], r, atol=2e-6, rtol=1e-5)


def _weight_block(o_proj, sl):
    """The columns of the output projection that read one head, as a [d_head, d_model] matrix."""
    if isinstance(o_proj, torch.nn.Linear):
        return o_proj.weight[:, sl].T
    return o_proj.weight[sl, :]  # GPT-2's Conv1D stores [in, out]


@pytest.mark.parametrize("name", FAMILIES)
def test_output_projection_of_head_out_is_attn_out(name):
    model, inputs = _run(name, "sdpa")
    details = {s.name: s for s in iw.sites(model, details=True)}
    with torch.no_grad(), iw.capture(model, ["**attn.head_out", "**attn.out"]) as c:
        model(**inputs)
    outs = [n for n in c if n.endswith("attn.out")]
    assert outs
    for name_out in outs:
        head_out = c[name_out.replace(".out", ".head_out")]
        o_proj = details[name_out].module
        assert head_out.ndim == 4 and head_out.shape[2] == details[name_out.replace(".out", ".head_out")].heads
        torch.testing.assert_close(o_proj(head_out.flatten(-2)), c[name_out], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_add_on_one_head_matches_hand_computation(name):
    model, inputs = _run(name, "sdpa")
    prefix = "encoder." if name == "t5" else ""
    site = f"{prefix}layers.1.attn.head_out"
    info = {s.name: s for s in iw.sites(model, details=True)}[site]
    head, alpha = 2, 3.0
    v = torch.randn(info.d_head, generator=torch.Generator().manual_seed(1))
    watch = [site, site.replace("head_out", "out")]
    with torch.no_grad():
        with iw.capture(model, watch) as clean:
            model(**inputs)
        with iw.intervene(model, {site: iw.Add(v, alpha=alpha, heads=[head])}), iw.capture(model, watch) as edited:
            model(**inputs)
    before, after = clean[site], edited[site]
    others = [h for h in range(info.heads) if h != head]
    assert torch.equal(before[:, :, others], after[:, :, others])
    torch.testing.assert_close(after[:, :, head], before[:, :, head] + alpha * v)
    sl = slice(head * info.d_head, (head + 1) * info.d_head)
    expected = clean[watch[1]] + alpha * v @ _weight_block(info.module, sl)
    torch.testing.assert_close(edited[watch[1]], expected, atol=1e-5, rtol=1e-5)
    _assert_clean(model)


@pytest.mark.parametrize("name", ["gpt2", "llama", "t5"])
def test_generation_with_an_edit_differs_and_leaves_no_hooks(name):
    model, inputs = _run(name, "sdpa")
    ids = inputs["input_ids"][:1]
    kwargs = dict(max_new_tokens=5, do_sample=False, pad_token_id=0)
    site = "decoder.layers.0.resid_post" if name == "t5" else "layers.0.resid_post"
    d = model.config.hidden_size
    with torch.no_grad():
        plain = model.generate(ids, **kwargs)
        with iw.intervene(model, {site: iw.Add(torch.randn(d, generator=torch.Generator().manual_seed(0)), alpha=20)}):
            edited = model.generate(ids, **kwargs)
    assert not torch.equal(plain, edited)
    _assert_clean(model)
    with torch.no_grad():
        again = model.generate(ids, **kwargs)
    assert torch.equal(plain, again)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_capture_during_generate_matches_one_forward_over_the_result(name):
    """Cached generation steps are appended along the sequence axis, patterns padded: the same as one pass."""
    model, inputs = _run(name, "eager")
    ids = inputs["input_ids"][:1]
    sites = ["layers.1.attn.pattern", "layers.1.attn.k", "layers.1.attn.q", "layers.0.resid_post"]
    with torch.no_grad():
        with iw.capture(model, sites) as gen:
            seq = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
        with iw.capture(model, sites) as full:
            model(seq[:, :-1])  # the last generated token is never fed back
    for s in sites:
        assert gen[s].shape == full[s].shape, s
        torch.testing.assert_close(gen[s], full[s], atol=1e-5, rtol=1e-4)


def test_every_new_token_is_edited_during_generation():
    model, inputs = _run("gpt2", "sdpa")
    ids = inputs["input_ids"][:1]
    calls = []

    def spy(t, ctx):
        calls.append((ctx.call, ctx.offset, t.shape[1]))
        return t

    with torch.no_grad(), iw.intervene(model, {"layers.0.attn.head_out": spy}):
        model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert calls == [(0, 0, 6), (1, 6, 1), (2, 7, 1), (3, 8, 1)]


def test_encoder_only_edit_changes_output():
    for name in ("bert", "vit"):
        model, inputs = _run(name, "sdpa")
        with torch.no_grad():
            ref = _main_output(model(**inputs))
            with iw.intervene(model, {"layers.0.attn.head_out": iw.Ablate(heads=[0, 1])}):
                out = _main_output(model(**inputs))
        assert not torch.allclose(ref, out)
        _assert_clean(model)


# --------------------------------------------------------------------------- diffusers


def test_unet_sites_follow_execution_order():
    pipe = models.sd_pipeline()
    details = iw.sites(pipe, details=True)
    paths = [s.path for s in details if s.name.endswith(".resid_pre")]
    assert paths == ["down_blocks.0.attentions.0.transformer_blocks.0",  # down, mid, up: as they run
                     "mid_block.attentions.0.transformer_blocks.0",
                     "up_blocks.1.attentions.0.transformer_blocks.0",  # up blocks have one more
                     "up_blocks.1.attentions.1.transformer_blocks.0"]
    names = [s.name for s in details]
    assert "layers.0.cross_attn.pattern" in names and "layers.1.attn.head_out" in names


def test_pipeline_capture_stacks_denoising_steps_and_keeps_outputs():
    pipe = models.sd_pipeline()
    call = dict(prompt="a photo of a cat", num_inference_steps=3, height=16, width=16, output_type="np")
    ref = pipe(**call, generator=torch.Generator().manual_seed(0)).images
    sites = ["layers.*.attn.out", "layers.0.attn.pattern", "layers.0.cross_attn.pattern", "layers.0.attn.q",
             "layers.0.attn.k", "layers.0.attn.head_out"]
    with iw.capture(pipe, sites) as c:
        out = pipe(**call, generator=torch.Generator().manual_seed(0)).images
    assert (ref == out).all()
    self_pattern = c["layers.0.attn.pattern"]
    steps, batch, heads, q, k = self_pattern.shape
    assert (steps, batch) == (3, 2)  # 3 steps; classifier-free guidance doubles the batch
    assert q == k == 64  # 8x8 latent tokens
    torch.testing.assert_close(self_pattern.sum(-1), torch.ones(steps, batch, heads, q))
    assert c["layers.0.cross_attn.pattern"].shape[-1] == 77  # text tokens
    # the pattern is softmax(q k^T / sqrt(d)) of the captured q and k
    qs, ks = c["layers.0.attn.q"][0].transpose(1, 2), c["layers.0.attn.k"][0].transpose(1, 2)
    manual = (qs @ ks.transpose(-1, -2) / qs.shape[-1] ** 0.5).softmax(-1)
    torch.testing.assert_close(self_pattern[0], manual, atol=1e-5, rtol=1e-4)
    o_proj = {s.name: s for s in iw.sites(pipe, details=True)}["layers.0.attn.out"].module
    torch.testing.assert_close(o_proj(c["layers.0.attn.head_out"].flatten(-2)), c["layers.0.attn.out"],
                               atol=1e-6, rtol=1e-5)
    assert models.all_hooks(pipe.unet) == 0


def test_pipeline_edit_changes_the_image():
    pipe = models.sd_pipeline()
    call = dict(prompt="a red car", num_inference_steps=2, height=16, width=16, output_type="np")
    ref = pipe(**call, generator=torch.Generator().manual_seed(0)).images
    with iw.intervene(pipe, {"layers.*.cross_attn.head_out": iw.Scale(5.0)}):
        out = pipe(**call, generator=torch.Generator().manual_seed(0)).images
    assert abs(ref - out).max() > 1e-3
    assert models.all_hooks(pipe.unet) == 0


# --------------------------------------------------------------------------- any nn.Module


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8))
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.encoder(x))


def test_plain_module_by_raw_path():
    torch.manual_seed(0)
    net = TinyNet().eval()
    x = torch.randn(3, 4)
    assert iw.sites(net) == ["encoder", "encoder.0", "encoder.1", "encoder.2", "head"]
    with torch.no_grad():
        with iw.capture(net, ["encoder.1", "head:input"]) as c:
            y = net(x)
        relu = torch.relu(net.encoder[0](x))
        assert torch.equal(c["encoder.1"], relu)
        assert torch.equal(c["head:input"], net.encoder(x))
        with iw.intervene(net, {"encoder.1": iw.Set(0.0)}):
            y0 = net(x)
    assert torch.allclose(y0, net.head(net.encoder[2](torch.zeros(3, 8))))
    assert not torch.allclose(y, y0)
    assert models.all_hooks(net) == 0


def test_plain_module_canonical_name_explains_raw_paths():
    with pytest.raises(iw.UnsupportedModelError, match="raw path") as err:
        iw.capture(TinyNet(), "layers.0.resid_post").__enter__()
    assert isinstance(err.value, KeyError)
    assert "encoder" in str(err.value)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_capture_and_edit(dtype):
    model, eager = models.llama("sdpa").to(dtype), models.llama("eager").to(dtype)
    ids = models.tokens(model)
    with torch.no_grad():
        ref = model(ids).logits
        with iw.capture(model, iw.sites(model)) as c:
            out = model(ids).logits
        att = eager(ids, output_attentions=True).attentions
        with iw.intervene(model, {"layers.0.attn.head_out": iw.Add(torch.ones(8), alpha=3, heads=[1])}):
            edited = model(ids).logits
    assert torch.equal(ref, out) and not torch.equal(ref, edited)
    assert c["layers.1.attn.pattern"].dtype == dtype
    torch.testing.assert_close(c["layers.1.attn.pattern"], att[1])
    _assert_clean(model)


def test_key_edit_during_generation_equals_one_edited_forward():
    """Absolute positions on attn.k hold through the KV cache: generation = one pass with the same edit."""
    model, inputs = _run("llama", "sdpa")
    ids = inputs["input_ids"][:1]
    edit = {"layers.1.attn.k": iw.Add(torch.ones(8), alpha=4.0, heads=[1], positions=[2])}
    watch = ["layers.1.attn.pattern", "layers.1.resid_post"]
    with torch.no_grad():
        with iw.intervene(model, edit), iw.capture(model, watch) as gen:
            seq = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
        with iw.intervene(model, edit), iw.capture(model, watch) as full:
            model(seq[:, :-1])
        with iw.capture(model, watch) as clean:
            model(seq[:, :-1])
    for s in watch:
        torch.testing.assert_close(gen[s], full[s], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(full["layers.1.attn.pattern"], clean["layers.1.attn.pattern"])


def test_integer_padding_masks_become_boolean():
    from transformers.models.llama.modeling_llama import eager_attention_forward

    from interpwidgets.capture.hooks import _eager_weights

    model = models.llama("eager")
    attn = model.model.layers[0].self_attn
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, n, 5, 8, generator=g) for n in (4, 2, 2))
    padding = torch.tensor([[1, 1, 1, 0, 0]])  # as flash attention receives it
    w = _eager_weights(eager_attention_forward, attn, q, k, v, padding, (), {"scaling": 8 ** -0.5})
    assert (w[..., 3:] == 0).all() and (w[0, :, 0, 1:3] == 0).all()  # padding and causality both hold
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 4, 5))


def test_causal_alignment_follows_the_kernel_and_flex_masks_are_explained():
    from transformers.models.llama.modeling_llama import eager_attention_forward

    from interpwidgets.capture.hooks import _eager_weights

    attn = models.llama("eager").model.layers[0].self_attn  # causal, 4 heads over 2 key-value heads
    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(1, 4, 2, 8, generator=g), torch.randn(1, 2, 5, 8, generator=g), torch.randn(1, 2, 5, 8)
    args = (eager_attention_forward, attn, q, k, v, None, (), {"scaling": 8 ** -0.5})
    top_left, bottom_right = _eager_weights(*args), _eager_weights(*args, bottom_right=True)
    assert (top_left[0, :, 0, 1:] == 0).all() and (top_left[0, :, 1, 2:] == 0).all()  # sdpa: query i sees keys <= i
    assert (bottom_right[0, :, 0, 4:] == 0).all() and (bottom_right[0, :, 0, :4] > 0).all()  # flash: 2 queries end at 5
    assert (bottom_right[0, :, 1] > 0).all()

    class BlockMask:  # stands in for torch's flex-attention mask object
        pass

    with pytest.raises(NotImplementedError, match="attn_implementation='sdpa'"):
        _eager_weights(eager_attention_forward, attn, q, k, v, BlockMask(), (), {})
