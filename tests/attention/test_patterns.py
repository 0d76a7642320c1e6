"""AttentionPatterns, Python side: the right patterns, served lazily one head at a time, bad input explained."""

import models
import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _put_buffers

import interpwidgets as iw
from interpwidgets.attention.patterns import thumbnail
from interpwidgets.transport import decode
from interpwidgets.widgets import request_key

TEXTS = ["The cat sat on the mat because it was tired.", "Attention is all you need."]


@pytest.fixture(scope="module")
def view():
    return iw.AttentionPatterns(models.minilm("sdpa"), TEXTS, tokenizer=models.minilm_tokenizer())


def _ask(view, method, **args):
    reply, buffers = view._respond(method, args)
    _put_buffers(reply, reply["buffer_paths"], buffers)
    return reply, sum(b.nbytes for b in buffers)


def test_patterns_are_the_models_own(view):
    tok = models.minilm_tokenizer()
    with torch.no_grad():
        ref = models.minilm("eager")(**tok(TEXTS[1], return_tensors="pt"), output_attentions=True).attentions
    assert (view.n_layers, view.n_heads) == (6, 12)
    assert view.tokens[1] == tok.convert_ids_to_tokens(tok(TEXTS[1])["input_ids"])
    torch.testing.assert_close(view.pattern(layer=3, head=7, text=1), ref[3][0, 7], atol=1e-3, rtol=0)  # float16


def test_a_request_sends_one_head_only(view):
    reply, sent = _ask(view, "pattern", text=0, layer=2, head=4)
    n = len(view.tokens[0])
    assert sent == n * n * 2  # one [q, k] matrix in float16 (as it is kept), nothing else
    np.testing.assert_allclose(decode(reply["result"]["pattern"]), view.pattern(2, 4, 0).numpy(), atol=1e-6)
    reply, sent = _ask(view, "thumb", text=1, layer=0, head=0)
    assert sent == len(view.tokens[1]) ** 2 * 2


def test_thumbnails_pool_long_patterns():
    p = torch.softmax(torch.randn(200, 190, generator=torch.Generator().manual_seed(0)), -1)
    t = thumbnail(p)
    assert t.shape == (48, 48)
    torch.testing.assert_close(t.sum(-1), torch.ones(48))  # rows still sum to 1, exactly
    # cell (0, 0): queries 0..4 (200/48 -> first block holds 5), keys 0..3 (190/48 -> 4), mean over rows of sums
    torch.testing.assert_close(t[0, 0], p[:5, :4].sum(-1).mean())
    assert thumbnail(p[:10, :10]).shape == (10, 10)


def test_bad_requests_come_back_as_errors(view):
    reply, _ = _ask(view, "pattern", text=0, layer=6, head=0)
    assert "layer 6, head 0 out of range: 6 layers x 12 heads" in reply["error"]
    assert view.error.startswith("request 'pattern': IndexError") and "_check" in view.error_traceback
    _ask(view, "pattern", text=0, layer=5, head=0)
    assert "layer 6, head 0" in view.error  # another head's success does not hide this failure
    view._resolved(request_key("pattern", {"text": 0, "layer": 6, "head": 0}))
    assert view.error == ""  # that request's own success would clear it


def test_long_texts_are_truncated_with_a_notice():
    v = iw.AttentionPatterns(models.minilm("sdpa"), ["word " * 700], tokenizer=models.minilm_tokenizer())
    assert len(v.tokens[0]) == 512 and "truncated to 512 tokens" in v.notice


def test_nan_in_a_pattern_is_sent_not_fatal(view):
    saved = view._patterns[0][0, 0, 0, 0].item()
    view._patterns[0][0, 0, 0, 0] = float("nan")
    try:
        reply, _ = _ask(view, "pattern", text=0, layer=0, head=0)
        assert np.isnan(decode(reply["result"]["pattern"])[0, 0]) and "error" not in reply
    finally:
        view._patterns[0][0, 0, 0, 0] = saved


def test_bad_input_is_explained():
    model = models.minilm("sdpa")
    with pytest.raises(ValueError, match="at least one text"):
        iw.AttentionPatterns(model, [], tokenizer=models.minilm_tokenizer())
    with pytest.raises(ValueError, match="tokenizer="):
        iw.AttentionPatterns(models.gpt2(), ["hello"])  # built from a config: no tokenizer saved anywhere
    net = torch.nn.Sequential(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="no attention-pattern sites"):
        iw.AttentionPatterns(net, ["x"], tokenizer=models.minilm_tokenizer())


def _t5_and_tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(models.minilm_dir())  # any tokenizer, once the vocabulary fits
    model = models.t5("sdpa")
    model.resize_token_embeddings(tok.vocab_size)
    return model, tok


def test_encoder_decoder_self_and_cross_attention():
    model, tok = _t5_and_tokenizer()
    src, tgt = "the cat sat on the mat", "le chat"
    enc = iw.AttentionPatterns(model, [src], tokenizer=tok)
    assert enc._sites[0].startswith("encoder.") and (enc.n_layers, enc.n_heads) == (2, 4)
    cross = iw.AttentionPatterns(model, [src], tokenizer=tok, attention="cross", targets=[tgt])
    assert cross.tokens[0] == tok.convert_ids_to_tokens(tok(tgt)["input_ids"])
    assert cross.key_tokens[0] == tok.convert_ids_to_tokens(tok(src)["input_ids"])
    model.set_attn_implementation("eager")  # sdpa returns no attentions: the reference runs eager
    with torch.no_grad():
        ref = model(**tok(src, return_tensors="pt"), decoder_input_ids=tok(tgt, return_tensors="pt")["input_ids"],
                    output_attentions=True).cross_attentions
    torch.testing.assert_close(cross.pattern(1, 3), ref[1][0, 3], atol=1e-3, rtol=0)
    assert cross.pattern(0, 0).shape == (len(cross.tokens[0]), len(cross.key_tokens[0]))


def test_attention_and_targets_are_checked():
    model, tok = _t5_and_tokenizer()
    with pytest.raises(ValueError, match=r"\('encoder', 'decoder', 'cross'\)"):
        iw.AttentionPatterns(model, ["x"], tokenizer=tok, attention="self")
    with pytest.raises(ValueError, match="one per text"):
        iw.AttentionPatterns(model, ["x", "y"], tokenizer=tok, targets=["z"])
    with pytest.raises(ValueError, match="targets= is for encoder-decoders"):
        iw.AttentionPatterns(models.minilm("sdpa"), ["x"], tokenizer=tok, targets=["z"])


def test_token_ids_are_read_as_tokens_and_ids_the_model_lacks_are_named():
    """Token ids work like texts (a [batch, seq] tensor, or lists), named by the tokenizer when there is one;
    an id beyond the model's embedding (a tokenizer of another model) is a clear error, not torch's bare one."""
    tok = models.minilm_tokenizer()
    model = models.minilm("sdpa")
    ids = tok(TEXTS[1])["input_ids"]
    by_ids = iw.AttentionPatterns(model, torch.tensor([ids]), tokenizer=tok)
    by_text = iw.AttentionPatterns(model, TEXTS[1], tokenizer=tok)
    assert by_ids.tokens == by_text.tokens
    torch.testing.assert_close(by_ids.pattern(2, 3), by_text.pattern(2, 3))
    assert iw.AttentionPatterns(model, [ids[:4], ids[:6]]).tokens[1] == tok.convert_ids_to_tokens(ids[:6])
    with pytest.raises(ValueError, match=r"token id 40000 is outside BertModel's embedding of 30522 tokens"):
        iw.AttentionPatterns(model, [[101, 40000, 102]])
    with pytest.raises(TypeError, match=r"must be a text or token ids \(a 1-D integer tensor\), got a 1-D float32"):
        iw.AttentionPatterns(model, torch.rand(2, 5))
