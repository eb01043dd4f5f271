"""A training run started from the studio: in a worker, watched by the page.

The run is :func:`ddspkit.training.trainer.train` itself, and the session is its observer:
Stop makes its ``should_stop`` true (the checkpoint and the model are saved, as after
Ctrl-C), and Resume trains the same name again, which continues from the checkpoint in the
run folder. The run lives in the server, not in the page: closing the tab leaves it running,
and a reopened page shows it again.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ddspkit.audio import AUDIO_EXTENSIONS, write_audio
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.errors import UserError
from ddspkit.io.modelfile import read_info
from ddspkit.io.models import check_name, user_model_path
from ddspkit.report.training import held_out_text
from ddspkit.studio.jobs import Finished, Job
from ddspkit.studio.workspace import recordings_dir, safe_stem
from ddspkit.training.data import PreparedDataset, find_audio_files, prepare
from ddspkit.training.observer import CheckpointPreview, Progress, TrainingObserver
from ddspkit.training.recipes import get_recipe
from ddspkit.training.run import RunFolder
from ddspkit.training.trainer import TrainingInterrupted, train

AUTO_RECIPE = "auto"  # the trainer's choice: 'finetune' from a bundled model, else 'fast'
MAX_CURVE_POINTS = 400  # per-step losses kept for the curve (thinned evenly beyond)
PREVIEWS_PER_RUN = 8  # checkpoints (held-out loss and audio preview) in a run, at most


def data_folder(name: str, folder_text: str | None, uploads: list[str] | None) -> tuple[Path, list[str]]:
    """Where the recordings to train ``name`` are, and notes about what was done.

    Uploaded files are copied into ``recordings_dir(name)`` (kept: a resume needs them); else
    the folder typed; else that recordings folder or the folder the model was trained from.
    Raises UserError when there is nothing to train on.
    """
    notes: list[str] = []
    if uploads:
        target = recordings_dir(name)
        target.mkdir(parents=True, exist_ok=True)
        kept = [Path(u) for u in uploads if Path(u).suffix.lower() in AUDIO_EXTENSIONS]
        ignored = [Path(u).name for u in uploads if Path(u).suffix.lower() not in AUDIO_EXTENSIONS]
        for upload in kept:
            shutil.copyfile(upload, target / f"{safe_stem(upload.stem)}{upload.suffix.lower()}")
        if ignored:
            notes.append(f"not audio, left out: {', '.join(ignored)}")
        notes.append(f"{len(kept)} uploaded file(s) kept in {target}")
        return target, notes
    if folder_text and folder_text.strip():
        folder = Path(folder_text.strip()).expanduser()
        if not folder.is_dir():
            raise UserError(f"{folder}: no such folder on this computer")
        return folder, notes
    kept = recordings_dir(name)
    if kept.is_dir() and find_audio_files(kept):
        return kept, [f"recordings uploaded earlier: {kept}"]
    source = _trained_from(name)
    if source is not None:
        return source, [f"the folder {name} was trained from: {source}"]
    raise UserError("no recordings: type a folder of this computer, or upload audio files")


def _trained_from(name: str) -> Path | None:
    path = user_model_path(name)
    if not path.is_file():
        return None
    try:
        source = read_info(path).provenance.get("source")
    except UserError:
        return None
    return Path(source) if source and Path(source).is_dir() else None


@dataclass
class Snapshot:
    """What the page shows of the run; ``version`` changes when the curve or preview does."""

    phase: str  # idle, preparing, training, stopped, finished, failed
    name: str = ""
    text: str = ""
    fraction: float | None = None
    version: int = 0
    curve: list[tuple[int, float, str]] = field(default_factory=list)  # (step, loss, series)
    preview: tuple[str, str, int] | None = None  # (recording WAV, model WAV, step)
    data: PreparedDataset | None = None
    folder: Path | None = None
    notes: list[str] = field(default_factory=list)
    start: str = ""  # where the run starts, once known: "from Cello (auto: ...)"

    @property
    def running(self) -> bool:
        return self.phase in ("preparing", "training")


class TrainingSession(TrainingObserver):
    """The studio's one training run (see the module's docstring); it observes the run from
    the worker and keeps what the page shows."""

    def __init__(self, studio) -> None:
        self.studio = studio
        self._lock = threading.Lock()
        self._state = Snapshot("idle")
        self._losses: list[tuple[int, float]] = []
        self._progress = Progress()
        self._run: RunFolder | None = None  # the run being trained, once one starts
        self._job: Job | None = None
        self._old_rows = 0  # history rows of a run started over, left out of the curve

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(**{**self._state.__dict__, "curve": list(self._state.curve),
                               "notes": list(self._state.notes)})

    def _update(self, **changes) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._state, key, value)

    def start(self, name: str, folder_text: str | None, uploads: list[str] | None, recipe_name: str,
              steps: int | None, restart: bool) -> str:
        """Start (or resume) training ``name``; returns what was started. Raises UserError."""
        name = check_name(name or "")
        # "auto" (or none): the trainer's choice, 'finetune' from a bundled model (the default start)
        recipe = None if recipe_name in (None, "", AUTO_RECIPE) else get_recipe(recipe_name)
        n_steps = int(steps) if steps else None
        if n_steps is not None and n_steps < 1:
            raise UserError(f"steps {n_steps}: at least 1")
        if self.snapshot().running or self.studio.runner.busy:
            raise UserError("another job is running: wait for it, or stop it")
        folder, notes = data_folder(name, folder_text, uploads)
        run = RunFolder.named(name)
        resuming = run.resumes(restart)
        # said on every line until the first step, not only in the moment of the click
        doing = f"{'resuming' if resuming else 'training'} {name}"
        self._run, self._losses, self._progress = run, [], Progress()
        self._old_rows = len(run.history()) if restart else 0
        with self._lock:
            self._state = Snapshot("preparing", name, f"{doing}: reading the recordings in {folder}", 0.0,
                                   self._state.version + 1, self._curve(), None, None,
                                   folder, notes)

        def work(job: Job):
            self._job = job  # the observer's should_stop asks this job, never the last one
            data = prepare(folder, on_file=lambda path, problem: job.report(f"read {path.name}"))
            self._update(phase="training", data=data, text=f"{doing}: loading the run", fraction=0.0)
            try:
                return train(data, name, recipe, n_steps=n_steps, restart=restart, run_dir=run.path,
                             max_checkpoints=PREVIEWS_PER_RUN, source=str(folder.resolve()),
                             observer=self)
            except TrainingInterrupted as stop:
                return stop

        self._job = self.studio.runner.start(f"training {name}", work, self._on_end)
        if self._job is None:
            self._update(phase="idle", text="")
            raise UserError("another job is running: wait for it, or stop it")
        return f"{doing} on the recordings in {folder}"

    def stop(self) -> bool:
        """Ask the run to stop after the current step (it saves first)."""
        job = self._job
        if job is None or not self.snapshot().running:
            return False
        job.cancel()
        self._update(text=f"stopping {self._state.name}: saving the checkpoint and the model")
        return True

    # -- the run's observer: called from the worker -------------------------------------------

    def should_stop(self) -> bool:
        return self._job is not None and self._job.cancel_requested

    def on_message(self, line: str) -> None:
        with self._lock:
            self._state.notes.append(line)

    def on_candidate(self, model: str, index: int, count: int) -> None:
        """'auto' scores the bundled models before the first step: say which, and how far."""
        self._update(text=f"{self._state.name}: choosing the starting model: scoring {model} "
                          f"({index}/{count})…", fraction=(index - 1) / count)
        if self._job is not None:
            self._job.check()  # Stop while choosing: nothing to save yet

    def on_start(self, start, recipe) -> None:
        short = f"from {start.model}" if start.model else "from random weights"
        text = (f"{self._state.name}: starting {start.describe()}, the '{recipe.name}' recipe "
                f"({recipe.n_steps} steps)")
        self._update(start=short, text=text, fraction=0.0)

    def on_step(self, step: int, total_steps: int, loss: float) -> None:
        progress = self._progress
        progress.update(step, total_steps)
        seconds_left = progress.seconds_left
        left = f", about {_duration(seconds_left)} left" if seconds_left is not None else ""
        self._losses.append((step, loss))
        with self._lock:
            s = self._state
            began = f" {s.start}" if s.start else ""
            s.text = (f"training {s.name}{began}: step {step}/{total_steps}, loss {loss:.3f}, "
                      f"{progress.steps_per_second:.2f} steps/s{left}")
            s.fraction = progress.fraction
            if step % max(1, total_steps // 100) == 0 or step == total_steps:  # the curve, now and then
                s.curve = self._curve()
                s.version += 1

    def on_checkpoint(self, preview: CheckpointPreview) -> None:
        folder = self.studio.workspace.job_folder("preview")
        target = write_audio(folder / "held-out-recording.wav", preview.target, SAMPLE_RATE_HZ)
        peak = max(float(np.abs(preview.resynthesis).max()), 0.99)
        model = write_audio(folder / f"held-out-model-step{preview.step}.wav",
                            preview.resynthesis * (0.99 / peak), SAMPLE_RATE_HZ)
        with self._lock:
            self._state.preview = (str(target), str(model), preview.step)
            self._state.curve = self._curve()
            self._state.version += 1

    # -- the end, in the worker once the run is over ------------------------------------------

    def _on_end(self, outcome: Finished) -> None:
        s = self.snapshot()
        if outcome.cancelled:
            phase, text = "stopped", f"{s.name}: stopped before training began"
        elif outcome.error is not None:
            phase, text = "failed", self.studio.workspace.readable(outcome.error)
        elif isinstance(outcome.value, TrainingInterrupted):
            phase = "stopped"
            text = (f"{s.name}: stopped at step {outcome.value.step}; the checkpoint and the model "
                    "are saved (Resume continues from here; the model is already in the lists)")
        else:
            result = outcome.value
            phase = "finished"
            text = (f"{s.name}: trained {result.step} steps, held-out loss "
                    f"{held_out_text(result.validation_loss)}; it is in every instrument list")
        self._update(phase=phase, text=text, curve=self._curve(), version=s.version + 1)

    def _curve(self) -> list[tuple[int, float, str]]:
        """Loss against step: this session's per-step losses (thinned), the earlier sessions'
        checkpoint means from history.jsonl, and the held-out loss at each checkpoint."""
        rows = self._run.history()[self._old_rows:] if self._run is not None else []
        first = self._losses[0][0] if self._losses else None
        curve = [(r["step"], r["train_loss"], "training") for r in rows
                 if r.get("train_loss") is not None and (first is None or r["step"] < first)]
        losses = self._losses
        if len(losses) > MAX_CURVE_POINTS:
            losses = [losses[i] for i in np.linspace(0, len(losses) - 1, MAX_CURVE_POINTS).astype(int)]
        curve += [(step, loss, "training") for step, loss in losses]
        curve += [(r["step"], r["validation_loss"], "held-out") for r in rows
                  if r.get("validation_loss") is not None]
        return curve


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
