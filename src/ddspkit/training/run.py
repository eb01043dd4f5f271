"""A training run's folder: where a named run lives and what it holds.

``<ddspkit home>/runs/<name>/`` (:meth:`RunFolder.named`) holds

- ``checkpoint.pt``: the resumable state, written atomically at each checkpoint: weights,
  optimizer, step, and a JSON ``meta`` (recipe, seed, start, training seconds, learning-rate
  scale, rollbacks). A run with one continues from it (:attr:`RunFolder.can_resume`).
- ``history.jsonl``: one JSON row per checkpoint (step, train_seconds, train_loss,
  validation_loss), appended; a start over keeps the earlier rows.
- ``tensorboard/``: TensorBoard logs; ``notebook/``: the notebook's figures and sounds.

Every face finds a run through this object: the layout is spelled here only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddspkit import paths
from ddspkit.audio import atomic_write, remove_stale_temporaries

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.jsonl"
TENSORBOARD_FOLDER = "tensorboard"
NOTEBOOK_FOLDER = "notebook"


@dataclass(frozen=True)
class SavedRun:
    """What a run's checkpoint recorded about how the run was started (its ``meta``)."""

    checkpoint: Path
    meta: dict[str, Any]

    @property
    def recipe(self) -> str | None:
        return self.meta.get("recipe")

    @property
    def seed(self) -> int | None:
        return self.meta.get("seed")


@dataclass(frozen=True)
class RunFolder:
    """One training run's folder (see the module's docstring)."""

    path: Path

    @classmethod
    def named(cls, name: str) -> RunFolder:
        """The run folder of the instrument ``name``: ``<ddspkit home>/runs/<name>``."""
        return cls(paths.run_dir(name))

    # What a run folder holds, by name: checkpoint, history_file, tensorboard, notebook.
    checkpoint = property(lambda self: self.path / CHECKPOINT_FILE)
    history_file = property(lambda self: self.path / HISTORY_FILE)
    tensorboard = property(lambda self: self.path / TENSORBOARD_FOLDER)
    notebook = property(lambda self: self.path / NOTEBOOK_FOLDER)

    @property
    def can_resume(self) -> bool:
        """Whether a saved checkpoint is there to continue from."""
        return self.checkpoint.exists()

    def resumes(self, restart: bool) -> bool:
        """Whether training this run continues it: a checkpoint is saved and no start over
        (``restart``) is asked for."""
        return self.can_resume and not restart

    def history(self) -> list[dict]:
        """The checkpoint rows (step, train_seconds, train_loss, validation_loss), oldest
        first; [] if none. A line cut short by a kill is skipped."""
        try:
            lines = self.history_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        return rows

    def append_history(self, row: dict) -> None:
        with self.history_file.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    # -- the checkpoint (torch is imported only here: the paths and the history need none) --

    def load_checkpoint(self, device: Any = "cpu") -> dict[str, Any]:
        """The saved state: ``model``, ``optimizer`` (state dicts on ``device``), ``step`` and
        ``meta`` (JSON text). Tensors only: no pickled objects are loaded."""
        import torch

        return torch.load(self.checkpoint, map_location=device, weights_only=True)

    def saved(self) -> SavedRun | None:
        """What the checkpoint recorded of the run's start, or None without a checkpoint."""
        if not self.can_resume:
            return None
        return SavedRun(self.checkpoint, json.loads(self.load_checkpoint()["meta"]))

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write the state atomically (a temporary file, then a rename)."""
        import torch

        atomic_write(self.checkpoint, lambda tmp: torch.save(state, tmp))

    def remove_stale_temporaries(self) -> None:
        """A kill -9 mid-save leaves a temporary beside the (whole) previous checkpoint."""
        remove_stale_temporaries(self.checkpoint)

    def discard_checkpoint(self) -> None:
        """Start over: the next training of this run begins anew (the history stays)."""
        self.checkpoint.unlink(missing_ok=True)
