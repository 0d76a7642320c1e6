"""Scene geometry inside a latent diffusion model: depth and salient-object probes over denoising steps."""

from .method import (
           DepthPush,
           ProbeEdit,
           ProbeGrid,
           SceneRun,
           decoder_layers,
           dice,
           probe_grid,
           run,
           self_attention_layers,
           shifted,
)
from .study import (
           SceneEdit,
           Study,
           control_run,
           edit_scene,
           label,
           random_unet,
           split_images,
           study,
           towards_middle,
)

__all__ = ["SceneRun", "ProbeGrid", "ProbeEdit", "DepthPush", "run", "probe_grid", "self_attention_layers",
           "decoder_layers", "shifted", "dice", "Study", "study", "label", "split_images", "SceneEdit", "edit_scene",
           "towards_middle", "control_run", "random_unet"]
