"""The zoo's real models, on real inputs: the answers they give are re-measured here (loaded once each)."""

import models
import numpy as np
import pytest
import torch

import interpwidgets as iw
from interpwidgets import zoo


@pytest.fixture(scope="module")
def smol():
    return models.smollm2()


@pytest.fixture(scope="module")
def images():
    return iw.datasets.sample_images()


def test_smollm2_answers_a_chat_question(smol):
    model, tokenizer = smol
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size) == (30, 9, 3, 576)
    assert not model.training and next(model.parameters()).dtype == torch.float32
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                        add_generation_prompt=True, return_tensors="pt")["input_ids"]
    out = model.generate(ids, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    assert answer.strip() == "The capital of France is Paris."


def test_smollm2_honours_dtype():
    model, _ = zoo.smollm2(dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_efficientnet_lite0_names_the_pictures(images):
    model, preprocess, classes = zoo.efficientnet_lite0()
    assert len(classes) == 1000 and classes[967] == "espresso"
    with torch.no_grad():
        p = model(**preprocess([images["coffee"], images["chelsea"]])).softmax(-1)
    assert classes[p[0].argmax()] == "espresso" and p[0].max() > 0.9
    cat = [classes[i] for i in p[1].topk(2).indices]
    assert "Egyptian cat" in cat and all(c.endswith("cat") for c in cat)  # tiger cat 0.39, Egyptian cat 0.35


def test_the_image_models_and_their_preprocessing_honour_dtype(images):
    """A bf16 model gets bf16 pixels from its preprocessing: model(**preprocess(x)) runs as the example says."""
    model, preprocess, classes = zoo.efficientnet_lite0(dtype=torch.bfloat16)
    x = preprocess(images["coffee"])
    assert x["pixel_values"].dtype == torch.bfloat16 and {p.dtype for p in model.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        assert classes[model(**x).argmax()] == "espresso"
    model, preprocess = zoo.dinov2_small(dtype=torch.bfloat16)
    with torch.no_grad():
        assert model(**preprocess(images["coffee"])).last_hidden_state.dtype == torch.bfloat16


def test_dinov2_matches_the_onnx_model_it_came_from(images):
    ort = pytest.importorskip("onnxruntime")
    import onnx

    model, preprocess = zoo.dinov2_small()
    x = preprocess([images["coffee"], images["astronaut"]])["pixel_values"]
    with torch.no_grad():
        ours = model(pixel_values=x).last_hidden_state.numpy()
    graph = onnx.load(str(zoo.dinov2.DINOV2.locate()))
    name = "/backbone/layernorm/Add_1_output_0"  # the backbone's output, before the package's decoder
    graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = session.run([name], {"input_image": x.numpy()})[0]
    assert ours.shape == ref.shape == (2, 257, 384)
    assert np.abs(ours - ref).max() < 1e-4 and np.abs(ref).max() > 1  # measured 3e-5


def test_same_padding_is_tensorflows():
    """TensorFlow's "SAME": output ceil(input / stride), the odd pixel of padding on the bottom and right
    (stride-2 3x3 on 112 pads (0, 1); 5x5 on 56 pads (1, 2)), checked against explicit padding."""
    from interpwidgets.zoo.efficientnet import SameConv2d

    torch.manual_seed(0)
    for size, kernel, pads in ((112, 3, (0, 1)), (56, 5, (1, 2)), (15, 3, (1, 1))):
        conv = SameConv2d(2, 2, kernel, 2, bias=False)
        x = torch.randn(1, 2, size, size)
        want = torch.nn.functional.conv2d(torch.nn.functional.pad(x, [*pads, *pads]), conv.weight, stride=2)
        assert conv(x).shape[-1] == -(-size // 2) and torch.allclose(conv(x), want)
