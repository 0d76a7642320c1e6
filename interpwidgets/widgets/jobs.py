"""A widget's background work: one shared helper for every widget's long job.

``Job(widget, "generation").start(work)`` runs ``work(run)`` in a daemon thread. Starting again stops
the run under way (its ``run.stop`` is set) and the new run waits for the old one to finish *in its own
thread*, so the kernel thread never blocks on a join; runs of one job never overlap. A failure becomes
the widget's ``error`` (with its traceback in ``error_traceback``, and in the ``interpwidgets`` log); the
next run that succeeds clears it. Closing the widget stops its jobs.

Examples
--------
>>> from interpwidgets.widgets import Widget
>>> from interpwidgets.widgets.jobs import Job
>>> class Counter(Widget):
...     _esm = "export default { render() {} }"
>>> w = Counter()
>>> job = Job(w, "count")
>>> seen = []
>>> run = job.start(lambda run: seen.extend(range(3)))
>>> job.wait(5), seen
(True, [0, 1, 2])
>>> run = job.start(lambda run: 1 / 0)
>>> job.wait(5), w.error
(True, 'count: ZeroDivisionError: division by zero')
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Job", "Run", "Cancelled"]


class Cancelled(Exception):
    """Raised by :meth:`Run.check` in a run that was stopped; the job ends it quietly."""


class Run:
    """What a run of a job sees: whether it was stopped, and how to report progress."""

    def __init__(self, job: Job):
        self.job = job
        self.stop = threading.Event()

    @property
    def stopped(self) -> bool:
        return self.stop.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if this run was stopped (call it between steps)."""
        if self.stop.is_set():
            raise Cancelled

    def progress(self, fraction: float) -> None:
        """Report progress (0..1) to the widget's progress trait, if the job has one, unless stopped."""
        if self.job.progress_trait and not self.stop.is_set():
            setattr(self.job.widget, self.job.progress_trait, float(fraction))


class Job:
    """One kind of background work of one widget (see the module's docstring).

    Parameters
    ----------
    widget
        The :class:`~interpwidgets.widgets.Widget` whose ``error`` shows failures; its ``close()`` stops the job.
    name
        What the work is, as the error message names it ("generation", "projection"); a failure and the
        next success of the job share this name, so the success clears the message.
    background
        ``False`` runs each start on the calling thread (scripts, doctests): same errors, no thread.
    progress
        The widget's trait that :meth:`Run.progress` sets, if any.
    """

    def __init__(self, widget, name: str, *, background: bool = True, progress: str | None = None):
        self.widget, self.name, self.background, self.progress_trait = widget, name, background, progress
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._run: Run | None = None
        self._closed = False
        self.finished = 0  # runs that ended without being stopped and without an error
        widget._jobs.append(self)

    def start(self, work: Callable[[Run], Any], what: str | None = None) -> Run:
        """Stop the run under way (without waiting for it here) and start ``work(run)``; ``what`` names this
        run in an error message (default: the job's name)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{type(self.widget).__name__} was closed: its {self.name} does not start again")
            if self._run is not None:
                self._run.stop.set()
            run, previous = Run(self), self._thread
            self._run = run
            if self.background:
                self._thread = threading.Thread(target=self._execute, args=(work, run, previous, what),
                                                name=f"iw-{self.name.replace(' ', '-')}", daemon=True)
                self._thread.start()
                return run
            self._thread = None
        self._execute(work, run, None, what)  # in the foreground: outside the lock, so work may start or close
        return run

    def _execute(self, work: Callable[[Run], Any], run: Run, previous: threading.Thread | None,
                 what: str | None) -> None:
        if previous is not None:
            previous.join()  # runs never overlap; this thread waits, the kernel's does not
        if run.stopped:
            return
        try:
            work(run)
        except Cancelled:
            return
        except Exception as err:  # shown in the view with its traceback, and logged
            if not run.stopped:
                self.widget._report(self.name, err, what=what)
            return
        if not run.stopped:
            self.finished += 1
            self.widget._resolved(self.name)

    def cancel(self) -> None:
        """Stop the run under way (it ends at its next check); returns at once."""
        with self._lock:
            if self._run is not None:
                self._run.stop.set()

    def close(self) -> None:
        """Stop the run under way, and refuse new ones (the widget was closed)."""
        with self._lock:
            self._closed = True
        self.cancel()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the latest run has ended (for scripts and tests); ``False`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            thread = self._thread
            if thread is None:
                return True
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
            if thread is self._thread:  # no newer run was started meanwhile
                return True
