"""Heavy jobs (a morph, a render, a training): one at a time, in a worker thread,
with progress and cancellation.

A job is a function of a :class:`Job`, which it tells how far it got (``job.report``) and
asks whether to go on (``job.check`` raises :class:`JobCancelled` once Stop was pressed).
The runner holds one lock: a second job waits for the first to end, and says what it waits
for. The worker thread releases the lock itself, so a job whose page went away still ends
before the next one starts. Messages never carry a Python traceback: a problem with the
user's input is its one-line :class:`~ddspkit.errors.UserError`; anything else is reported
in one line and its traceback goes to the terminal the studio was started from.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ddspkit.errors import UserError


class JobCancelled(Exception):
    """Raised inside a job by :meth:`Job.check` once cancelling was asked for."""


@dataclass
class Progress:
    """How far a job got: ``fraction`` in [0, 1] (None: unknown) and a few words."""

    text: str
    fraction: float | None = None


@dataclass
class Waiting:
    """The job waits for ``running`` (another job's description) to end."""

    running: str


@dataclass
class Finished:
    """The job ended: ``value`` is what it returned; ``error`` a one-line message, or
    None; ``cancelled`` when it stopped because it was asked to."""

    value: Any = None
    error: str | None = None
    cancelled: bool = False


class Job:
    """A job's progress and its cancel flag, shared by the worker and the page."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.progress = Progress("starting")
        self.started_s = time.monotonic()
        self._cancel = threading.Event()

    def report(self, text: str, fraction: float | None = None) -> None:
        """Record progress, then stop here if cancelling was asked for."""
        self.progress = Progress(text, fraction)
        self.check()

    def check(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()



def one_line(exc: BaseException) -> str:
    """A message for the page: a UserError as it is; anything else as its type and first
    line (the traceback is printed on the studio's terminal)."""
    if isinstance(exc, UserError):
        return str(exc)
    traceback.print_exception(exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"unexpected problem: {what} (details on the terminal)"


class JobRunner:
    """Runs one heavy job at a time (see the module's docstring)."""

    def __init__(self, poll_s: float = 0.25) -> None:
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self.current: Job | None = None
        self._waiting: dict[str, int] = {}  # jobs waiting for the lock, by name
        self._withdrawn: set[str] = set()  # ... whose Cancel was pressed before they began

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def cancel(self, name: str) -> bool:
        """Cancel the job called ``name``: running, it stops at its next check; waiting, it
        never starts. Another page's job is left alone. False when there is none."""
        if self._waiting.get(name):
            self._withdrawn.add(name)
            return True
        job = self.current
        if job is None or job.name != name:
            return False
        job.cancel()
        return True

    def start(self, name: str, work: Callable[[Job], Any],
              on_end: Callable[[Finished], None] | None = None) -> Job | None:
        """Start ``work`` now in a worker thread, or return None if a job is running."""
        if not self._lock.acquire(blocking=False):
            return None
        return self._launch(name, work, on_end)

    def run(self, name: str, work: Callable[[Job], Any]) -> Iterator[Progress | Waiting | Finished]:
        """Run ``work`` when the runner is free; yield Waiting, then Progress, then Finished.

        Closing the generator (the page went away, or Gradio cancelled it) cancels the job.
        """
        self._waiting[name] = self._waiting.get(name, 0) + 1
        try:
            while not self._lock.acquire(timeout=self.poll_s):
                if name in self._withdrawn:
                    self._withdrawn.discard(name)
                    yield Finished(cancelled=True)
                    return
                current = self.current
                yield Waiting(current.name if current else "another job")
        finally:
            self._waiting[name] -= 1
        ended: list[Finished] = []
        job = self._launch(name, work, ended.append)
        try:
            last = None
            while not ended:
                time.sleep(self.poll_s)
                if job.progress != last:
                    last = job.progress
                    yield last
            yield ended[0]
        finally:
            if not ended:
                job.cancel()

    def _launch(self, name: str, work: Callable[[Job], Any],
                on_end: Callable[[Finished], None] | None) -> Job:
        job = Job(name)
        self.current = job

        def worker() -> None:
            try:
                outcome = Finished(value=work(job))
            except JobCancelled:
                outcome = Finished(cancelled=True)
            except BaseException as exc:  # the page gets one line, never a traceback
                outcome = Finished(error=one_line(exc))
            finally:
                self.current = None
                self._lock.release()
            if on_end is not None:
                on_end(outcome)

        threading.Thread(target=worker, name=f"studio-{name}", daemon=True).start()
        return job
