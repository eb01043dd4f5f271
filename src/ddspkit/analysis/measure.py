"""A rendering's or a recording's expression, measured note by note and gathered per aspect.

What ``compare``, ``evaluate`` and the studio show next to a model's expression profile
(:mod:`ddspkit.analysis.profile`): the same per-note measurements the profile was learned
from (:func:`ddspkit.analysis.expression.measure_notes`, with the audio), gathered the way
:func:`ddspkit.analysis.profile.learn_profile` gathers them, so that a rendering that plays
like the profile measures like it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ddspkit.analysis.profile import MIN_VIBRATO_CENTS

# The aspects shown beside a profile (scoop and glide are learned too, but read poorly from a
# rendering of a score: a score's slurs are not a player's).
SHOWN_ASPECTS = ("vibrato_rate_hz", "vibrato_depth_cents", "vibrato_onset_s", "attack_s", "release_s")
# How each aspect of a profile is read out: (name, unit, factor from the stored unit, decimals)
DISPLAY = {
    "vibrato_rate_hz": ("vibrato rate", "Hz", 1.0, 2),
    "vibrato_depth_cents": ("vibrato depth", "cents", 1.0, 1),
    "vibrato_onset_s": ("vibrato onset", "s", 1.0, 2),
    "attack_s": ("attack", "ms", 1000.0, 0),
    "release_s": ("release", "ms", 1000.0, 0),
    "scoop_cents": ("scoop", "cents", 1.0, 0),
    "glide_s": ("glide", "ms", 1000.0, 0),
}
MIN_AUDIO_S = 0.1  # shorter audio holds no note to measure


@dataclass
class MeasuredExpression:
    """Per-note values of each of :data:`SHOWN_ASPECTS`, from one or more renderings or recordings.

    values: aspect -> [n] the finite per-note values in the aspect's unit (Hz, cents, s); the
        vibrato aspects only from notes with a vibrato (depth of MIN_VIBRATO_CENTS or more),
        as a profile is learned.
    n_notes: notes measured; n_long: of those, notes long enough to show a vibrato (their depth
        was measured); n_vibrato: of those, notes with a vibrato.
    """

    values: dict[str, np.ndarray] = field(
        default_factory=lambda: {name: np.zeros(0) for name in SHOWN_ASPECTS})
    n_notes: int = 0
    n_long: int = 0
    n_vibrato: int = 0

    @property
    def vibrato_share(self) -> float:
        """The share of long notes that carry a vibrato (NaN with no long note)."""
        return self.n_vibrato / self.n_long if self.n_long else float("nan")

    def median(self, aspect: str) -> float:
        """The median of ``aspect`` over the notes that show it (NaN if none does)."""
        values = self.values[aspect]
        return float(np.median(values)) if len(values) else float("nan")

    def count(self, aspect: str) -> int:
        """How many notes show ``aspect``."""
        return len(self.values[aspect])


def gather(notes: Sequence) -> MeasuredExpression:
    """Per-note measurements (:class:`ddspkit.analysis.expression.NoteExpression`, NaN where a
    note cannot show an aspect) gathered per aspect, as
    :func:`ddspkit.analysis.profile.learn_profile` reads them."""
    def column(name: str) -> np.ndarray:
        return np.array([getattr(n, name) for n in notes], np.float64)

    depth = column("vibrato_depth_cents")
    long = np.isfinite(depth)
    vibrant = long & (depth >= MIN_VIBRATO_CENTS)
    values = {}
    for name in SHOWN_ASPECTS:
        value = column(name)
        if name.startswith("vibrato"):
            value = np.where(vibrant, value, np.nan)
        values[name] = value[np.isfinite(value)]
    return MeasuredExpression(values, len(notes), int(long.sum()), int(vibrant.sum()))


def merge(measured: Sequence[MeasuredExpression]) -> MeasuredExpression:
    """Several measurements (one per file) as one."""
    if not measured:
        return MeasuredExpression()
    return MeasuredExpression({name: np.concatenate([m.values[name] for m in measured])
                               for name in SHOWN_ASPECTS},
                              sum(m.n_notes for m in measured), sum(m.n_long for m in measured),
                              sum(m.n_vibrato for m in measured))


def measure_expression(audio_16k: np.ndarray, notes: Sequence | None = None) -> MeasuredExpression:
    """The expression of [T] mono audio at 16 kHz, note by note.

    ``notes``: the score's notes (objects with ``pitch``, ``start_s`` and ``end_s``, on the
    audio's timeline; one line: notes that sound together cannot be told apart by pitch), or
    None to find the notes from the pitch and power (a recording without a score), as a
    profile is learned.
    """
    from ddspkit.analysis.expression import measure_notes, segment_notes
    from ddspkit.analysis.features import extract_features
    from ddspkit.config import SAMPLE_RATE_HZ

    audio_16k = np.nan_to_num(np.asarray(audio_16k, np.float32))
    if len(audio_16k) < MIN_AUDIO_S * SAMPLE_RATE_HZ:
        return MeasuredExpression()
    features = extract_features(audio_16k, sharpen=False)
    if notes is None:
        spans = segment_notes(features.f0_hz, features.power_db, features.voiced)
    else:
        end_s = len(audio_16k) / SAMPLE_RATE_HZ
        spans = sorted((n for n in notes if n.start_s < end_s), key=lambda n: n.start_s)
    if not spans:
        return MeasuredExpression()
    return gather(measure_notes(features.f0_hz, features.power_db, features.voiced, spans,
                                audio_16k=audio_16k))
