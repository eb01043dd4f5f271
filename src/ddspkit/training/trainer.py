"""Training: a resumable loop with atomic checkpoints, TensorBoard logs.

A run starts from random weights or from a model's weights (fine-tuning; ``auto`` picks the
nearest bundled model, see :mod:`ddspkit.training.start`); the checkpoint records the start.
Which recipe and which start are decided first, by :func:`ddspkit.training.plan.plan`; the
run's files are :class:`ddspkit.training.run.RunFolder`'s; a face follows the run through a
:class:`ddspkit.training.observer.TrainingObserver`.

Running the same ``train`` again resumes from the last checkpoint with the same step count,
optimizer and scheduler state, and data order: the order of examples and the synth's noise
are functions of (seed, step), so an interrupted run continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import platform
import signal
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddspkit._version import __version__
from ddspkit.analysis.profile import profile_from_recordings
from ddspkit.audio import remove_stale_temporaries
from ddspkit.config import SAMPLE_RATE_HZ, ModelConfig
from ddspkit.dsp.losses import multiscale_spectral_loss
from ddspkit.errors import UserError
from ddspkit.io.modelfile import ModelInfo, save_model
from ddspkit.io.models import VST_SUFFIX, bundled_model, user_model_files, user_model_path
from ddspkit.model import Instrument
from ddspkit.training.data import FEATURES_VERSION, Examples, PreparedDataset, batch, cut_examples
from ddspkit.training.observer import CheckpointPreview, TrainingObserver
from ddspkit.training.plan import plan
from ddspkit.training.recipes import Recipe
from ddspkit.training.run import RunFolder
from ddspkit.training.start import AUTO_WINDOWS, StartPoint, resolve_start


class GracefulStop:
    """Within ``with``: the first SIGINT (Ctrl-C) or SIGTERM only sets ``requested``; the loop
    stops between steps, so no save is ever cut in half (an exception raised mid-save could
    also leave a logging thread holding a lock). A second Ctrl-C interrupts at once.
    Inactive outside the main thread, where signal handlers cannot be set."""

    def __init__(self, enabled: bool = True) -> None:
        self.requested = False
        self._enabled = enabled and threading.current_thread() is threading.main_thread()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous.get(signal.SIGINT, signal.default_int_handler))

    def __enter__(self) -> GracefulStop:
        if self._enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class TrainingInterrupted(Exception):
    """Raised after Ctrl-C once the checkpoint and model file are safely written."""

    def __init__(self, step: int, model_path: Path) -> None:
        super().__init__(f"interrupted at step {step}")
        self.step, self.model_path = step, model_path


@dataclass
class TrainResult:
    model_path: Path
    step: int
    validation_loss: float | None
    wall_seconds: float
    start: StartPoint | None = None


@dataclass(frozen=True)
class Distributed:
    """Data-parallel context from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Distributed:
        import os

        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def weights_checksum(module: torch.nn.Module) -> str:
    """A digest of every parameter's bytes: equal digests, equal weights."""
    import hashlib

    digest = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def epoch_order(n_examples: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n_examples)


def batch_indices(step: int, batch_size: int, n_examples: int, seed: int) -> np.ndarray:
    """Example indices of a step: a stream of per-epoch shuffles, a pure function of step."""
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    epochs, offsets = np.divmod(positions, n_examples)
    orders = {e: epoch_order(n_examples, seed, int(e)) for e in np.unique(epochs)}
    return np.array([orders[e][o] for e, o in zip(epochs, offsets, strict=True)])


def _to_device(arrays, device: torch.device) -> list[torch.Tensor]:
    return [torch.from_numpy(a).to(device, non_blocking=True) for a in arrays]


@torch.no_grad()
def validation_loss(instrument: Instrument, data: PreparedDataset, examples: Examples,
                    device: torch.device, batch_size: int = 8) -> float | None:
    """Mean multi-scale spectral loss over held-out 4 s windows (fixed noise seed)."""
    if len(examples) == 0:
        return None
    instrument.eval()
    total, count = 0.0, 0
    generator = torch.Generator(device=device).manual_seed(1234)
    for first in range(0, len(examples), batch_size):
        idx = np.arange(first, min(first + batch_size, len(examples)))
        audio, f0, power = _to_device(batch(data.files, examples, idx), device)
        predicted = instrument(f0, power, audio.shape[-1], generator=generator)
        total += float(multiscale_spectral_loss(predicted, audio)) * len(idx)
        count += len(idx)
    instrument.train()
    return total / count


MAX_ROLLBACKS = 3  # divergences survived by going back with a halved learning rate


class TrainingDiverged(UserError):
    """The loss stayed non-finite after every rollback; the last good state is saved."""


def train(
    data: PreparedDataset,
    name: str,
    recipe: Recipe | str | None = None,
    n_steps: int | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    restart: bool = False,
    run_dir: Path | None = None,
    model_path: Path | None = None,
    checkpoint_every: int | None = None,
    *,
    source: str = "",
    start_from: str | None = None,
    start_exclude: tuple[str, ...] = (),
    observer: TrainingObserver | None = None,
    max_checkpoints: int | None = None,
) -> TrainResult:
    """Train (or resume training) an instrument on prepared data; write its model file.

    Args:
        data: from :func:`ddspkit.training.data.prepare`.
        name: the instrument's name (model file ``<models folder>/<name>.safetensors``).
        recipe: a :class:`Recipe` or the name of one in :data:`RECIPES`; None: the one the
            run started with when it resumes, else FINETUNE_RECIPE from a model's weights and
            DEFAULT_RECIPE from random weights (see :func:`ddspkit.training.plan.plan`).
        n_steps: total steps (default: the recipe's). A finished run trains further if raised.
        run_dir: checkpoints and TensorBoard logs (default ``<ddspkit home>/runs/<name>``,
            see :class:`ddspkit.training.run.RunFolder`).
        checkpoint_every: steps between checkpoints (default: the recipe's).
        start_from: "scratch", "auto" (the nearest bundled model), a model name or a path
            (see :mod:`ddspkit.training.start`); None: the default (DEFAULT_START) for a new run,
            and whatever a resumed run started from.
        start_exclude: bundled models "auto" must not pick.
        observer: told the start, every step, each checkpoint's preview and unusual events,
            and asked whether to stop (see :class:`TrainingObserver`).
        max_checkpoints: at most this many checkpoints (a UI's previews).
    Raises:
        TrainingInterrupted: on Ctrl-C, SIGTERM or ``observer.should_stop()``, after saving
            the checkpoint and the model.
        TrainingDiverged: the loss stayed non-finite after MAX_ROLLBACKS rollbacks.
    """
    observer = observer or TrainingObserver()
    run = RunFolder(Path(run_dir)) if run_dir is not None else RunFolder.named(name)
    decided = plan(recipe, saved=None if restart else run.saved(), start_from=start_from,
                   seed=seed, n_steps=n_steps, checkpoint_every=checkpoint_every,
                   max_checkpoints=max_checkpoints)
    dist = Distributed.from_env()
    device = _training_device(device, dist)
    if model_path is None:
        check_training_name(name, run, restart)
        model_path = user_model_path(name)
    trainer = _Trainer(data, name, decided.recipe, device, seed, run, model_path, source, dist,
                       observer)
    trainer.prepare_run_folder(restart)
    if decided.resume:
        trainer.resume(decided.recorded_start)
    else:
        trainer.start_at(decided.start_from, start_exclude)
    if trainer.dist.is_main:
        observer.on_start(trainer.start, trainer.recipe)
    return trainer.run()


def check_training_name(name: str, run: RunFolder, restart: bool) -> None:
    """Refuse to train ``name`` into the user's models where it would shadow or replace a
    model unasked: a bundled model's name, a model imported under it, or a model of that
    name that no saved run continues (unless ``restart``: replacing it is asked for)."""
    if bundled_model(name) is not None:
        raise UserError(f"'{name}' is a bundled model's name: choose another (your models "
                        "cannot take a bundled model's name)")
    files = user_model_files(name)
    imported = [f for f in files if f.suffix == VST_SUFFIX and not f.with_suffix(".safetensors").exists()]
    if imported:
        raise UserError(f"'{name}': you imported a model of this name ({imported[0]}); choose "
                        "another name, or rename or delete that model first")
    if files and not restart and not run.can_resume:
        raise UserError(f"'{name}': you already have a model of this name ({files[0]}) and no "
                        "saved training continues it; choose another name, or start over "
                        "(--restart) to replace it")


def _training_device(device: str | torch.device | None, dist: Distributed) -> torch.device:
    """The device to train on; under torchrun, joins the process group first."""
    if device is None:
        device = default_device()
        if dist.enabled and torch.device(device).type == "cuda":
            device = f"cuda:{dist.local_rank}"
    device = torch.device(device)
    if dist.enabled and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cpu":  # share the cores instead of oversubscribing them
            import os

            torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.world_size))
    return device


class _Trainer:
    """One training run: model, optimizer, data windows, logs and the files it writes."""

    def __init__(self, data: PreparedDataset, name: str, recipe: Recipe, device: torch.device,
                 seed: int, run: RunFolder, model_path: Path, source: str,
                 dist: Distributed, observer: TrainingObserver) -> None:
        self.data, self.name, self.recipe, self.device = data, name, recipe, device
        self.seed, self.folder, self.model_path, self.source, self.dist = (
            seed, run, model_path, source, dist)
        self.observer = observer
        # lr_scale: halved by each rollback after a divergence, kept across resumes.
        self.meta: dict[str, Any] = {"name": name, "recipe": recipe.name, "seed": seed,
                                     "train_seconds": 0.0, "lr_scale": 1.0, "rollbacks": []}
        # The recipe's example windows, cut before any step.
        self.train_examples, self.val_examples = cut_examples(
            data.files, recipe.example_seconds, recipe.example_hop_seconds)
        if len(self.train_examples) < recipe.batch_size:
            raise UserError(f"{name}: only {len(self.train_examples)} training examples of "
                            f"{recipe.example_seconds:g} s; add audio or use a shorter recipe")
        torch.manual_seed(seed)
        self.instrument = Instrument(ModelConfig()).to(device)
        self.optimizer = torch.optim.Adam(self.instrument.parameters(), lr=recipe.learning_rate)
        self.step = 0
        self.start = StartPoint("scratch")
        self.last_good: tuple[dict, dict, int] | None = None
        self.rollbacks_this_run = 0  # a resume gets MAX_ROLLBACKS more tries
        self.writer = None

    def prepare_run_folder(self, restart: bool) -> None:
        if self.dist.is_main:
            # A kill -9 mid-save leaves a temporary beside the (whole) previous checkpoint.
            self.folder.remove_stale_temporaries()
            remove_stale_temporaries(self.model_path)
            if restart:
                self.folder.discard_checkpoint()
        if self.dist.enabled:
            torch.distributed.barrier()

    def start_at(self, requested: str, exclude: tuple[str, ...] = ()) -> None:
        """A new run: load the starting weights (none from scratch) and record the start."""
        few = self.val_examples if len(self.val_examples) else self.train_examples
        pick = np.unique(np.linspace(0, len(few) - 1, min(AUTO_WINDOWS, len(few))).astype(int))
        windows = Examples(few.file_index[pick], few.start_frame[pick], few.n_frames)

        def score(instrument: Instrument) -> float:
            return validation_loss(instrument, self.data, windows, self.device)

        self.start = resolve_start(requested, score, self.device, exclude, self.observer.on_candidate)
        if self.start.state is not None:
            self.instrument.load_state_dict(self.start.state)
            self.start.state = None  # the weights live in the instrument now
        self.meta["start"] = self.start.to_dict()

    def resume(self, recorded_start: StartPoint) -> None:
        """Continue the saved run (its recipe and start already checked by the plan): load
        its weights, optimizer, step and bookkeeping."""
        state = self.folder.load_checkpoint(self.device)
        saved = json.loads(state["meta"])
        self.start = recorded_start
        self.meta["start"] = self.start.to_dict()
        self.instrument.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.meta["train_seconds"] = float(saved.get("train_seconds", 0.0))
        self.meta["lr_scale"] = float(saved.get("lr_scale", 1.0))
        self.meta["rollbacks"] = list(saved.get("rollbacks", []))

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> TrainResult:
        dist, recipe = self.dist, self.recipe
        self.model = self.instrument
        if dist.enabled:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.instrument, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if dist.is_main:
            from torch.utils.tensorboard import SummaryWriter  # slow import; only when training

            self.writer = SummaryWriter(log_dir=str(self.folder.tensorboard), purge_step=self.step)
        self.wall_start = time.perf_counter()
        self.seconds_before = self.meta["train_seconds"]
        self.instrument.train()
        self._remember_good_state()
        val_loss = None
        recent: list[float] = []
        # Under torchrun the launcher relays signals to every rank, which must stop together:
        # there a Ctrl-C interrupts at once, as before.
        stop = GracefulStop(enabled=not dist.enabled)
        try:
            with stop:
                while self.step < recipe.n_steps:
                    loss_value = self._train_step()
                    if loss_value is None:
                        self.observer.on_message(self._roll_back())
                        recent = []
                        continue
                    recent = (recent + [loss_value])[-recipe.checkpoint_every:]
                    if dist.is_main:
                        self.observer.on_step(self.step, recipe.n_steps, loss_value)
                    if self.step % recipe.checkpoint_every == 0 and self.step < recipe.n_steps:
                        val_loss = self._checkpoint(float(np.mean(recent)))
                        self._remember_good_state()
                    if stop.requested or self.observer.should_stop():
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            path = self._finish(val_loss) if not dist.enabled else self.model_path
            if dist.enabled and dist.is_main:  # peers may be gone: save without gathering
                self._save_checkpoint()
            self._close()
            raise TrainingInterrupted(self.step, path) from None
        except TrainingDiverged:
            self._close()
            raise
        val_loss = self._checkpoint(float(np.mean(recent)) if recent else float("nan"))
        path = self._finish(val_loss)
        self._close()
        if dist.enabled:
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
        return TrainResult(path, self.step, val_loss, time.perf_counter() - self.wall_start,
                           self.start)

    def _train_step(self) -> float | None:
        """One optimisation step; None (and no update) when the loss or gradient is not finite."""
        recipe, dist, step = self.recipe, self.dist, self.step
        lr = recipe.learning_rate_at(step) * self.meta["lr_scale"]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        # Every rank draws the same global batch order and trains on its own slice.
        idx = batch_indices(step, recipe.batch_size * dist.world_size, len(self.train_examples),
                            self.seed)[dist.rank * recipe.batch_size : (dist.rank + 1) * recipe.batch_size]
        audio, f0, power = _to_device(batch(self.data.files, self.train_examples, idx), self.device)
        generator = torch.Generator(device=self.device).manual_seed(
            self.seed * 1_000_003 + step * 1024 + dist.rank)
        predicted = self.model(f0, power, audio.shape[-1], generator=generator, preroll_frames=0)
        warmup = int(recipe.warmup_seconds * SAMPLE_RATE_HZ)
        loss = multiscale_spectral_loss(predicted[:, warmup:], audio[:, warmup:])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Gradients are all-reduced under DDP, so every rank sees the same norm and agrees.
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.instrument.parameters(),
                                                         recipe.grad_clip_norm))
        loss_value = float(loss.detach())
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            self.meta["rollbacks"].append({"step": step + 1, "loss": str(loss_value)})
            return None
        self.optimizer.step()
        self.step += 1
        if self.writer is not None and (self.step % 10 == 0 or self.step == 1):
            self.writer.add_scalar("loss/train", loss_value, self.step)
            self.writer.add_scalar("learning_rate", lr, self.step)
            self.writer.add_scalar("grad_norm", grad_norm, self.step)
        return loss_value

    def _remember_good_state(self) -> None:
        """A copy of the weights and optimizer to go back to if the loss diverges."""
        import copy

        self.last_good = (copy.deepcopy(self.instrument.state_dict()),
                          copy.deepcopy(self.optimizer.state_dict()), self.step)

    def _roll_back(self) -> str:
        """Go back to the last good state with half the learning rate; say what happened."""
        failure = self.meta["rollbacks"][-1]
        model_state, optimizer_state, good_step = self.last_good
        self.instrument.load_state_dict(model_state)
        self.optimizer.load_state_dict(optimizer_state)
        self.step = good_step
        self.meta["lr_scale"] /= 2
        self.rollbacks_this_run += 1
        n = self.rollbacks_this_run
        if n > MAX_ROLLBACKS:
            if self.dist.is_main:
                self._save_checkpoint()
            raise TrainingDiverged(
                f"{self.name}: the loss became {failure['loss']} at step {failure['step']}, "
                f"{n} times, even with the learning rate lowered to "
                f"{self.meta['lr_scale'] * 2:g}x; the last good state (step {good_step}) is "
                f"saved in {self.folder.path}: run the same command to try again from there, or add "
                "--restart (check the data for loud clicks or digital noise)")
        return (f"the loss became {failure['loss']} at step {failure['step']}: back to step "
                f"{good_step} with the learning rate halved (x{self.meta['lr_scale']:g})")

    # -- files ----------------------------------------------------------------------------

    def _save_checkpoint(self) -> None:
        state = {"model": self.instrument.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": self.step, "meta": json.dumps(self.meta)}
        self.folder.save_checkpoint(state)

    def _update_seconds(self) -> None:
        # Training seconds add up across resumes: loss against wall-clock, per run.
        self.meta["train_seconds"] = self.seconds_before + time.perf_counter() - self.wall_start

    def _checkpoint(self, train_loss: float) -> float | None:
        """Held-out loss, history row, TensorBoard preview and checkpoint (main rank only)."""
        self._update_seconds()
        if not self.dist.is_main:  # one process evaluates and writes; the others train on
            return None
        val = validation_loss(self.instrument, self.data, self.val_examples, self.device)
        row = {"step": self.step, "train_seconds": round(self.meta["train_seconds"], 2),
               "train_loss": round(train_loss, 5),
               "validation_loss": None if val is None else round(val, 5)}
        self.folder.append_history(row)
        if val is not None:
            self.writer.add_scalar("loss/validation", val, self.step)
        preview = _preview(self.writer, self.instrument, self.data, self.val_examples, self.device,
                           self.step)
        self._save_checkpoint()
        if preview is not None:
            self.observer.on_checkpoint(CheckpointPreview(self.step, val, *preview))
        return val

    def _finish(self, val_loss: float | None) -> Path:
        """Save the checkpoint and the model file with its provenance."""
        self._update_seconds()
        dist = self.dist
        checksums = [weights_checksum(self.instrument)]
        if dist.enabled:
            checksums = [None] * dist.world_size
            torch.distributed.all_gather_object(checksums, weights_checksum(self.instrument))
            if len(set(checksums)) != 1:
                raise RuntimeError(f"data-parallel ranks diverged: weight checksums {checksums}")
        if not dist.is_main:
            return self.model_path
        self._save_checkpoint()
        provenance = {
            "ddspkit_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": self.source,
            "recipe": asdict(self.recipe),
            "steps": self.step,
            "train_seconds": round(self.meta["train_seconds"], 1),
            "seed": self.seed,
            "start": self.start.to_dict(),
            "validation_loss": val_loss,
            "device": str(self.device),
            "torch_version": torch.__version__,
            "platform": platform.platform(),
            "data": self.data.summary.to_dict(),
            "features_version": FEATURES_VERSION,
            "distributed": {"world_size": dist.world_size, "weight_checksums": checksums},
        }
        if self.meta["rollbacks"]:
            provenance["rollbacks"] = {"events": self.meta["rollbacks"],
                                       "learning_rate_scale": self.meta["lr_scale"]}
        # How the player of these recordings shapes notes, for MIDI: from the pitch tracked in
        # preparing them (the tracker runs again only for files cached before it was kept)
        files = self.data.files
        profile = profile_from_recordings([f.audio for f in files], f"{len(files)} training recordings",
                                          [f.tracked_features() for f in files])
        info = ModelInfo(self.name, self.instrument.config, self.data.statistics, provenance,
                         expression_profile=profile)
        return save_model(self.model_path, self.instrument, info)

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@torch.no_grad()
def _preview(writer, instrument: Instrument, data: PreparedDataset, examples: Examples,
             device: torch.device, step: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Log the first held-out window and its resynthesis as audio to TensorBoard.

    Returns (target [T], resynthesis [T]) at 16 kHz, or None without held-out windows.
    """
    if len(examples) == 0:
        return None
    audio, f0, power = _to_device(batch(data.files, examples, np.array([0])), device)
    instrument.eval()
    resynth = instrument.render(f0[0], power[0], audio.shape[-1])
    instrument.train()
    peak = max(float(resynth.abs().max()), 1.0)
    writer.add_audio("preview/resynthesis", (resynth / peak).cpu(), step, SAMPLE_RATE_HZ)
    if not getattr(writer, "target_logged", False):  # the target once per session is enough
        writer.add_audio("preview/target", audio[0].cpu(), step, SAMPLE_RATE_HZ)
        writer.target_logged = True
    return audio[0].cpu().numpy(), resynth.cpu().numpy()
