"""Scene geometry inside a latent diffusion model: depth and salient-object probes over denoising steps."""

from .method import ProbeEdit, ProbeGrid, SceneRun, probe_grid, run, self_attention_layers, shifted

__all__ = ["SceneRun", "ProbeGrid", "ProbeEdit", "run", "probe_grid", "self_attention_layers", "shifted"]
