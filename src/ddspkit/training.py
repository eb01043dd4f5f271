"""Training: recipes, a resumable loop with atomic checkpoints, TensorBoard logs.

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

from ddspkit import __version__, paths
from ddspkit.audio import atomic_write, remove_stale_temporaries
from ddspkit.config import SAMPLE_RATE_HZ, ModelConfig
from ddspkit.dataset import Examples, PreparedDataset, batch, cut_examples
from ddspkit.errors import UserError
from ddspkit.losses import multiscale_spectral_loss
from ddspkit.model import Instrument
from ddspkit.modelfile import ModelInfo, save_model, user_model_path


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
}
DEFAULT_RECIPE = "fast"


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


def _save_checkpoint(path: Path, instrument: Instrument, optimizer: torch.optim.Optimizer,
                     step: int, meta: dict[str, Any]) -> None:
    state = {"model": instrument.state_dict(), "optimizer": optimizer.state_dict(),
             "step": step, "meta": json.dumps(meta)}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


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


def train(
    data: PreparedDataset,
    name: str,
    recipe: Recipe | str = DEFAULT_RECIPE,
    n_steps: int | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    restart: bool = False,
    run_dir: Path | None = None,
    model_path: Path | None = None,
    checkpoint_every: int | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
    source: str = "",
) -> TrainResult:
    """Train (or resume training) an instrument on prepared data; write its model file.

    Args:
        data: from :func:`ddspkit.dataset.prepare`.
        name: the instrument's name (model file ``<models folder>/<name>.safetensors``).
        recipe: a :class:`Recipe` or the name of one in :data:`RECIPES`.
        n_steps: total steps (default: the recipe's). A finished run trains further if raised.
        run_dir: checkpoints and TensorBoard logs (default ``<ddspkit home>/runs/<name>``).
        on_step: called as ``on_step(step, total_steps, loss)`` after every step.
    Raises:
        TrainingInterrupted: on Ctrl-C, after saving the checkpoint and the model.
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    if n_steps is not None:
        recipe = replace(recipe, n_steps=n_steps)
    if checkpoint_every is not None:
        recipe = replace(recipe, checkpoint_every=checkpoint_every)
    dist = Distributed.from_env()
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
    run_dir = run_dir or paths.runs_dir() / name
    model_path = model_path or user_model_path(name)
    checkpoint_path = run_dir / "checkpoint.pt"
    if dist.is_main:
        # A kill -9 mid-save leaves a temporary beside the (whole) previous checkpoint.
        remove_stale_temporaries(checkpoint_path)
        remove_stale_temporaries(model_path)
        if restart and checkpoint_path.exists():
            checkpoint_path.unlink()
    if dist.enabled:
        torch.distributed.barrier()

    train_examples, val_examples = cut_examples(
        data.files, recipe.example_seconds, recipe.example_hop_seconds
    )
    if len(train_examples) < recipe.batch_size:
        raise UserError(f"{name}: only {len(train_examples)} training examples of "
                        f"{recipe.example_seconds:g} s; add audio or use a shorter recipe")

    torch.manual_seed(seed)
    instrument = Instrument(ModelConfig()).to(device)
    optimizer = torch.optim.Adam(instrument.parameters(), lr=recipe.learning_rate)
    step = 0
    meta: dict[str, Any] = {"name": name, "recipe": recipe.name, "seed": seed,
                            "train_seconds": 0.0}
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        saved = json.loads(state["meta"])
        if saved.get("recipe") != recipe.name or saved.get("seed") != seed:
            raise UserError(
                f"{checkpoint_path}: this run was started with recipe '{saved.get('recipe')}' "
                f"and seed {saved.get('seed')}; use the same, or --restart to start over")
        instrument.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        meta["train_seconds"] = float(saved.get("train_seconds", 0.0))

    model = instrument
    if dist.enabled:
        model = torch.nn.parallel.DistributedDataParallel(
            instrument, device_ids=[device.index] if device.type == "cuda" else None)
    writer = None
    if dist.is_main:
        from torch.utils.tensorboard import SummaryWriter  # slow import; only when training

        writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=step)
    wall_start = time.perf_counter()
    seconds_before = meta["train_seconds"]
    history_path = run_dir / "history.jsonl"
    instrument.train()

    def log_history(at_step: int, train_loss: float, val: float | None) -> None:
        # Training seconds add up across resumes: loss against wall-clock, per run.
        meta["train_seconds"] = seconds_before + time.perf_counter() - wall_start
        if not dist.is_main:
            return
        row = {"step": at_step, "train_seconds": round(meta["train_seconds"], 2),
               "train_loss": round(train_loss, 5),
               "validation_loss": None if val is None else round(val, 5)}
        with history_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def finish(final_step: int, val_loss: float | None) -> Path:
        meta["train_seconds"] = seconds_before + time.perf_counter() - wall_start
        checksums = [weights_checksum(instrument)]
        if dist.enabled:
            checksums = [None] * dist.world_size
            torch.distributed.all_gather_object(checksums, weights_checksum(instrument))
            if len(set(checksums)) != 1:
                raise RuntimeError(f"data-parallel ranks diverged: weight checksums {checksums}")
        if not dist.is_main:
            return model_path
        _save_checkpoint(checkpoint_path, instrument, optimizer, final_step, meta)
        provenance = {
            "ddspkit_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": source,
            "recipe": asdict(recipe),
            "steps": final_step,
            "train_seconds": round(meta["train_seconds"], 1),
            "seed": seed,
            "validation_loss": val_loss,
            "device": str(device),
            "torch_version": torch.__version__,
            "platform": platform.platform(),
            "data": data.summary.to_dict(),
            "distributed": {"world_size": dist.world_size, "weight_checksums": checksums},
        }
        info = ModelInfo(name, instrument.config, data.statistics, provenance)
        return save_model(model_path, instrument, info)

    def checkpoint(at_step: int, train_loss: float) -> float | None:
        if not dist.is_main:  # one process evaluates and writes; the others train on
            return None
        val = validation_loss(instrument, data, val_examples, device)
        log_history(at_step, train_loss, val)
        if val is not None:
            writer.add_scalar("loss/validation", val, at_step)
        _preview(writer, instrument, data, val_examples, device, at_step)
        _save_checkpoint(checkpoint_path, instrument, optimizer, at_step, meta)
        return val

    val_loss = None
    recent: list[float] = []
    warmup = int(recipe.warmup_seconds * SAMPLE_RATE_HZ)
    # Under torchrun the launcher relays signals to every rank, which must stop together:
    # there a Ctrl-C interrupts at once, as before.
    stop = GracefulStop(enabled=not dist.enabled)
    try:
        with stop:
            while step < recipe.n_steps:
                lr = recipe.learning_rate_at(step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                # Every rank draws the same global batch order and trains on its own slice.
                idx = batch_indices(step, recipe.batch_size * dist.world_size, len(train_examples),
                                    seed)[dist.rank * recipe.batch_size : (dist.rank + 1) * recipe.batch_size]
                audio, f0, power = _to_device(batch(data.files, train_examples, idx), device)
                generator = torch.Generator(device=device).manual_seed(
                    seed * 1_000_003 + step * 1024 + dist.rank)
                predicted = model(f0, power, audio.shape[-1], generator=generator, preroll_frames=0)
                loss = multiscale_spectral_loss(predicted[:, warmup:], audio[:, warmup:])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(instrument.parameters(), recipe.grad_clip_norm)
                optimizer.step()
                step += 1
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise RuntimeError(f"loss became {loss_value} at step {step}")
                recent = (recent + [loss_value])[-recipe.checkpoint_every:]
                if writer is not None and (step % 10 == 0 or step == 1):
                    writer.add_scalar("loss/train", loss_value, step)
                    writer.add_scalar("learning_rate", lr, step)
                    writer.add_scalar("grad_norm", float(grad_norm), step)
                if on_step and dist.is_main:
                    on_step(step, recipe.n_steps, loss_value)
                if step % recipe.checkpoint_every == 0 and step < recipe.n_steps:
                    val_loss = checkpoint(step, float(np.mean(recent)))
                if stop.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        path = finish(step, val_loss) if not dist.enabled else model_path
        if dist.enabled and dist.is_main:  # peers may be gone: save without gathering
            _save_checkpoint(checkpoint_path, instrument, optimizer, step, meta)
        if writer is not None:
            writer.close()
        raise TrainingInterrupted(step, path) from None
    val_loss = checkpoint(step, float(np.mean(recent)) if recent else float("nan"))
    path = finish(step, val_loss)
    if writer is not None:
        writer.close()
    if dist.enabled:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return TrainResult(path, step, val_loss, time.perf_counter() - wall_start)


@torch.no_grad()
def _preview(writer, instrument: Instrument, data: PreparedDataset, examples: Examples,
             device: torch.device, step: int) -> None:
    """Log the first held-out window and its resynthesis as audio to TensorBoard."""
    if len(examples) == 0:
        return
    audio, f0, power = _to_device(batch(data.files, examples, np.array([0])), device)
    instrument.eval()
    resynth = instrument.render(f0[0], power[0], audio.shape[-1])
    instrument.train()
    peak = max(float(resynth.abs().max()), 1.0)
    writer.add_audio("preview/resynthesis", (resynth / peak).cpu(), step, SAMPLE_RATE_HZ)
    if not getattr(writer, "target_logged", False):  # the target once per session is enough
        writer.add_audio("preview/target", audio[0].cpu(), step, SAMPLE_RATE_HZ)
        writer.target_logged = True
