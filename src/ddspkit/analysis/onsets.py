"""When a note is heard: onset times as a listener perceives them, for latency measurements.

A sustained tone's delay is not what a player feels; the time from a key press (or the start
of a sung note) to the sound rising is. The measure used throughout ddspkit's tests and
benchmarks: the 2 ms RMS envelope in dB, and per note the first time it rises half-way (in
dB) from the quiet point before the note to the note's peak. It works on any instrument,
sampled or synthesized, and needs no model of the attack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENVELOPE_WINDOW_S = 0.002
FLOOR_DB = -120.0  # digital silence reads as this, not -inf
QUIET_BEFORE_S = 0.05  # the quiet point is looked for in this span before the note's start


def rms_envelope_db(audio: np.ndarray, sample_rate_hz: int,
                    window_s: float = ENVELOPE_WINDOW_S) -> np.ndarray:
    """[T] audio -> [T] RMS level in dB (re full scale) over the ``window_s`` ending at each sample."""
    audio = np.asarray(audio, np.float64)
    width = max(1, int(round(window_s * sample_rate_hz)))
    cumulative = np.concatenate([[0.0], np.cumsum(audio * audio)])
    start = np.maximum(np.arange(1, len(audio) + 1) - width, 0)
    mean_square = (cumulative[1:] - cumulative[start]) / width
    return np.maximum(10 * np.log10(np.maximum(mean_square, 1e-30)), FLOOR_DB)


def note_onsets_s(audio: np.ndarray, sample_rate_hz: int, starts_s: np.ndarray, ends_s: np.ndarray
                  ) -> np.ndarray:
    """Perceived onset (s) of each note in ``audio``, searched between its nominal start and end.

    ``starts_s`` [N], ``ends_s`` [N]: where each note may begin and where the search stops
    (the next note's start, or the note's end plus a margin). The quiet point is the lowest
    level in the :data:`QUIET_BEFORE_S` before the start; the peak the highest between start
    and end; the onset the first sample, after the quiet point, at or above half-way between
    them in dB. NaN where the note never rises 6 dB above its quiet point.
    """
    envelope = rms_envelope_db(audio, sample_rate_hz)
    onsets = np.full(len(starts_s), np.nan)
    for i, (start_s, end_s) in enumerate(zip(starts_s, ends_s, strict=True)):
        start = int(round(start_s * sample_rate_hz))
        stop = min(len(envelope), int(round(end_s * sample_rate_hz)))
        before = max(0, start - int(QUIET_BEFORE_S * sample_rate_hz))
        if stop <= start or start >= len(envelope):
            continue
        quiet_at = before + int(np.argmin(envelope[before : start + 1]))
        quiet_db = envelope[quiet_at]
        peak_db = float(envelope[start:stop].max())
        if peak_db < quiet_db + 6.0:
            continue
        half_db = (quiet_db + peak_db) / 2
        rising = np.flatnonzero(envelope[quiet_at:stop] >= half_db)
        onsets[i] = (quiet_at + rising[0]) / sample_rate_hz
    return onsets


@dataclass
class OnsetLags:
    """Lags of heard onsets after their reference onsets, in ms."""

    lags_ms: np.ndarray  # [N], NaN for notes not heard

    @property
    def median_ms(self) -> float:
        return float(np.nanmedian(self.lags_ms))

    @property
    def spread_ms(self) -> float:
        """Jitter: the range of the lags (max - min) of the notes heard."""
        return float(np.nanmax(self.lags_ms) - np.nanmin(self.lags_ms))

    @property
    def worst_ms(self) -> float:
        return float(np.nanmax(self.lags_ms))

    @property
    def missed(self) -> int:
        return int(np.isnan(self.lags_ms).sum())


def onset_lags(output: np.ndarray, sample_rate_hz: int, starts_s: np.ndarray, ends_s: np.ndarray,
               reference: np.ndarray | None = None) -> OnsetLags:
    """Lag (ms) of each note's onset in ``output`` after its start.

    The start is ``starts_s`` itself (a MIDI note-on), or, given ``reference`` audio (an
    effect's input, at the same rate and on the same timeline), that note's onset measured
    the same way in the reference.
    """
    heard = note_onsets_s(output, sample_rate_hz, np.asarray(starts_s), np.asarray(ends_s))
    origin = np.asarray(starts_s, np.float64)
    if reference is not None:
        origin = note_onsets_s(reference, sample_rate_hz, origin, np.asarray(ends_s))
    return OnsetLags(1000.0 * (heard - origin))
