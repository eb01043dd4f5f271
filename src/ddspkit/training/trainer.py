"""Training: recipes, a resumable loop with atomic checkpoints, TensorBoard logs.

A run starts from random weights or from a model's weights (fine-tuning; ``auto`` picks the
nearest bundled model, see :mod:`ddspkit.training.start`); the checkpoint records the start.

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddspkit import paths
from ddspkit._version import __version__
from ddspkit.audio import atomic_write, remove_stale_temporaries
from ddspkit.config import SAMPLE_RATE_HZ, ModelConfig
from ddspkit.dsp.losses import multiscale_spectral_loss
from ddspkit.errors import UserError
from ddspkit.io.modelfile import ModelInfo, save_model
from ddspkit.io.models import VST_SUFFIX, bundled_model, user_model_files, user_model_path
from ddspkit.model import Instrument
from ddspkit.training.data import FEATURES_VERSION, Examples, PreparedDataset, batch, cut_examples
from ddspkit.training.start import AUTO_WINDOWS, DEFAULT_START, StartPoint, resolve_start, same_start


@dataclass(frozen=True)
class Recipe:
    """Optimisation settings. Learning rate decays as lr * rate ** (step / decay_steps)."""

    name: str
    learning_rate: float
    lr_decay_rate: float
    lr_decay_steps: int
    grad_clip_norm: float
    batch_size: int
    example_seconds: float
    example_hop_seconds: float
    n_steps: int
    checkpoint_every: int
    warmup_seconds: float = 0.0  # synthesized but not scored: reverb and GRU state settle

    def learning_rate_at(self, step: int) -> float:
        return self.learning_rate * self.lr_decay_rate ** (step / self.lr_decay_steps)


RECIPES: dict[str, Recipe] = {
    # Magenta's Train_VST notebook: Adam 3e-4 x0.98 per 10k steps, clip 3, 16 x 4 s, 30k steps.
    "reference": Recipe("reference", 3e-4, 0.98, 10_000, 3.0, 16, 4.0, 1.0, 30_000, 300),
    # ddspkit's default: 2 s examples whose first 0.5 s is synthesized but not scored, so
    # the reverb tail and the GRU state are already under way where the loss starts (short
    # examples without it learn a room that is too loud on long inputs); a higher learning
    # rate halving over the run; about 0.25 s a step on a 2-core laptop CPU.
    "fast": Recipe("fast", 1e-3, 0.5, 4_000, 3.0, 8, 2.0, 0.5, 4_000, 250, 0.5),
    # From a model's weights: the same examples, a learning rate twice as high at first and
    # down to a quarter by the end of a 1,000-step run. Measured (README, "Time to quality"):
    # from the zoo it reaches the held-out distance of 4,000 'fast' steps from random weights
    # in under 1,000 steps; 'fast' from the same start needs 1,250-1,500.
    "finetune": Recipe("finetune", 2e-3, 0.25, 1_000, 3.0, 8, 2.0, 0.5, 1_000, 250, 0.5),
}
DEFAULT_RECIPE = "fast"  # from random weights
FINETUNE_RECIPE = "finetune"  # from a model's weights, unless a recipe is asked for


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
class CheckpointPreview:
    """What a checkpoint heard: the first held-out window and the model's resynthesis of it.

    Both are [T] float32 at 16 kHz (the resynthesis with the learned room); ``validation_loss``
    is the held-out loss at ``step`` (None without held-out audio).
    """

    step: int
    validation_loss: float | None
    target: np.ndarray
    resynthesis: np.ndarray


@dataclass
class TrainResult:
    model_path: Path
    step: int
    validation_loss: float | None
    wall_seconds: float
    start: StartPoint | None = None


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise UserError(f"unknown recipe '{name}' (choose from {', '.join(RECIPES)})") from None


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


HISTORY_FILE = "history.jsonl"  # in the run folder: one JSON row per checkpoint


def read_history(run_dir: Path) -> list[dict]:
    """A run's checkpoint rows (step, train_seconds, train_loss, validation_loss), oldest
    first; [] if none. A line cut short by a kill is skipped."""
    try:
        lines = (Path(run_dir) / HISTORY_FILE).read_text().splitlines()
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


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
    on_step: Callable[[int, int, float], None] | None = None,
    source: str = "",
    on_message: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[CheckpointPreview], None] | None = None,
    start_from: str | None = None,
    start_exclude: tuple[str, ...] = (),
    on_start: Callable[[StartPoint], None] | None = None,
    on_candidate: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Train (or resume training) an instrument on prepared data; write its model file.

    Args:
        data: from :func:`ddspkit.training.data.prepare`.
        name: the instrument's name (model file ``<models folder>/<name>.safetensors``).
        recipe: a :class:`Recipe` or the name of one in :data:`RECIPES`; None: the one the
            run started with when it resumes, else FINETUNE_RECIPE from a model's weights and
            DEFAULT_RECIPE from random weights.
        n_steps: total steps (default: the recipe's). A finished run trains further if raised.
        run_dir: checkpoints and TensorBoard logs (default ``<ddspkit home>/runs/<name>``).
        on_step: called as ``on_step(step, total_steps, loss)`` after every step.
        on_message: called with a one-line note when something unusual happens (a rollback).
        should_stop: polled between steps; True stops as Ctrl-C does (a UI's stop button).
        on_checkpoint: called at each checkpoint with the held-out preview (a UI's players).
        start_from: "scratch", "auto" (the nearest bundled model), a model name or a path
            (see :mod:`ddspkit.training.start`); None: the default (DEFAULT_START) for a new run,
            and whatever a resumed run started from.
        start_exclude: bundled models "auto" must not pick.
        on_start: called with the run's :class:`StartPoint` and :class:`Recipe` once known
            (before any step).
        on_candidate: told which bundled model "auto" scores, as (name, index from 1, count).
    Raises:
        TrainingInterrupted: on Ctrl-C, SIGTERM or ``should_stop``, after saving the
            checkpoint and the model.
        TrainingDiverged: the loss stayed non-finite after MAX_ROLLBACKS rollbacks.
    """
    asked = get_recipe(recipe) if isinstance(recipe, str) else recipe

    def chosen(default: str) -> Recipe:
        """The recipe asked for (else ``default``), with the step options applied."""
        result = asked or get_recipe(default)
        if n_steps is not None:
            result = replace(result, n_steps=n_steps)
        if checkpoint_every is not None:
            result = replace(result, checkpoint_every=checkpoint_every)
        return result

    dist = Distributed.from_env()
    device = _training_device(device, dist)
    run_dir = run_dir or paths.runs_dir() / name
    if model_path is None:
        check_training_name(name, run_dir, restart)
        model_path = user_model_path(name)
    trainer = _Trainer(data, name, chosen(DEFAULT_RECIPE), device, seed, run_dir, model_path,
                       source, dist)
    trainer.on_checkpoint = on_checkpoint
    trainer.prepare_run_folder(restart)
    # A resume keeps the run's own recipe unless one is asked for (which must be the same).
    if not trainer.resume_if_saved(start_from, None if asked else chosen):
        trainer.start_at(start_from or DEFAULT_START, start_exclude, on_candidate)
        if asked is None and trainer.start.model is not None:
            trainer.use_recipe(chosen(FINETUNE_RECIPE))
    if on_start is not None and trainer.dist.is_main:
        on_start(trainer.start, trainer.recipe)
    return trainer.run(on_step, on_message or (lambda message: None), should_stop)


def check_training_name(name: str, run_dir: Path, restart: bool) -> None:
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
    if files and not restart and not (run_dir / "checkpoint.pt").exists():
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
                 seed: int, run_dir: Path, model_path: Path, source: str,
                 dist: Distributed) -> None:
        self.data, self.name, self.recipe, self.device = data, name, recipe, device
        self.seed, self.run_dir, self.model_path, self.source, self.dist = (
            seed, run_dir, model_path, source, dist)
        self.checkpoint_path = run_dir / "checkpoint.pt"
        # lr_scale: halved by each rollback after a divergence, kept across resumes.
        self.meta: dict[str, Any] = {"name": name, "recipe": recipe.name, "seed": seed,
                                     "train_seconds": 0.0, "lr_scale": 1.0, "rollbacks": []}
        self.use_recipe(recipe)
        torch.manual_seed(seed)
        self.instrument = Instrument(ModelConfig()).to(device)
        self.optimizer = torch.optim.Adam(self.instrument.parameters(), lr=recipe.learning_rate)
        self.step = 0
        self.start = StartPoint("scratch")
        self.last_good: tuple[dict, dict, int] | None = None
        self.rollbacks_this_run = 0  # a resume gets MAX_ROLLBACKS more tries
        self.writer = None
        self.on_checkpoint: Callable[[CheckpointPreview], None] | None = None

    def use_recipe(self, recipe: Recipe) -> None:
        """Train with ``recipe``: its example windows are cut (before any step)."""
        self.recipe = recipe
        self.train_examples, self.val_examples = cut_examples(
            self.data.files, recipe.example_seconds, recipe.example_hop_seconds)
        if len(self.train_examples) < recipe.batch_size:
            raise UserError(f"{self.name}: only {len(self.train_examples)} training examples of "
                            f"{recipe.example_seconds:g} s; add audio or use a shorter recipe")
        self.meta["recipe"] = recipe.name

    def prepare_run_folder(self, restart: bool) -> None:
        if self.dist.is_main:
            # A kill -9 mid-save leaves a temporary beside the (whole) previous checkpoint.
            remove_stale_temporaries(self.checkpoint_path)
            remove_stale_temporaries(self.model_path)
            if restart and self.checkpoint_path.exists():
                self.checkpoint_path.unlink()
        if self.dist.enabled:
            torch.distributed.barrier()

    def start_at(self, requested: str, exclude: tuple[str, ...] = (),
                 on_candidate: Callable[[str, int, int], None] | None = None) -> None:
        """A new run: load the starting weights (none from scratch) and record the start."""
        few = self.val_examples if len(self.val_examples) else self.train_examples
        pick = np.unique(np.linspace(0, len(few) - 1, min(AUTO_WINDOWS, len(few))).astype(int))
        windows = Examples(few.file_index[pick], few.start_frame[pick], few.n_frames)

        def score(instrument: Instrument) -> float:
            return validation_loss(instrument, self.data, windows, self.device)

        self.start = resolve_start(requested, score, self.device, exclude, on_candidate)
        if self.start.state is not None:
            self.instrument.load_state_dict(self.start.state)
            self.start.state = None  # the weights live in the instrument now
        self.meta["start"] = self.start.to_dict()

    def resume_if_saved(self, start_from: str | None = None,
                        recipe_named: Callable[[str], Recipe] | None = None) -> bool:
        """Load the checkpoint if there is one (True). ``start_from``, when given, must agree
        with the start the run recorded; with ``recipe_named``, the run's own recipe is taken
        up (by name), else the trainer's must be the same."""
        if not self.checkpoint_path.exists():
            return False
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        saved = json.loads(state["meta"])
        if recipe_named is not None and saved.get("recipe") in RECIPES:
            self.use_recipe(recipe_named(saved["recipe"]))
        if saved.get("recipe") != self.recipe.name or saved.get("seed") != self.seed:
            raise UserError(
                f"{self.checkpoint_path}: this run was started with recipe '{saved.get('recipe')}' "
                f"and seed {saved.get('seed')}; use the same, or --restart to start over")
        self.start = StartPoint.from_dict(saved.get("start"))
        if start_from is not None and not same_start(start_from, self.start):
            raise UserError(
                f"{self.checkpoint_path}: this run started from "
                f"{self.start.model or 'random weights'} (--from {self.start.requested}), not "
                f"--from {start_from}; use the same, or --restart to start over")
        self.meta["start"] = self.start.to_dict()
        self.instrument.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.meta["train_seconds"] = float(saved.get("train_seconds", 0.0))
        self.meta["lr_scale"] = float(saved.get("lr_scale", 1.0))
        self.meta["rollbacks"] = list(saved.get("rollbacks", []))
        return True

    # -- the loop -----------------------------------------------------------------------

    def run(self, on_step, on_message, should_stop) -> TrainResult:
        dist, recipe = self.dist, self.recipe
        self.model = self.instrument
        if dist.enabled:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.instrument, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if dist.is_main:
            from torch.utils.tensorboard import SummaryWriter  # slow import; only when training

            self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=self.step)
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
                        on_message(self._roll_back())
                        recent = []
                        continue
                    recent = (recent + [loss_value])[-recipe.checkpoint_every:]
                    if on_step and dist.is_main:
                        on_step(self.step, recipe.n_steps, loss_value)
                    if self.step % recipe.checkpoint_every == 0 and self.step < recipe.n_steps:
                        val_loss = self._checkpoint(float(np.mean(recent)))
                        self._remember_good_state()
                    if stop.requested or (should_stop is not None and should_stop()):
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
                f"saved in {self.run_dir}: run the same command to try again from there, or add "
                "--restart (check the data for loud clicks or digital noise)")
        return (f"the loss became {failure['loss']} at step {failure['step']}: back to step "
                f"{good_step} with the learning rate halved (x{self.meta['lr_scale']:g})")

    # -- files ----------------------------------------------------------------------------

    def _save_checkpoint(self) -> None:
        state = {"model": self.instrument.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": self.step, "meta": json.dumps(self.meta)}
        atomic_write(self.checkpoint_path, lambda tmp: torch.save(state, tmp))

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
        with (self.run_dir / HISTORY_FILE).open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        if val is not None:
            self.writer.add_scalar("loss/validation", val, self.step)
        preview = _preview(self.writer, self.instrument, self.data, self.val_examples, self.device,
                           self.step)
        self._save_checkpoint()
        if preview is not None and self.on_checkpoint is not None:
            self.on_checkpoint(CheckpointPreview(self.step, val, *preview))
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
        info = ModelInfo(self.name, self.instrument.config, self.data.statistics, provenance)
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
