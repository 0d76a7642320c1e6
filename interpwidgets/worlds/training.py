"""What the worlds' training scripts share: stopping cleanly on SIGTERM, naming where steps ran, their command line."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["device_label", "stop_on_sigterm", "command_line"]


def device_label(device: torch.device, threads: int) -> str:
    """How the model card names where steps ran: the GPU's name, or the CPU and its torch threads."""
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)})"
    return f"CPU ({threads} torch threads)"


@contextlib.contextmanager
def stop_on_sigterm():
    """An event set by SIGTERM (``kill PID``) while the loop runs, so that it saves before it stops; the
    previous handler comes back after. Only the main thread can install one; elsewhere it is never set."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def command_line(train: Callable, doc: str, shipped: Path, argv: list[str] | None = None) -> None:
    """``python -m interpwidgets.worlds.<world>.train --out FOLDER [--work --threads --device --save-every]``:
    the arguments go to ``train(out, work, save_every=, threads=, device=)``."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help=f"where the checkpoint goes (the shipped one: {shipped})")
    p.add_argument("--work", type=Path, default=None, help="where the run saves and resumes (default: the cache)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu, or cuda where the session has a GPU")
    p.add_argument("--save-every", type=float, default=300.0, help="seconds between checkpoints")
    args = p.parse_args(argv)
    train(args.out, args.work, save_every=args.save_every, threads=args.threads, device=args.device)
