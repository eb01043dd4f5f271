"""What the training notebook (``notebooks/train_vst.ipynb``) does, for Colab and local Jupyter.

The notebook's cells stay a few lines each; the logic is here, with tests. IPython is imported
only inside functions: without it (plain Python) text is printed and figures are only written,
so everything here also runs outside a notebook.
"""

from __future__ import annotations

import html
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddspkit import paths
from ddspkit.errors import UserError
from ddspkit.training.observer import Progress, TrainingObserver
from ddspkit.training.run import RunFolder

DRIVE_MOUNT = Path("/content/drive")  # where Colab mounts Google Drive; "My Drive" is under it
MY_DRIVE = "MyDrive"


def in_colab() -> bool:
    """True inside a Google Colab runtime (its kernel imports ``google.colab`` at start)."""
    return "google.colab" in sys.modules


def _ipython():
    """The running IPython shell (a notebook's kernel), or None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


@dataclass(frozen=True)
class Workspace:
    """The notebook's folders. After :func:`setup`, ``work_folder`` is ddspkit's home
    (``$DDSPKIT_HOME``): it holds ``models/``, ``runs/`` and the feature cache."""

    name: str
    data_folder: Path
    work_folder: Path
    on_colab: bool

    @property
    def run(self) -> RunFolder:
        """The training run's folder: checkpoint, history.jsonl, TensorBoard logs."""
        return RunFolder.named(self.name)

    @property
    def run_dir(self) -> Path:
        return self.run.path

    @property
    def notebook_dir(self) -> Path:
        """The figures and sounds the notebook shows, kept with the run."""
        return self.run.notebook


def mount_drive() -> Path:
    """Mount Google Drive (Colab asks for permission once); return the "My Drive" folder."""
    my_drive = DRIVE_MOUNT / MY_DRIVE
    if not my_drive.is_dir():
        from google.colab import drive

        drive.mount(str(DRIVE_MOUNT))
    return my_drive


def _resolve(folder: str | Path, base: Path) -> Path:
    folder = Path(folder).expanduser()
    return folder if folder.is_absolute() else base / folder


def setup(name: str, data_folder: str | Path, work_folder: str | Path | None = None) -> Workspace:
    """Resolve the notebook's folders and make the work folder ddspkit's home.

    On Colab, Google Drive is mounted and relative folders are taken in "My Drive" (the work
    folder defaults to "My Drive/ddspkit"), so that runs and models outlive the runtime: after a
    disconnection, running all cells again resumes training. Elsewhere relative folders are
    taken in the home folder, and the work folder defaults to ddspkit's usual home (where the
    ``ddspkit`` command finds models). Raises UserError for a bad name or a missing data folder.
    """
    from ddspkit.io.models import check_name

    name = check_name(name, "MODEL_NAME")
    colab = in_colab()
    base = mount_drive() if colab else Path.home()
    data = _resolve(data_folder, base)
    if work_folder:
        work = _resolve(work_folder, base)
    else:
        work = base / "ddspkit" if colab else paths.home()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["DDSPKIT_HOME"] = str(work)
    if not data.is_dir():
        where = "your Google Drive" if colab else "this computer"
        if colab:  # made here, so that it shows up in Drive, ready for the recordings
            data.mkdir(parents=True)
        raise UserError(f"{data}: no recordings folder; put your recordings there (on {where}) "
                        "and run all cells again")
    print(f"recordings:            {data}\nruns, models, exports: {work}")
    print(_device_note(colab))
    return Workspace(name, data, work, colab)


def _device_note(colab: bool) -> str:
    from ddspkit.training.trainer import default_device

    device = default_device()
    if device.type == "cuda":
        import torch

        return f"training on the GPU ({torch.cuda.get_device_name(device)})"
    hint = (": for a GPU, choose Runtime > Change runtime type > GPU, then run all cells again"
            if colab else "")
    return f"training on the CPU{hint}"


def show_dataset(data, workspace: Workspace) -> Path:
    """The dataset summary and its warnings as text, then the pitch and power histograms.

    ``data``: a :class:`ddspkit.training.data.PreparedDataset`. Returns the figure's path.
    """
    from ddspkit.render.plot import plot_dataset
    from ddspkit.report.training import summary_rows

    rows = summary_rows(data)
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {text}" for label, text in rows]
    lines += [f"skipped: {line}" for line in data.summary.skipped]
    lines += [f"warning: {line}" for line in data.summary.warnings]
    print("\n".join(lines))
    figure = plot_dataset(data, workspace.notebook_dir / "dataset.png")
    _show_image(figure)
    return figure


def _show_image(path: Path) -> None:
    if _ipython() is None:
        print(f"figure: {path}")
        return
    from IPython.display import Image, display

    display(Image(filename=str(path)))


def _show_html(markup: str, text: str) -> None:
    if _ipython() is None:
        print(text)
        return
    from IPython.display import HTML, display

    display(HTML(markup))


def _eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return ""
    return f"{seconds / 60:.0f} min left" if seconds >= 90 else f"{seconds:.0f} s left"


class TrainingDisplay(TrainingObserver):
    """The notebook's view of a run: a progress bar and a live loss curve.

    In a notebook both appear once the run starts and are redrawn in place: the bar at most
    every ``bar_every_s``, the curve (this session's losses over the run's checkpoints from
    ``history.jsonl``) every ``plot_every_s``, as drawing it costs more than a training step.
    Elsewhere a line of text is printed every ``text_every_s``.
    """

    def __init__(self, name: str, run: RunFolder, resuming: bool, bar_every_s: float = 0.5,
                 plot_every_s: float = 5.0, text_every_s: float = 30.0,
                 stop_when: Callable[[], bool] | None = None) -> None:
        self.name, self.run, self.resuming, self.stop_when = name, run, resuming, stop_when
        self.bar_every_s, self.plot_every_s, self.text_every_s = bar_every_s, plot_every_s, text_every_s
        self.progress = Progress()
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.messages: list[str] = []
        self.last_bar = self.last_plot = -math.inf
        self.in_notebook = _ipython() is not None
        self.bar = self.plot = None

    @property
    def total_steps(self) -> int:
        return self.progress.total_steps

    def status(self) -> str:
        step = self.steps[-1] if self.steps else 0
        parts = [f"step {step}/{self.total_steps}"]
        if self.losses:
            parts.append(f"loss {self.losses[-1]:.3f}")
        rate, left = self.progress.steps_per_second, self.progress.seconds_left
        if rate > 0 and left is not None:
            parts += [f"{rate:.2f} steps/s", _eta(left)]
        return " · ".join(p for p in parts if p)

    def bar_html(self) -> str:
        step = self.steps[-1] if self.steps else 0
        return (f'<progress value="{step}" max="{self.total_steps}" style="width: 50%"></progress>'
                f" {html.escape(self.status())}")

    def on_start(self, start, recipe) -> None:
        from ddspkit.training.trainer import default_device

        self.progress.total_steps = recipe.n_steps
        print(f"training {self.name} with the '{recipe.name}' recipe on {default_device()}, "
              f"{recipe.n_steps} steps, {start.describe()}"
              + (f"; resuming from the checkpoint in {self.run.path}" if self.resuming else ""))
        if self.in_notebook:
            from IPython.display import HTML, display

            self.bar = display(HTML(self.bar_html()), display_id=True)
            self.plot = display(HTML("<i>the loss curve appears after the first steps</i>"),
                                display_id=True)

    def on_step(self, step: int, total_steps: int, loss: float) -> None:
        self.progress.update(step, total_steps)
        now = time.perf_counter()
        self.steps.append(step)
        self.losses.append(loss)
        if self.bar is None:
            if now - self.last_bar >= self.text_every_s:
                print(self.status(), flush=True)
                self.last_bar = now
            return
        if now - self.last_bar >= self.bar_every_s:
            self.refresh_bar()
        if now - self.last_plot >= self.plot_every_s:
            self.refresh_plot()

    def on_message(self, line: str) -> None:
        """Something unusual (a rollback after a diverging step): said at once, kept."""
        self.messages.append(line)
        print(f"warning: {line}", flush=True)

    def should_stop(self) -> bool:
        return self.stop_when is not None and self.stop_when()

    def refresh_bar(self) -> None:
        from IPython.display import HTML

        self.bar.update(HTML(self.bar_html()))
        self.last_bar = time.perf_counter()

    def refresh_plot(self) -> None:
        from IPython.display import Image

        from ddspkit.render.plot import loss_figure, png_bytes

        figure = loss_figure(self.run.history(), self.steps, self.losses)
        self.plot.update(Image(data=png_bytes(figure)))
        self.last_plot = time.perf_counter()

    def finish(self) -> None:
        """Draw the final state (and the last checkpoint's row in the curve)."""
        if self.bar is not None:
            self.refresh_bar()
            self.refresh_plot()

    def summary(self, result) -> str:
        """What this session did: the steps it trained (and where it resumed), held-out loss,
        model file. ``result``: a :class:`ddspkit.training.trainer.TrainResult`."""
        from ddspkit.report.training import held_out_text

        if not self.steps:
            done = (f"already trained to step {result.step}: nothing to do (raise STEPS to "
                    "train further)")
        else:
            seconds = self.progress.seconds_since_first()
            done = f"trained steps {self.steps[0]}-{self.steps[-1]} of {self.total_steps} in {seconds:.0f} s"
            if self.steps[0] > 1:
                done += f" (resumed from step {self.steps[0] - 1})"
        return f"{done}; held-out loss {held_out_text(result.validation_loss)}\nmodel: {result.model_path}"


def train(workspace: Workspace, data, recipe=None, steps: int | None = None,
          should_stop: Callable[[], bool] | None = None, **options):
    """Train (or resume) ``workspace.name`` on ``data`` with a progress bar and a live loss curve.

    ``data``: a :class:`ddspkit.training.data.PreparedDataset`; ``recipe``: a name, or None for the
    trainer's choice ('finetune' from the nearest bundled model, the default start); ``options`` go to
    :func:`ddspkit.training.trainer.train`. A stop (the notebook's stop button, or ``should_stop``
    returning True) saves the checkpoint and the model, then raises UserError saying how to
    resume: running the cell again. Returns the trained :class:`ddspkit.api.Model`.
    """
    from ddspkit.api import load_model
    from ddspkit.training.recipes import get_recipe
    from ddspkit.training.trainer import TrainingInterrupted
    from ddspkit.training.trainer import train as train_run

    asked = get_recipe(recipe) if isinstance(recipe, str) else recipe
    display = TrainingDisplay(workspace.name, workspace.run,
                              workspace.run.resumes(options.get("restart", False)), stop_when=should_stop)
    try:
        result = train_run(data, workspace.name, asked, n_steps=steps, observer=display,
                           source=str(workspace.data_folder), **options)
    except TrainingInterrupted as stop:
        display.finish()
        raise UserError(f"stopped at step {stop.step}: checkpoint and model saved in "
                        f"{workspace.work_folder}; run this cell again to resume") from None
    display.finish()
    print(display.summary(result))
    return load_model(result.model_path)


def listen(model, audio: np.ndarray, sample_rate_hz: int, title: str, stem: Path, **transfer_options):
    """Transfer [T] ``audio`` into ``model``; show input and output as audio players, then the
    transfer plot. Writes ``<stem>-input.wav``, ``<stem>-output.wav`` and ``<stem>.png``.

    ``transfer_options`` go to :meth:`ddspkit.api.Model.transfer`. Returns its TransferResult.
    """
    from ddspkit.audio import write_audio
    from ddspkit.render.plot import plot_transfer

    stem = Path(stem)
    result = model.transfer(audio, sample_rate_hz, **transfer_options)
    players = []
    for label, sound, suffix in (("input", audio, "input"), (f"as {model.name}", result.audio, "output")):
        path = write_audio(stem.parent / f"{stem.name}-{suffix}.wav", sound, sample_rate_hz)
        players.append((label, np.clip(sound, -1.0, 1.0), path))
    figure = plot_transfer(result, stem.parent / f"{stem.name}.png", audio,
                           title=f"{title} -> {model.name}")
    _show_html(f"<b>{html.escape(title)}</b>", title)
    for label, sound, path in players:
        _show_audio(label, sound, sample_rate_hz, path)
    _show_image(figure)
    return result


def listen_held_out(model, data, workspace: Workspace):
    """Resynthesize the user's own held-out phrase (one training never saw) with ``model``,
    without auto-adjust: it is already in the instrument's range. Returns the TransferResult,
    or None when nothing was held out."""
    from ddspkit.config import SAMPLE_RATE_HZ
    from ddspkit.training.data import held_out_phrase

    phrase = held_out_phrase(data.files)
    if phrase is None:
        print("no held-out phrase: every recording was used for training")
        return None
    return listen(model, phrase.audio, SAMPLE_RATE_HZ, f"your recording, held out ({phrase.label})",
                  workspace.notebook_dir / "held-out", auto_adjust=False)


def _show_audio(label: str, audio: np.ndarray, sample_rate_hz: int, path: Path) -> None:
    if _ipython() is None:
        print(f"{label}: {path}")
        return
    from IPython.display import HTML, Audio, display

    display(HTML(html.escape(label)), Audio(audio, rate=sample_rate_hz, normalize=False))


def export_for_plugin(model) -> tuple[Path, Path]:
    """Write the DDSP-VST ``.tflite`` next to the model file (checked against the plugin's
    rules) and its zip for the plugin; on Colab the zip is offered for download.

    ``model``: a :class:`ddspkit.api.Model`. Returns (the .tflite, the .zip).
    """
    from ddspkit.io.ddsp_vst.plugin import zip_for_plugin

    tflite, report = model.export_vst()
    archive = zip_for_plugin(tflite)
    print(f"{tflite}: DDSP-VST model, {tflite.stat().st_size / 1e6:.1f} MB, export_time "
          f"{report.metadata['export_time']}; passes the plugin's checks ({report.ran})")
    print(f"{archive}: the same, zipped for the plugin's model folder")
    if in_colab():
        from google.colab import files

        files.download(str(archive))
    return tflite, archive
