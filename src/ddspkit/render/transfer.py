"""Timbre transfer: any monophonic audio -> features -> auto-adjust -> a model -> audio.

:func:`transfer` renders with an instrument; :func:`transfer_monophonic` with a loaded model,
following the pitch tracker or, for polyphonic input, the lead line of a transcription.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ddspkit.analysis.features import Features, extract_features
from ddspkit.analysis.statistics import DatasetStatistics, detect_notes, octave_shift_into_range, quantile_map
from ddspkit.audio import resample, to_mono
from ddspkit.config import DB_RANGE, SAMPLE_RATE_HZ
from ddspkit.dsp.core import hz_to_midi
from ddspkit.io.model import Model
from ddspkit.midi.transcription import lead_line_features, transcribe
from ddspkit.model import Instrument

MAX_MIDI = 110.0  # keep shifted pitches below where harmonics would all alias
QUIET_DB = 20.0  # how far note-off frames are lowered, scaled by (1 - note-on share)


@dataclass
class Adjustment:
    """What auto-adjust and the manual overrides did to the input's features."""

    octave_shift: int = 0
    pitch_shift_semitones: float = 0.0  # total: 12 * octave_shift + manual shift
    loudness_shift_db: float = 0.0  # the manual shift
    note_on_share: float = 0.0
    loudness_auto_db: float | None = None  # auto-adjust's change of note-on power (median); None: off

    def loudness_text(self) -> str:
        """What was done to the loudness, in a few words: 'loudness auto -14 dB',
        'loudness auto -14 dB, then +3 dB', 'loudness as is', 'loudness as is, then -6 dB'."""
        done = "as is" if self.loudness_auto_db is None else f"auto {self.loudness_auto_db:+.0f} dB"
        then = f", then {self.loudness_shift_db:+g} dB" if self.loudness_shift_db else ""
        return f"loudness {done}{then}"


def adjust_features(
    features: Features,
    statistics: DatasetStatistics | None,
    auto: bool = True,
    pitch_shift_semitones: float = 0.0,
    loudness_shift_db: float = 0.0,
) -> tuple[Features, Adjustment]:
    """Move the input's pitch and loudness into the model's training range.

    Auto-adjust (after Magenta's timbre-transfer demo): shift by whole octaves so that the
    input's mean note-on pitch lands nearest the training data's mean pitch, unless the input
    already lies in the model's range as well (:func:`octave_shift_into_range`); map note-on power
    through the input's quantiles onto the training data's; lower note-off frames by
    ``20 dB * (1 - note-on share)``. Manual shifts apply after it.
    Returns the adjusted features (f0 clipped to MIDI 110, power to [-80, 0] dB) and what was done.
    """
    f0_hz = features.f0_hz.astype(np.float64)
    power_db = features.power_db.astype(np.float64)
    adjustment = Adjustment()
    mask, note_on_share = detect_notes(features)
    adjustment.note_on_share = note_on_share
    if auto and statistics is not None and mask.any():
        adjustment.octave_shift = octave_shift_into_range(hz_to_midi(f0_hz[mask]), statistics)
        input_q = np.quantile(power_db[mask], np.linspace(0, 1, len(statistics.power_quantiles_db)))
        mapped = quantile_map(power_db, input_q, np.asarray(statistics.power_quantiles_db))
        power_db = np.where(mask, mapped, mapped - QUIET_DB * (1.0 - note_on_share))
        adjustment.loudness_auto_db = float(np.median(power_db[mask] - features.power_db[mask]))
    elif auto:
        adjustment.loudness_auto_db = 0.0  # nothing to adjust (no note, or no statistics)
    adjustment.pitch_shift_semitones = 12 * adjustment.octave_shift + pitch_shift_semitones
    adjustment.loudness_shift_db = loudness_shift_db
    f0_hz = f0_hz * 2.0 ** (adjustment.pitch_shift_semitones / 12)
    max_hz = 440.0 * 2 ** ((MAX_MIDI - 69) / 12)
    f0_hz = np.minimum(f0_hz, max_hz)
    power_db = np.clip(power_db + loudness_shift_db, -DB_RANGE, 0.0)
    adjusted = Features(f0_hz.astype(np.float32), features.f0_confidence.copy(),
                        power_db.astype(np.float32))
    return adjusted, adjustment


@dataclass
class TransferResult:
    audio: np.ndarray  # [T] at sample_rate_hz
    sample_rate_hz: int
    input_features: Features
    model_features: Features  # what the model was fed (after adjustment)
    adjustment: Adjustment
    warnings: list[str] = field(default_factory=list)  # about the input (read, silent), one line each


def little_pitch(result: TransferResult) -> bool:
    """True when little of the input had a clear pitch (few notes, under 30 % voiced frames):
    the input may be polyphonic (chords, a piano), for which transcription serves better."""
    return result.adjustment.note_on_share < 0.2 and float(result.input_features.voiced.mean()) < 0.3


def transfer(
    instrument: Instrument,
    audio: np.ndarray,
    sample_rate_hz: int,
    statistics: DatasetStatistics | None = None,
    auto_adjust: bool = True,
    pitch_shift_semitones: float = 0.0,
    loudness_shift_db: float = 0.0,
    reverb: bool = True,
    features: Features | None = None,
) -> TransferResult:
    """Render ``audio`` [T] (mono, any rate) with ``instrument``; output at the input's rate.

    ``features`` may be given to skip extraction (they must be at 16 kHz / 50 frames per s for
    the 16 kHz version of ``audio``).
    """
    audio_16k = resample(audio, sample_rate_hz, SAMPLE_RATE_HZ)
    if features is None:
        features = extract_features(audio_16k)
    adjusted, adjustment = adjust_features(
        features, statistics, auto_adjust, pitch_shift_semitones, loudness_shift_db
    )
    device = instrument.device
    f0 = torch.from_numpy(adjusted.f0_hz).to(device)
    power = torch.from_numpy(adjusted.power_db).to(device)
    rendered = instrument.render(f0, power, len(audio_16k), reverb=reverb).cpu().numpy()
    output = resample(rendered, SAMPLE_RATE_HZ, sample_rate_hz)
    n_out = len(audio)
    output = np.pad(output, (0, max(0, n_out - len(output))))[:n_out]
    peak = float(np.abs(output).max()) if output.size else 0.0
    if peak > 0.99:  # never clip the written file
        output = output * (0.99 / peak)
    return TransferResult(output.astype(np.float32), sample_rate_hz, features, adjusted, adjustment)


def transfer_monophonic(model: Model, audio: np.ndarray, sample_rate_hz: int, *,
                        auto_adjust: bool = True, pitch_shift_semitones: float = 0.0,
                        loudness_shift_db: float = 0.0, reverb: bool = True,
                        lead_line: bool = False) -> TransferResult:
    """Morph ``audio`` ([T], or [channels, T] / [T, channels], mixed to mono) into ``model``;
    output at the same rate.

    ``lead_line``: for polyphonic input, follow the top voice of a note transcription
    instead of the pitch tracker (the recording's own dynamics are kept).
    """
    audio = to_mono(audio)
    features = None
    if lead_line:
        features = lead_line_features(resample(audio, sample_rate_hz, SAMPLE_RATE_HZ),
                                      transcribe(audio, sample_rate_hz))
    return transfer(model.instrument, audio, sample_rate_hz, model.info.statistics, auto_adjust,
                    pitch_shift_semitones, loudness_shift_db, reverb, features)
