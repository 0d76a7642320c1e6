"""What the worlds' training scripts share: stopping cleanly on SIGTERM, naming where steps ran."""

from __future__ import annotations

import contextlib
import signal
import threading

import torch

__all__ = ["device_label", "stop_on_sigterm"]


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
