"""What every tab shares: the status line, and running a heavy job from an event handler.

The status line is HTML built from escaped text only, so a file named ``take [x] *1*.wav``
shows as it is (no markdown, no markup from user data).
"""

from __future__ import annotations

import functools
import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ddspkit.studio.jobs import Finished, Job, JobRunner, Progress, Waiting, one_line
from ddspkit.studio.workspace import Workspace

CSS = """
.studio-status { padding: 6px 10px; border-radius: 6px; font-size: 0.95em; margin: 2px 0; }
.studio-status progress { width: 100%; height: 8px; margin-top: 4px; display: block; }
.status-info { background: var(--block-background-fill); color: var(--body-text-color-subdued); }
.status-busy { background: #e8f0fe; color: #1a3d7c; }
.status-ok { background: #e6f4ea; color: #14532d; }
.status-warning { background: #fef7e0; color: #713f12; }
.status-error { background: #fde8e8; color: #7f1d1d; font-weight: 600; }
.studio-note { font-size: 0.9em; color: var(--body-text-color-subdued); }
.studio-table td, .studio-table th { overflow-wrap: anywhere; word-break: break-word; }
"""


def status(kind: str, text: str, fraction: float | None = None, more: list[str] | None = None) -> str:
    """A status line: ``kind`` is info, busy, ok, warning or error; ``more``: warning lines."""
    prefix = {"error": "error: ", "warning": "warning: "}.get(kind, "")
    body = html.escape(prefix + text)
    if fraction is not None:
        body += f'<progress max="1" value="{min(max(fraction, 0.0), 1.0):.3f}"></progress>'
    lines = [f'<div class="studio-status status-{kind}">{body}</div>']
    lines += [f'<div class="studio-status status-warning">{html.escape("warning: " + w)}</div>'
              for w in (more or [])]
    return "".join(lines)


def note(text: str) -> str:
    """A small grey explanatory line (escaped)."""
    return f'<div class="studio-note">{html.escape(text)}</div>'


def page_errors(workspace: Workspace, n_more: int = 0):
    """Decorate an event handler whose first output is a status line: any exception becomes
    that line (one line: a UserError as it is, anything else by its type, with the traceback
    on the studio's terminal), the ``n_more`` other outputs left as they are. Gradio is never
    left to swallow an error."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def guarded(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except Exception as exc:  # the page shows it; never a silent failure
                line = status("error", workspace.readable(one_line(exc)))
                return (line, *(gr.skip(),) * n_more) if n_more else line
        return guarded
    return decorate


def job_controls(action: str, prefix: str, hint: str) -> tuple[gr.Button, gr.Button, gr.HTML]:
    """The run and cancel buttons of a tab's job, and its status line (``#<prefix>_run``,
    ``#<prefix>_cancel``, ``#<prefix>_status``)."""
    with gr.Row():
        run = gr.Button(action, variant="primary", elem_id=f"{prefix}_run")
        cancel = gr.Button("Cancel", variant="stop", elem_id=f"{prefix}_cancel")
    return run, cancel, gr.HTML(status("info", hint), elem_id=f"{prefix}_status")


def audio_result(label: str, prefix: str) -> tuple[gr.Audio, gr.File]:
    """A player of a job's audio and the link to download it (``#<prefix>_output``,
    ``#<prefix>_file``)."""
    player = gr.Audio(label=label, type="filepath", interactive=False, elem_id=f"{prefix}_output",
                      buttons=["download"])
    return player, gr.File(label="download the result", interactive=False, elem_id=f"{prefix}_file")


@dataclass
class JobResult:
    """What a job hands the page: a one-line summary, its outputs, and warnings."""

    message: str
    outputs: tuple
    warnings: list[str] = field(default_factory=list)


def stream_job(runner: JobRunner, workspace: Workspace, name: str, work: Callable[[Job], JobResult],
               n_outputs: int, clear_on_error: bool = True,
               clear_on_start: bool = False) -> Iterator[tuple[Any, ...]]:
    """Run ``work`` through the runner and yield (status HTML, *outputs) for Gradio.

    With ``clear_on_start`` the outputs are emptied as the job is asked for (the previous
    result is never heard or seen as the new one's); else they are left as they are while it
    runs. On an error or a cancel they are cleared unless ``clear_on_error`` is False.
    """
    keep = (gr.skip(),) * n_outputs
    cleared = (None,) * n_outputs if clear_on_error else keep
    if clear_on_start:
        yield (status("busy", f"{name}: starting"), *(None,) * n_outputs)
    started = time.monotonic()
    for event in runner.run(name, work):
        if isinstance(event, Waiting):
            yield (status("busy", f"waiting: {event.running} is running; this starts when it ends "
                                  "(one job at a time)"), *keep)
        elif isinstance(event, Progress):
            seconds = time.monotonic() - started
            yield (status("busy", f"{name}: {event.text} ({seconds:.0f} s)", event.fraction), *keep)
        elif isinstance(event, Finished):
            if event.cancelled:
                yield (status("info", f"{name}: cancelled"), *cleared)
            elif event.error is not None:
                yield (status("error", workspace.readable(event.error)), *cleared)
            else:
                result: JobResult = event.value
                yield (status("ok", workspace.readable(result.message), more=result.warnings),
                       *result.outputs)
