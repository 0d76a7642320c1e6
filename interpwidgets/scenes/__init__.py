"""Scene geometry inside a latent diffusion model: depth and salient-object probes over denoising steps."""

from .method import SceneRun, run, self_attention_layers

__all__ = ["SceneRun", "run", "self_attention_layers"]
