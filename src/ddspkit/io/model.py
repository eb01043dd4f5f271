"""What a model is once read, in every format: its info and its instrument.

:class:`ModelInfo` is a model's metadata (name, config, dataset statistics, provenance, where
it came from); :class:`Model` is the instrument with its info: the one type that every loader
returns (:func:`ddspkit.io.models.load_model`) and that rendering, streaming and export take.
The Python API's :class:`ddspkit.api.Model` is this type with the user's methods on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddspkit.analysis.profile import ExpressionProfile
from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.config import ModelConfig
from ddspkit.model import Instrument


@dataclass
class ModelInfo:
    name: str
    config: ModelConfig
    statistics: DatasetStatistics | None  # None: a model without data statistics
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    source: str = "file"  # "user", "bundled" or "file"
    # how the player of its training recordings shapes notes; None: not learned (old files,
    # DDSP-VST imports), and "learned" expression plays the literature's
    expression_profile: ExpressionProfile | None = None

    @property
    def data_recipe(self) -> dict[str, Any]:
        """How its training data was made, where ddspkit made it (scripts/make_instrument_data.py:
        instrument, GM program, soundfont, pieces...); {} otherwise."""
        data = self.provenance.get("data")
        recipe = data.get("recipe") if isinstance(data, dict) else None
        return recipe if isinstance(recipe, dict) else {}


@dataclass(eq=False, repr=False)  # compared and hashed by identity, as the instrument is
class Model:
    """A trained instrument and its info, as loaded from any format."""

    instrument: Instrument
    info: ModelInfo

    @property
    def name(self) -> str:
        return self.info.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, path={str(self.info.path)!r})"
