"""numpy / torch arrays <-> binary widget payloads; chunking; the lazy request/response channel."""

from .arrays import CHUNK_BYTES, array_serialization, decode, encode, json_grid, nbytes

__all__ = ["CHUNK_BYTES", "array_serialization", "decode", "encode", "json_grid", "nbytes"]
