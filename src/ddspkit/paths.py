"""Where ddspkit keeps user data: models, training runs and the feature cache."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    """``$DDSPKIT_HOME``, else the platform's per-user data folder (e.g. ~/.local/share/ddspkit)."""
    env = os.environ.get("DDSPKIT_HOME")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("ddspkit"))


def models_dir() -> Path:
    return home() / "models"


def runs_dir() -> Path:
    return home() / "runs"


def run_dir(name: str) -> Path:
    """The training run folder of the instrument ``name`` (see ddspkit.training.run)."""
    return runs_dir() / name


def recordings_dir() -> Path:
    """Where the studio keeps the recordings of each instrument, one folder per name."""
    return home() / "recordings"


def cache_dir() -> Path:
    return home() / "cache" / "features"
