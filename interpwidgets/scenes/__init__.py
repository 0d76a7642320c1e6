"""Scene geometry inside a latent diffusion model: depth and salient-object probes over denoising steps."""

from .method import ProbeGrid, SceneRun, probe_grid, run, self_attention_layers

__all__ = ["SceneRun", "ProbeGrid", "run", "probe_grid", "self_attention_layers"]
