"""A player's expression as distributions: what ``render`` draws each note's shape from.

A profile holds, for each aspect of how a player shapes a note (vibrato rate, depth and
onset, attack and release times, a scoop into the note's pitch, the glide between slurred
notes), a distribution given by its quantiles, learned from the per-note measurements of the
training recordings (:mod:`ddspkit.analysis.expression`) where they hold enough notes, and
otherwise taken from the literature (see :data:`LITERATURE`); each aspect says which. A note
draws one value per aspect with a generator seeded by its voice and its start, so no two
notes are alike and a render is reproducible. Stored in a model file's JSON metadata.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from ddspkit.config import HOP_SAMPLES

if TYPE_CHECKING:  # both import torch: loaded when a profile is learned, not when one is read
    from ddspkit.analysis.expression import NoteExpression
    from ddspkit.analysis.features import Features

QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
MIN_NOTES = 20  # fewer notes showing an aspect than this: the literature's values instead


@dataclass
class Distribution:
    """One aspect's values: quantiles at :data:`QUANTILE_LEVELS`, in the aspect's unit."""

    quantiles: list[float]
    learned: bool = False  # from the training recordings (else the literature's prior)
    n_notes: int = 0  # notes it was learned from

    def draw(self, uniform: float) -> float:
        """The value at cumulative probability ``uniform`` in [0, 1] (linear between quantiles,
        held beyond the outer ones)."""
        return float(np.interp(uniform, QUANTILE_LEVELS, self.quantiles))

    @property
    def median(self) -> float:
        return float(self.quantiles[len(self.quantiles) // 2])

    @classmethod
    def of(cls, values: np.ndarray, prior: Distribution) -> Distribution:
        """Learned from ``values`` (NaN ignored) when there are enough, else ``prior``."""
        values = np.asarray(values, np.float64)
        values = values[np.isfinite(values)]
        if len(values) < MIN_NOTES:
            return Distribution(list(prior.quantiles), False, int(len(values)))
        return Distribution([float(q) for q in np.quantile(values, QUANTILE_LEVELS)], True, int(len(values)))


# Priors for bowed strings and winds where the data is thin (Timmers & Desain 2000, citing
# Seashore, Sundberg and Meyer: vibrato 5.5-8 Hz, 0.2-0.35 semitone extent for strings;
# listeners prefer about 6 Hz). Times in seconds, depths and scoops in cents.
LITERATURE: dict[str, Distribution] = {
    "vibrato_rate_hz": Distribution([5.5, 5.9, 6.2, 6.6, 7.5]),
    "vibrato_depth_cents": Distribution([12.0, 18.0, 25.0, 30.0, 35.0]),
    "vibrato_onset_s": Distribution([0.1, 0.18, 0.25, 0.35, 0.5]),
    "attack_s": Distribution([0.02, 0.035, 0.05, 0.07, 0.1]),
    "release_s": Distribution([0.08, 0.12, 0.18, 0.25, 0.35]),
    "scoop_cents": Distribution([-30.0, -15.0, -5.0, 0.0, 5.0]),
    "glide_s": Distribution([0.02, 0.035, 0.05, 0.07, 0.1]),
}


@dataclass
class ExpressionProfile:
    """How a player shapes notes: one :class:`Distribution` per aspect, and the share of long
    notes that carry a vibrato at all."""

    vibrato_rate_hz: Distribution = field(default_factory=lambda: _prior("vibrato_rate_hz"))
    vibrato_depth_cents: Distribution = field(default_factory=lambda: _prior("vibrato_depth_cents"))
    vibrato_onset_s: Distribution = field(default_factory=lambda: _prior("vibrato_onset_s"))
    attack_s: Distribution = field(default_factory=lambda: _prior("attack_s"))
    release_s: Distribution = field(default_factory=lambda: _prior("release_s"))
    scoop_cents: Distribution = field(default_factory=lambda: _prior("scoop_cents"))
    glide_s: Distribution = field(default_factory=lambda: _prior("glide_s"))
    vibrato_share: float = 0.8  # long notes with a vibrato (the prior: most, for strings)
    source: str = "literature"

    ASPECTS = ("vibrato_rate_hz", "vibrato_depth_cents", "vibrato_onset_s", "attack_s", "release_s",
               "scoop_cents", "glide_s")

    @property
    def learned_aspects(self) -> list[str]:
        return [name for name in self.ASPECTS if getattr(self, name).learned]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"vibrato_share": self.vibrato_share, "source": self.source}
        for name in self.ASPECTS:
            d = getattr(self, name)
            out[name] = {"quantiles": d.quantiles, "learned": d.learned, "n_notes": d.n_notes}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExpressionProfile:
        """From :meth:`to_dict`'s form; a missing aspect takes the literature's prior.

        Raises ValueError on a malformed entry (the caller names the file)."""
        if not isinstance(data, dict) or not any(name in data for name in cls.ASPECTS):
            raise ValueError("expression profile: a JSON object of aspects is expected")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for name in cls.ASPECTS:
            if name in data:
                entry = data[name]
                quantiles = [float(q) for q in entry["quantiles"]]
                if len(quantiles) != len(QUANTILE_LEVELS) or not np.all(np.isfinite(quantiles)):
                    raise ValueError(f"expression profile: '{name}' needs {len(QUANTILE_LEVELS)} "
                                     "finite quantiles")
                kwargs[name] = Distribution(sorted(quantiles), bool(entry.get("learned", False)),
                                            int(entry.get("n_notes", 0)))
        for name in ("vibrato_share", "source"):
            if name in data and name in known:
                kwargs[name] = type(getattr(cls(), name))(data[name])
        return cls(**kwargs)


def _prior(name: str) -> Distribution:
    prior = LITERATURE[name]
    return Distribution(list(prior.quantiles))


MIN_VIBRATO_CENTS = 5.0  # a note whose pitch moves less than this has no vibrato


def learn_profile(notes: list[Any], source: str = "training recordings") -> ExpressionProfile:
    """A profile from per-note measurements (objects with the attributes of
    :class:`ddspkit.analysis.expression.NoteExpression`; NaN where a note cannot show an
    aspect). Vibrato rate and onset come from the notes that carry a vibrato."""
    def values(name: str) -> np.ndarray:
        return np.array([getattr(n, name) for n in notes], np.float64)

    depth = values("vibrato_depth_cents")
    measured = np.isfinite(depth)
    vibrant = measured & (depth >= MIN_VIBRATO_CENTS)
    share = float(vibrant.sum() / measured.sum()) if measured.sum() >= MIN_NOTES else 0.8
    profile = ExpressionProfile(vibrato_share=share, source=source)
    for name in ExpressionProfile.ASPECTS:
        column = values(name)
        if name.startswith("vibrato"):
            column = np.where(vibrant, column, np.nan)
        setattr(profile, name, Distribution.of(column, LITERATURE[name]))
    return profile


def measure_recording(audio_16k: np.ndarray, features: Features | None = None
                      ) -> list[NoteExpression]:
    """Per-note expression of one recording of one instrument, no score: notes found from the
    pitch and power alone (:func:`ddspkit.analysis.expression.segment_notes`) and measured with
    the audio (:func:`ddspkit.analysis.expression.measure_notes`).

    Args:
        audio_16k: [T] mono audio at 16 kHz.
        features: its :class:`~ddspkit.analysis.features.Features` with the tracker's own pitch,
            as ``extract_features(audio_16k, sharpen=False)`` gives them (sharpened note
            changes would read as steps), T // 320 + 1 frames; extracted when None (the pitch
            tracker is most of the cost: pass them where they are at hand).
    Returns:
        One :class:`~ddspkit.analysis.expression.NoteExpression` per note found.
    Raises:
        ValueError: features of another length than the audio's.
    """
    from ddspkit.analysis.expression import measure_notes, segment_notes
    from ddspkit.analysis.features import extract_features

    if features is None:
        features = extract_features(audio_16k, sharpen=False)
    elif features.n_frames != len(audio_16k) // HOP_SAMPLES + 1:
        raise ValueError(f"features of {features.n_frames} frames for {len(audio_16k)} samples "
                         f"(expected {len(audio_16k) // HOP_SAMPLES + 1})")
    f0_hz, power_db, voiced = features.f0_hz, features.power_db, features.voiced
    notes = segment_notes(f0_hz, power_db, voiced)
    return measure_notes(f0_hz, power_db, voiced, notes, audio_16k=audio_16k)


def profile_from_recordings(recordings: Iterable[np.ndarray], source: str = "training recordings",
                            features: Iterable[Features | None] | None = None) -> ExpressionProfile:
    """Learn a profile from recordings of one instrument: ``recordings`` yields [T] mono
    audio at 16 kHz; ``features``, when given, yields for each its features with the tracker's
    own pitch or None (see :func:`measure_recording`)."""
    recordings = list(recordings)
    given = [None] * len(recordings) if features is None else list(features)
    if len(given) != len(recordings):
        raise ValueError(f"{len(given)} features for {len(recordings)} recordings")
    measured = []
    for audio_16k, recording_features in zip(recordings, given, strict=True):
        measured += measure_recording(audio_16k, recording_features)
    return learn_profile(measured, source)
