"""Arrays travel as raw bytes, in one buffer each, narrowed to what JavaScript can hold (float16 stays float16)."""

import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _remove_buffers

from interpwidgets.transport import decode, encode, nbytes


@pytest.mark.parametrize("dtype, sent", [(np.float64, "float32"), (np.float32, "float32"), (np.int64, "int32"),
                                         (np.uint8, "uint8"), (np.bool_, "uint8"), (np.float16, "float16")])
def test_round_trip_and_narrowing(dtype, sent):
    a = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    payload = encode(a)
    assert payload["dtype"] == sent and payload["shape"] == [2, 3, 4]
    np.testing.assert_array_equal(decode(payload), a.astype(sent))


def test_torch_tensors_any_dtype():
    t = torch.linspace(0, 1, 10, dtype=torch.bfloat16).reshape(2, 5)
    np.testing.assert_array_equal(decode(encode(t)), t.float().numpy())
    assert decode(encode(torch.tensor([1, 2], dtype=torch.int64))).dtype == np.int32


def test_nan_and_inf_pass_through():
    a = np.array([np.nan, np.inf, -np.inf, 1.5])
    out = decode(encode(a))
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf and out[3] == 1.5


def test_an_array_is_one_buffer_of_its_own_bytes():
    """The bytes sent are the tensor's own size: fp16 patterns travel in half the bytes of float32."""
    a = np.random.default_rng(0).standard_normal((300, 1000)).astype(np.float32)  # 1.2 MB
    payload = encode(a)
    assert nbytes(payload) == a.nbytes and payload["buffer"].nbytes == a.nbytes
    np.testing.assert_array_equal(decode(payload), a)
    half = torch.randn(64, 64).half()
    assert nbytes(encode(half)) == half.numel() * 2
    np.testing.assert_array_equal(decode(encode(half)), half.numpy())


def test_ipywidgets_lifts_the_bytes_out_of_the_json():
    payload = {"x": encode(np.ones((4, 4))), "meta": {"layer": 3}}
    state, paths, buffers = _remove_buffers(payload)
    assert paths == [["x", "buffer"]] and buffers[0].nbytes == 64
    assert state == {"x": {"dtype": "float32", "shape": [4, 4]}, "meta": {"layer": 3}}


def test_unsendable_values_are_explained():
    with pytest.raises(ValueError, match="int32 range"):
        encode(np.array([2 ** 40]))
    with pytest.raises(TypeError, match="dtype complex128"):
        encode(np.ones(2, dtype=complex))
