"""Dataset statistics: pitch and power on note-on frames, used by auto-adjust and export."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from ddspkit.analysis.features import Features
from ddspkit.config import FRAME_RATE_HZ
from ddspkit.dsp.core import hz_to_midi, midi_to_hz

N_QUANTILES = 101  # 0 %, 1 %, ..., 100 %


def detect_notes(features: Features, smooth_frames: int = 5) -> tuple[np.ndarray, float]:
    """Note-on frames, after ddsp's ``detect_notes``.

    A frame is "on" when its smoothed squared confidence, weighted by how loud it is relative
    to the clip's mean power, passes a threshold:
    ``smooth(conf^2) * (power_db + 80) / ((mean_power_db + 80) * 0.7^2) >= 1``.

    Returns:
        (mask [F] bool, share of frames that are on).
    """
    if features.n_frames == 0:
        return np.zeros(0, dtype=bool), 0.0
    kernel = np.ones(smooth_frames) / smooth_frames
    conf2 = np.convolve(features.f0_confidence.astype(np.float64) ** 2, kernel, mode="same")
    level = features.power_db.astype(np.float64) + 80.0
    mean_level = max(float(level.mean()), 1e-3)
    mask = conf2 * level / (mean_level * 0.7**2) >= 1.0
    return mask, float(mask.mean())


@dataclass
class DatasetStatistics:
    """What a model knows of its training data's range.

    Pitches are MIDI notes (fractional), powers dB re full scale; quantiles are at 0..100 %
    in steps of 1 %, over note-on frames. The four ``mean_*_note`` values are the plugin's
    "model range" box: per-example minima and maxima over note-on frames, averaged.
    """

    mean_pitch_midi: float
    std_pitch_midi: float
    pitch_quantiles_midi: list[float]
    mean_power_db: float
    std_power_db: float
    power_quantiles_db: list[float]
    mean_min_pitch_note_hz: float
    mean_max_pitch_note_hz: float
    mean_min_power_note: float
    mean_max_power_note: float
    note_on_share: float = 0.0
    n_note_frames: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def power_quantile_db(self, level: float) -> float:
        """Note-on power (dB) at quantile ``level`` (0..1), between the stored quantiles."""
        quantiles = np.asarray(self.power_quantiles_db, np.float64)
        return float(np.interp(level, np.linspace(0.0, 1.0, len(quantiles)), quantiles))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetStatistics:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_range_box(
        cls, min_pitch_hz: float, max_pitch_hz: float, min_power_db: float, max_power_db: float
    ) -> DatasetStatistics:
        """Statistics guessed from a DDSP-VST range box (models that carry nothing else)."""
        lo, hi = float(hz_to_midi(min_pitch_hz)), float(hz_to_midi(max_pitch_hz))
        pitch_q = np.linspace(lo, hi, N_QUANTILES).tolist()
        power_q = np.linspace(min_power_db, max_power_db, N_QUANTILES).tolist()
        return cls((lo + hi) / 2, (hi - lo) / 4, pitch_q, (min_power_db + max_power_db) / 2,
                   (max_power_db - min_power_db) / 4, power_q, min_pitch_hz, max_pitch_hz,
                   min_power_db, max_power_db)


def compute_statistics(
    features: list[Features], example_seconds: float = 4.0
) -> DatasetStatistics:
    """Statistics over note-on frames of every clip; range box over ``example_seconds`` windows.

    Raises:
        ValueError: no note-on frame anywhere.
    """
    pitches, powers, box = [], [], []
    total_frames, window = 0, int(example_seconds * FRAME_RATE_HZ)
    for feats in features:
        mask, _ = detect_notes(feats)
        total_frames += feats.n_frames
        midi = hz_to_midi(feats.f0_hz)
        pitches.append(midi[mask])
        powers.append(feats.power_db[mask])
        for start in range(0, max(feats.n_frames - window + 1, 1), window):
            on = mask[start : start + window]
            if on.sum() >= 5:
                seg_p, seg_l = midi[start : start + window][on], feats.power_db[start : start + window][on]
                box.append((seg_p.min(), seg_p.max(), seg_l.min(), seg_l.max()))
    pitch = np.concatenate(pitches) if pitches else np.zeros(0)
    power = np.concatenate(powers) if powers else np.zeros(0)
    if pitch.size == 0:
        raise ValueError("no note-on frames: the audio has no confidently pitched notes")
    q = np.linspace(0, 1, N_QUANTILES)
    box_arr = np.asarray(box, dtype=np.float64) if box else np.array(
        [[pitch.min(), pitch.max(), power.min(), power.max()]]
    )
    return DatasetStatistics(
        mean_pitch_midi=float(pitch.mean()),
        std_pitch_midi=float(pitch.std()),
        pitch_quantiles_midi=np.quantile(pitch, q).tolist(),
        mean_power_db=float(power.mean()),
        std_power_db=float(power.std()),
        power_quantiles_db=np.quantile(power, q).tolist(),
        mean_min_pitch_note_hz=float(midi_to_hz(box_arr[:, 0].mean())),
        mean_max_pitch_note_hz=float(midi_to_hz(box_arr[:, 1].mean())),
        mean_min_power_note=float(box_arr[:, 2].mean()),
        mean_max_power_note=float(box_arr[:, 3].mean()),
        note_on_share=float(pitch.size / max(total_frames, 1)),
        n_note_frames=int(pitch.size),
    )


def quantile_map(values: np.ndarray, source_q: np.ndarray, target_q: np.ndarray) -> np.ndarray:
    """Map values through source quantiles onto target quantiles (monotonic, piecewise linear).

    Values outside the source range are carried by the end segments' offsets, so the map is
    continuous and keeps the dynamics' shape.
    """
    source_q = np.maximum.accumulate(np.asarray(source_q, dtype=np.float64))
    target_q = np.asarray(target_q, dtype=np.float64)
    # Collapse repeated source quantiles (np.interp needs increasing x).
    keep = np.concatenate([[True], np.diff(source_q) > 1e-9])
    source_q, target_q = source_q[keep], target_q[keep]
    mapped = np.interp(values, source_q, target_q)
    mapped = np.where(values < source_q[0], values - source_q[0] + target_q[0], mapped)
    return np.where(values > source_q[-1], values - source_q[-1] + target_q[-1], mapped)


RANGE_QUANTILES = (0.02, 0.98)  # a model's range: the middle 96 % of its training pitch


def played_range_midi(statistics: DatasetStatistics) -> tuple[float, float]:
    """A model's range (MIDI note numbers, fractional): the 2nd and 98th percentiles of the
    pitch it was trained on."""
    levels = np.linspace(0, 1, len(statistics.pitch_quantiles_midi))
    low, high = np.interp(RANGE_QUANTILES, levels, statistics.pitch_quantiles_midi)
    return float(low), float(high)


def octave_shift_into_range(pitch_midi: np.ndarray, statistics: DatasetStatistics) -> int:
    """Whole octaves to move a performance by, for a model's range.

    ``pitch_midi`` [n]: the performance's note-on pitch, MIDI. Magenta's rule puts its mean
    nearest the training data's mean; but a performance that already lies in the model's
    range (2nd-98th percentile of its training pitch) at least as much as the shifted one
    would is left where it is: a bass line played into a trombone stays a bass line.
    """
    by_mean = int(np.round((statistics.mean_pitch_midi - float(np.mean(pitch_midi))) / 12))
    if by_mean == 0:
        return 0
    low, high = played_range_midi(statistics)

    def share_in_range(shift: int) -> float:
        shifted = np.asarray(pitch_midi, np.float64) + 12 * shift
        return float(np.mean((shifted >= low) & (shifted <= high)))

    return 0 if share_in_range(0) >= share_in_range(by_mean) else by_mean
