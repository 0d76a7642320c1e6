"""Where interpwidgets keeps what it computes once per machine: ``$IW_CACHE_DIR`` if set, else
``~/.cache/interpwidgets`` (projections, converted model weights)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(*parts: str) -> Path:
    """The cache folder (or a sub-folder of it, not created here)."""
    base = os.environ.get("IW_CACHE_DIR") or Path.home() / ".cache" / "interpwidgets"
    return Path(base).joinpath(*parts)
