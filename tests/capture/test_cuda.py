"""On a GPU: fused sdpa kernels, half precision, offload. Skipped where no GPU is present (as in CI)."""

import models
import pytest
import torch

import interpwidgets as iw

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

FAMILIES = ["gpt2", "llama", "bert", "t5"]
DTYPES = [torch.float16, torch.bfloat16, torch.float32]


def _build(name, attn, dtype):
    kw = dict(gpt2=dict(n_embd=128, n_head=4, n_layer=3), llama=dict(hidden_size=128, num_hidden_layers=3,
              intermediate_size=256, num_attention_heads=8, num_key_value_heads=2)).get(name, {})
    return getattr(models, name)(attn, **kw).to("cuda", dtype)


def _inputs(name, model):
    ids = models.tokens(model, batch=2, seq=24).cuda()
    if name == "t5":
        return dict(input_ids=ids, decoder_input_ids=ids[:, :7])
    if name == "bert":
        mask = torch.ones_like(ids)
        mask[1, 20:] = 0
        return dict(input_ids=ids, attention_mask=mask)
    return dict(input_ids=ids)


def _out(o):
    return o.logits if hasattr(o, "logits") else o.last_hidden_state


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", FAMILIES)
def test_capture_on_gpu_is_bit_identical_and_patterns_match_eager(name, dtype):
    model, eager = _build(name, "sdpa", dtype), _build(name, "eager", dtype)
    inputs = _inputs(name, model)
    with torch.no_grad():
        ref = _out(model(**inputs))
        with iw.capture(model, iw.sites(model)) as cache:
            out = _out(model(**inputs))
        att = eager(**inputs, output_attentions=True)
    assert torch.equal(ref, out)
    prefix = "encoder." if name == "t5" else ""
    eager_att = att.encoder_attentions if name == "t5" else att.attentions
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == torch.float32 else dict(atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(cache[f"{prefix}layers.0.attn.pattern"], eager_att[0], **tol)
    assert cache[f"{prefix}layers.0.attn.pattern"].device.type == "cuda"
    assert models.all_hooks(model) == 0


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_generate_with_an_edit_on_gpu(name):
    model = _build(name, "sdpa", torch.float16)
    ids = _inputs(name, model)["input_ids"][:1]
    kwargs = dict(max_new_tokens=6, do_sample=False, pad_token_id=0)
    d = model.config.hidden_size
    with torch.no_grad():
        plain = model.generate(ids, **kwargs)
        edit = iw.Add(torch.randn(d, generator=torch.Generator().manual_seed(0)), alpha=50.0, positions=-1)
        with iw.intervene(model, {"layers.0.resid_post": edit}), \
                iw.capture(model, ["layers.1.attn.pattern", "layers.1.attn.k"], device="cpu") as c:
            edited = model.generate(ids, **kwargs)
    assert not torch.equal(plain, edited)
    assert c["layers.1.attn.pattern"].device.type == "cpu"
    assert c["layers.1.attn.pattern"].shape[-1] == edited.shape[1] - 1
    assert models.all_hooks(model) == 0


def test_probes_fit_on_gpu_like_on_cpu():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(800, 6, 16, generator=g)
    y = (X[:, 3, 0] + 0.3 * torch.randn(800, generator=g) > 0).long()
    cpu = iw.fit_probes(X, y)
    gpu = iw.fit_probes(X.cuda(), y.cuda())
    torch.testing.assert_close(gpu.metrics["val_accuracy"].cpu(), cpu.metrics["val_accuracy"])
    torch.testing.assert_close(gpu.weight.cpu(), cpu.weight, atol=1e-3, rtol=1e-3)
