"""Terminal output for the command line: every message prints exactly what it says.

rich reads ``[...]`` as a style tag and ``:name:`` as an emoji code, so a file named
``cello [final].wav`` or an install hint such as ``pip install 'ddspkit[onnx]'`` would lose
characters. Both consoles therefore have markup, emoji and highlighting off: styles are given
to whole :class:`~rich.text.Text` spans, never parsed out of a string that may hold user data.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import ProgressColumn, Task, TextColumn
from rich.table import Table
from rich.text import Text

# soft_wrap: a line longer than the terminal is not cut into two (a path must stay whole)
out = Console(markup=False, emoji=False, highlight=False, soft_wrap=True)  # results: stdout
err = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)


def labelled(label: str, style: str, message: str) -> Text:
    """``label`` in ``style``, a space, then ``message`` verbatim."""
    return Text.assemble((label, style), " ", message)


def error(message: str) -> None:
    """``error: <message>`` on stderr, on one line however long."""
    err.print(labelled("error:", "bold red", message), soft_wrap=True)


def warning(message: str, console: Console | None = None) -> None:
    """``warning: <message>`` on stderr (or ``console``)."""
    (console or err).print(labelled("warning:", "yellow", message), soft_wrap=True)


def bold(text: str) -> Text:
    return Text(text, style="bold")


def literal_column(template: str, style: str = "") -> TextColumn:
    """A progress-bar column whose text (a file or model name) is never read as markup."""
    return TextColumn(template, style=style, markup=False)


class TimeLeftColumn(ProgressColumn):
    """A progress-bar column showing the task's ``seconds_left`` field (None: unknown) as
    rich's own ``TimeRemainingColumn`` shows time: ``h:mm:ss``, ``-:--:--`` while unknown,
    ``0:00:00`` once done. The estimate comes from the caller, not from rich's sampling."""

    max_refresh = 0.5  # redrawn twice a second at most, as rich's: a steadier figure

    def render(self, task: Task) -> Text:
        style = "progress.remaining"
        if task.total is None:
            return Text("", style=style)
        seconds_left = 0.0 if task.finished else task.fields.get("seconds_left")
        if seconds_left is None:
            return Text("-:--:--", style=style)
        minutes, seconds = divmod(math.ceil(seconds_left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"{hours:d}:{minutes:02d}:{seconds:02d}", style=style)


def table(*headers: str, **options) -> Table:
    """A rich Table whose cells fold a long word (a path) onto the next line instead of
    cutting it with an ellipsis, so every file name can be read in full."""
    result = Table(*headers, **options)
    for column in result.columns:
        column.overflow = "fold"
    return result
