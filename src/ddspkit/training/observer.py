"""What a face sees of a training run: the observer the trainer tells, and the progress
reading (rate, time left, fraction done) every face shows.

The command line, the notebook and the studio each implement one :class:`TrainingObserver`
and nothing else of the run: the trainer decides, they show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type names only: a face imports this module without numpy or torch
    import numpy as np

    from ddspkit.training.recipes import Recipe
    from ddspkit.training.start import StartPoint


@dataclass
class CheckpointPreview:
    """What a checkpoint heard: the first held-out window and the model's resynthesis of it.

    Both are [T] float32 at 16 kHz (the resynthesis with the learned room); ``validation_loss``
    is the held-out loss at ``step`` (None without held-out audio).
    """

    step: int
    validation_loss: float | None
    target: np.ndarray
    resynthesis: np.ndarray


class TrainingObserver:
    """Told what a run does, in order: ``on_candidate`` (while "auto" scores the bundled
    models), ``on_start``, then ``on_step`` after every step, ``on_checkpoint`` at each
    checkpoint with held-out audio, ``on_message`` when something unusual happens; polled
    with ``should_stop`` between steps.

    Every method does nothing here: a face overrides what it shows. ``on_start``, ``on_step``
    and ``on_checkpoint`` are called by the main process only (under torchrun, rank 0), all of
    them from the thread that trains.
    """

    def on_candidate(self, model: str, index: int, count: int) -> None:
        """"auto" scores the bundled model ``model`` (``index`` from 1, of ``count``)."""

    def on_start(self, start: StartPoint, recipe: Recipe) -> None:
        """The run's start point and recipe, once known (before any step)."""

    def on_step(self, step: int, total_steps: int, loss: float) -> None:
        """Step ``step`` of ``total_steps`` is done; ``loss`` is its training loss."""

    def on_message(self, line: str) -> None:
        """A one-line note about something unusual (a rollback after a diverging step)."""

    def on_checkpoint(self, preview: CheckpointPreview) -> None:
        """A checkpoint was saved; ``preview`` is its held-out audio (a UI's players)."""

    def should_stop(self) -> bool:
        """True stops the run as Ctrl-C does, after saving (a UI's stop button)."""
        return False


class Progress:
    """How far a run got and how fast it goes, from the steps a face is told of.

    The rate is measured from the first step this session saw (a resumed run's earlier
    steps do not count) to the latest one; the time left assumes the same rate. Feed it
    with :meth:`update` from ``on_step``. ``clock`` gives seconds (monotonic).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.step = 0
        self.total_steps = 0
        self._first: tuple[float, int] | None = None  # (clock s, step) of the first step seen
        self._latest_s = 0.0

    def update(self, step: int, total_steps: int) -> None:
        now = self._clock()
        if self._first is None:
            self._first = (now, step)
        self.step, self.total_steps, self._latest_s = step, total_steps, now

    @property
    def first_step(self) -> int | None:
        """The first step this session saw (None before any)."""
        return None if self._first is None else self._first[1]

    @property
    def steps_per_second(self) -> float:
        """Steps per second since the first step seen; 0.0 until a later step comes."""
        if self._first is None:
            return 0.0
        first_s, first_step = self._first
        if self._latest_s <= first_s or self.step <= first_step:
            return 0.0
        return (self.step - first_step) / (self._latest_s - first_s)

    @property
    def seconds_left(self) -> float | None:
        """Seconds to the last step at the current rate; None while the rate is unknown."""
        rate = self.steps_per_second
        return max(self.total_steps - self.step, 0) / rate if rate > 0 else None

    @property
    def fraction(self) -> float:
        """Share of the run's steps done, 0 to 1."""
        return min(self.step / self.total_steps, 1.0) if self.total_steps > 0 else 0.0

    def seconds_since_first(self) -> float:
        """Seconds from the first step seen until now (0.0 before any)."""
        return 0.0 if self._first is None else self._clock() - self._first[0]
