"""The terminal's pieces: the time-left column shows the caller's estimate as rich shows time."""

from __future__ import annotations

from rich.progress import Progress

from ddspkit.terminal import TimeLeftColumn


def rendered(total: float | None, completed: float, seconds_left: float | None) -> str:
    bar = Progress(TimeLeftColumn(), disable=True)
    task = bar.add_task("run", total=total, seconds_left=seconds_left)
    bar.update(task, completed=completed)  # as a run's steps do: the last one finishes the task
    return TimeLeftColumn().render(bar._tasks[task]).plain


def test_time_left_reads_as_hours_minutes_seconds_rounded_up():
    assert rendered(4000, 2950, 283.2) == "0:04:44"
    assert rendered(30000, 10, 11 * 3600 + 59) == "11:00:59"
    assert rendered(4000, 10, None) == "-:--:--"  # no rate yet
    assert rendered(4000, 4000, None) == "0:00:00"  # done
    assert rendered(None, 0, 12.0) == ""  # the total is not known yet
