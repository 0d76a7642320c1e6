"""The site rules on transformers families nobody wrote a line for: sites, bit-identity, patterns."""

import pytest
import torch
import transformers as T

import interpwidgets as iw

COMMON = dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=4, vocab_size=100,
              max_position_embeddings=64)
SEQ2SEQ = dict(encoder_layers=2, decoder_layers=2, d_model=32, encoder_attention_heads=4, decoder_attention_heads=4,
               encoder_ffn_dim=64, decoder_ffn_dim=64, decoder_start_token_id=0, pad_token_id=0)

# name: (config, model, config extras, attention implementations it supports, uses the attention registry)
ZOO = {
    "mistral": (T.MistralConfig, T.MistralForCausalLM, dict(num_key_value_heads=2), ("eager", "sdpa"), True),
    "qwen2": (T.Qwen2Config, T.Qwen2ForCausalLM, dict(num_key_value_heads=2), ("eager", "sdpa"), True),
    "qwen3 (q/k norms)": (T.Qwen3Config, T.Qwen3ForCausalLM, dict(num_key_value_heads=2, head_dim=8),
                          ("eager", "sdpa"), True),
    "gemma2 (softcap, sliding)": (T.Gemma2Config, T.Gemma2ForCausalLM,
                                  dict(num_key_value_heads=2, head_dim=8, sliding_window=4), ("eager",), True),
    "phi3 (fused qkv first)": (T.Phi3Config, T.Phi3ForCausalLM, dict(num_key_value_heads=2, pad_token_id=0),
                               ("eager", "sdpa"), True),
    "gpt_neox": (T.GPTNeoXConfig, T.GPTNeoXForCausalLM, {}, ("eager", "sdpa"), True),
    "opt": (T.OPTConfig, T.OPTForCausalLM, dict(ffn_dim=64, word_embed_proj_dim=32), ("eager", "sdpa"), True),
    "gptj": (T.GPTJConfig, T.GPTJForCausalLM, dict(n_embd=32, n_layer=2, n_head=4, rotary_dim=4),
             ("eager", "sdpa"), True),
    "bart": (T.BartConfig, T.BartForConditionalGeneration, SEQ2SEQ, ("eager", "sdpa"), True),
    "marian": (T.MarianConfig, T.MarianMTModel, SEQ2SEQ, ("eager", "sdpa"), True),
    "roberta": (T.RobertaConfig, T.RobertaModel, {}, ("eager", "sdpa"), True),
    "distilbert": (T.DistilBertConfig, T.DistilBertModel, dict(n_layers=2, dim=32, hidden_dim=64, n_heads=4),
                   ("eager", "sdpa"), True),
    "clip_text": (T.CLIPTextConfig, T.CLIPTextModel, {}, ("eager", "sdpa"), True),
    # Falcon had its own attention code in earlier 5.x releases; by 5.25 it uses the registry
    "falcon": (T.FalconConfig, T.FalconForCausalLM, {}, ("eager", "sdpa"), True),
    "bloom (own attention)": (T.BloomConfig, T.BloomForCausalLM, dict(n_layer=2, n_head=4), ("eager",), False),
}


def _build(name, attn):
    config, model, extra, _, _ = ZOO[name]
    torch.manual_seed(0)
    return model(config(**{**COMMON, **extra}, attn_implementation=attn)).eval()


def _inputs(model):
    ids = torch.randint(3, 100, (2, 7), generator=torch.Generator().manual_seed(0))
    if model.config.is_encoder_decoder:
        return dict(input_ids=ids, decoder_input_ids=ids[:, :5])
    return dict(input_ids=ids)


@pytest.mark.parametrize("name", ZOO)
def test_family_without_extra_code(name):
    _, _, _, impls, registry = ZOO[name]
    eager = _build(name, "eager")
    prefix = "encoder." if eager.config.is_encoder_decoder else ""
    names = iw.sites(eager)
    parts = ["resid_pre", "attn.head_out", "attn.out", "mlp.hidden", "mlp.out", "resid_post"]
    parts += ["attn.q", "attn.k", "attn.v", "attn.pattern"] if registry else []
    for i in range(2):
        for part in parts:
            assert f"{prefix}layers.{i}.{part}" in names, part
    if not registry:  # its own attention code: q/k/v/pattern are not offered, and asking says so
        with pytest.raises(iw.SiteNotFoundError, match="Close matches"):
            iw.resolve_sites(eager, "layers.0.attn.pattern")
    inputs = _inputs(eager)
    with torch.no_grad():
        reference = eager(**inputs, output_attentions=registry)
    attentions = reference.encoder_attentions if prefix else reference.attentions
    for attn in impls:
        model = _build(name, attn)
        with torch.no_grad():
            plain = model(**inputs)[0]
            with iw.capture(model, names) as cache:
                out = model(**inputs)[0]
        assert torch.equal(plain, out), attn
        if registry:
            got = cache[f"{prefix}layers.1.attn.pattern"]
            torch.testing.assert_close(got, attentions[1], atol=2e-6, rtol=1e-5)
        o_proj = {s.name: s for s in iw.sites(model, details=True)}[f"{prefix}layers.1.attn.out"].module
        torch.testing.assert_close(o_proj(cache[f"{prefix}layers.1.attn.head_out"].flatten(-2)),
                                   cache[f"{prefix}layers.1.attn.out"], atol=1e-6, rtol=1e-5)
