"""The scenes world's networks, built from configs: a word-level CLIP tokenizer, a tiny CLIP text encoder,
an ``AutoencoderKL`` (32x32 images <-> 16x16x4 latents), a ``UNet2DConditionModel`` with self-attention at
16x16 and 8x8, assembled into a diffusers ``StableDiffusionPipeline``; and the **estimator**, a small
convolutional network trained on rendered ground truth that reads a depth map, the salient object's mask and
the salient object's attributes off an image (the stand-in for the paper's MiDaS and TRACER)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

from .data import COLORS, COLUMNS, DISTANCES, SHAPES, SIZE

__all__ = ["MAX_TOKENS", "vocabulary", "build_tokenizer", "build_text_encoder", "build_vae", "build_unet",
           "build_scheduler", "assemble", "Estimator", "ATTRIBUTES"]

MAX_TOKENS = 24  # the longest prompt is 17 words, plus start and end
ATTRIBUTES = {"color": len(COLORS), "shape": len(SHAPES), "column": len(COLUMNS), "distance": len(DISTANCES)}


def vocabulary() -> list[str]:
    """Every word a prompt can use."""
    return sorted({"a", "and", "small", "on", "in", "the", *COLORS, *SHAPES, *COLUMNS, *DISTANCES})


def build_tokenizer(folder: str | Path | None = None):
    """A CLIP tokenizer whose every word is one token (a BPE merged up to whole words, trained here in
    milliseconds), saved to ``folder`` (a temporary one if not given) and loaded back as ``CLIPTokenizer``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    words = vocabulary()
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(words)] * 4, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>"))
    folder = Path(folder or tempfile.mkdtemp(prefix="iw-scenes-tok-"))
    folder.mkdir(parents=True, exist_ok=True)
    tok.model.save(str(folder))
    clip = CLIPTokenizer.from_pretrained(folder, model_max_length=MAX_TOKENS)
    assert all(len(clip.tokenize(w)) == 1 for w in words), "a word of the vocabulary is split"
    return clip


def build_text_encoder(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))


def build_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 64),
                         latent_channels=4, layers_per_block=1, norm_num_groups=16, sample_size=SIZE)


def build_unet():
    """Self-attention (``attn1``) in every block: down 16x16 and 8x8, mid 8x8, up 8x8 (two) and 16x16 (two):
    seven layers, as the paper's sixteen in SD's down, mid and up blocks. ``attention_head_dim`` is, in
    diffusers' UNet, the number of heads (a historical name)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(64, 128),
        down_block_types=("CrossAttnDownBlock2D",) * 2, up_block_types=("CrossAttnUpBlock2D",) * 2,
        cross_attention_dim=64, attention_head_dim=8, norm_num_groups=16)


def build_scheduler():
    """Stable Diffusion's noise schedule, sampled with LMS as the paper did."""
    from diffusers import LMSDiscreteScheduler

    return LMSDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                num_train_timesteps=1000, steps_offset=1)


def assemble(vae, text_encoder, tokenizer, unet):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=build_scheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.SiLU())


class Estimator(nn.Module):
    """Reads a depth map (the world's disparity), the salient object's mask (logits) and the salient
    object's colour, shape, column and distance (logits) off images [batch, 3, 32, 32] in [0, 1].

    A small U-Net: 32 -> 16 -> 8 and back with skips; the attribute heads read the pooled 8x8 features,
    which are also the features of the world's Fréchet distance.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.down = nn.ModuleList([nn.Sequential(_conv(3, w), _conv(w, w)),
                                   nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w)),
                                   nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w))])
        self.up = nn.ModuleList([_conv(6 * w, 2 * w), _conv(3 * w, w)])
        self.maps = nn.Conv2d(w, 2, 1)
        self.heads = nn.ModuleDict({k: nn.Linear(4 * w, n) for k, n in ATTRIBUTES.items()})

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        skips, x = [], images * 2 - 1
        for block in self.down:
            x = block(x)
            skips.append(x)
        return skips

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        s1, s2, s3 = self.features(images)
        up = nn.functional.interpolate
        x = self.up[0](torch.cat([up(s3, scale_factor=2), s2], 1))
        x = self.up[1](torch.cat([up(x, scale_factor=2), s1], 1))
        maps = self.maps(x)
        pooled = s3.mean((2, 3))
        return {"disparity": maps[:, 0], "mask": maps[:, 1], "pooled": pooled,
                **{k: head(pooled) for k, head in self.heads.items()}}
