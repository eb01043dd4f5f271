"""What a face sees of a run: the observer's defaults and the one progress reading."""

from __future__ import annotations

import pytest

from ddspkit.training.observer import Progress, TrainingObserver


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_rate_and_time_left_count_from_the_first_step_this_session_saw():
    clock = Clock()
    progress = Progress(clock)
    assert (progress.steps_per_second, progress.seconds_left, progress.fraction) == (0.0, None, 0.0)
    assert progress.first_step is None and progress.seconds_since_first() == 0.0
    progress.update(101, 1000)  # a resumed run: its first 100 steps were another session's
    assert progress.first_step == 101 and progress.steps_per_second == 0.0
    assert progress.seconds_left is None and progress.fraction == pytest.approx(0.101)
    clock.now_s = 104.0
    progress.update(121, 1000)
    assert progress.steps_per_second == pytest.approx(5.0)
    assert progress.seconds_left == pytest.approx((1000 - 121) / 5.0)
    assert progress.fraction == pytest.approx(0.121)
    clock.now_s = 110.0  # no step since: the rate is the latest step's
    assert progress.steps_per_second == pytest.approx(5.0)
    assert progress.seconds_since_first() == pytest.approx(10.0)
    progress.update(1000, 1000)
    assert progress.seconds_left == 0.0 and progress.fraction == 1.0


def test_no_rate_without_time_or_steps_between_two_readings():
    clock = Clock()
    progress = Progress(clock)
    progress.update(5, 10)
    progress.update(6, 10)  # the same instant
    assert progress.steps_per_second == 0.0 and progress.seconds_left is None
    clock.now_s += 1
    progress.update(5, 10)  # a rollback went back a step
    assert progress.steps_per_second == 0.0 and progress.seconds_left is None
    empty = Progress(clock)
    empty.update(0, 0)
    assert empty.fraction == 0.0


def test_the_observer_does_nothing_until_a_face_says_otherwise():
    quiet = TrainingObserver()
    quiet.on_candidate("Cello", 1, 12)
    quiet.on_start(None, None)
    quiet.on_step(1, 10, 3.0)
    quiet.on_message("note")
    quiet.on_checkpoint(None)
    assert quiet.should_stop() is False
