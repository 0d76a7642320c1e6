"""Arrays as binary buffers for widgets: ``{"dtype", "shape", "buffer"}``.

ipywidgets lifts every memoryview nested in a widget's state or message into a binary frame, so an
array crosses to the browser as its raw bytes, never as a JSON list. Types JavaScript has no array
for are narrowed: float64 and bfloat16 -> float32, int64 -> int32 (range-checked), bool -> uint8.
float16 travels as float16 (half the bytes; ``js/lib/array.js`` widens it in the browser). NaN and
infinities pass through as IEEE values for the view to show. One array is one buffer: a message's
frames arrive together, so splitting an array into several frames would only add a copy to re-join them.

Examples
--------
>>> import numpy as np
>>> from interpwidgets.transport import decode, encode
>>> payload = encode(np.arange(6.0).reshape(2, 3))
>>> payload["dtype"], payload["shape"]
('float32', [2, 3])
>>> decode(payload).tolist()
[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["encode", "decode", "nbytes", "json_grid", "array_serialization"]

_NARROW = {np.dtype("float64"): np.float32, np.dtype("bool"): np.uint8}
_JS_TYPES = {"float32", "float16", "int8", "uint8", "int16", "uint16", "int32", "uint32"}


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device, in any dtype
        x = x.detach()
        if str(x.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            x = x.float()
        x = x.cpu().numpy()
    return np.asarray(x)


def encode(x: Any) -> dict:
    """A numpy array or torch tensor as a widget payload of raw little-endian bytes."""
    a = _to_numpy(x)
    if a.dtype in _NARROW:
        a = a.astype(_NARROW[a.dtype])
    elif a.dtype.kind in "iu" and a.dtype.itemsize == 8:
        if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
            raise ValueError(f"integers outside the int32 range cannot be sent to the browser "
                             f"(min {a.min()}, max {a.max()})")
        a = a.astype(np.int32 if a.dtype.kind == "i" else np.uint32)
    if a.dtype.name not in _JS_TYPES:
        raise TypeError(f"cannot send arrays of dtype {a.dtype} to the browser; "
                        f"use one of {sorted(_JS_TYPES)} (or float64/bfloat16/int64/bool, narrowed automatically)")
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return {"dtype": a.dtype.name, "shape": list(a.shape), "buffer": memoryview(a.reshape(-1).view(np.uint8))}


def decode(payload: dict) -> np.ndarray:
    """The array back from a payload (as sent by :func:`encode` or by the browser)."""
    raw = bytes(payload["buffer"])
    return np.frombuffer(raw, dtype=np.dtype(payload["dtype"]).newbyteorder("<")).reshape(payload["shape"])


def nbytes(payload: Any) -> int:
    """Bytes of binary data in a payload, or in any structure of payloads."""
    if isinstance(payload, memoryview | bytes | bytearray):
        return memoryview(payload).nbytes
    if isinstance(payload, dict):
        return sum(nbytes(v) for v in payload.values())
    if isinstance(payload, list | tuple):
        return sum(nbytes(v) for v in payload)
    return 0


def _to_json(value, widget):
    return None if value is None else encode(value)


def _from_json(value, widget):
    return None if value is None else decode(value)


#: ``traitlets.Any().tag(sync=True, **array_serialization)`` syncs an array trait as binary buffers.
array_serialization = {"to_json": _to_json, "from_json": _from_json}


def json_grid(values, digits: int = 4) -> list:
    """A small array (e.g. a [layers, heads] grid of statistics) as nested JSON lists: rounded, NaN as None
    (JSON has no NaN). For synced traits the view reads as numbers; large arrays go through ``encode``.

    >>> json_grid(np.array([[0.123456, np.nan]]))
    [[0.1235, None]]
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0:
        return None if np.isnan(a) else round(float(a), digits)
    return [json_grid(x, digits) for x in a]
