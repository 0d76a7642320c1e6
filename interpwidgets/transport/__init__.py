"""numpy / torch arrays <-> binary widget payloads (the request/response channel is in interpwidgets.widgets)."""

from .arrays import array_serialization, decode, encode, json_grid, nbytes

__all__ = ["array_serialization", "decode", "encode", "json_grid", "nbytes"]
