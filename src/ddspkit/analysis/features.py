"""Audio -> features: f0 with confidence (swift-f0) and frame power, at 50 frames/s.

Features are the only thing a model sees of its input, in training and at inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.dsp.core import frame_power_db, hz_to_midi

VOICED_CONFIDENCE = 0.5  # swift-f0's calibrated voicing threshold

# Octave-error folding (see fold_octave_errors). A tone whose partials sit at the odd
# multiples of f0/2 too is periodic at f0/2: a genuine note has nothing there (-40 dB and
# below), while an octave-high reading of a weak-fundamental tone has them within a few dB.
HALF_PERIOD_EVIDENCE_DB = -6.0
# An octave-low reading is folded up only next to a neighbour an octave above it, when its
# odd partials are weak; at most this long, so real low notes are never touched.
MAX_LOW_RUN_S = 0.2
WEAK_ODD_PARTIALS_DB = -10.0
# Runs of one or two frames below this confidence are left alone: at a note change the
# analysis window holds the previous note too.
MIN_SHORT_RUN_CONFIDENCE = 0.7
_EVIDENCE_FFT = 2048  # 128 ms at 16 kHz: resolves f0 / 2 down to the tracker's 47 Hz floor
_EVIDENCE_MAX_FRAMES = 16  # frames analysed per run (evenly spaced), to bound the cost


@dataclass
class Features:
    """Per-frame features at 50 frames/s; frame i is centred on sample i * 320 (16 kHz).

    f0_hz: [F] pitch in Hz, with unvoiced frames filled from their voiced neighbours (so the
        oscillators glide instead of jumping); 0 everywhere if nothing is voiced.
    f0_confidence: [F] voicing confidence in [0, 1]; voiced where >= 0.5.
    power_db: [F] frame power in dB re full scale, floored at -80.
    """

    f0_hz: np.ndarray
    f0_confidence: np.ndarray
    power_db: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.f0_hz)

    @property
    def voiced(self) -> np.ndarray:
        return self.f0_confidence >= VOICED_CONFIDENCE

    def slice(self, start: int, stop: int) -> Features:
        return Features(self.f0_hz[start:stop], self.f0_confidence[start:stop],
                        self.power_db[start:stop])


def power_db(audio_16k: np.ndarray) -> np.ndarray:
    """[T] audio at 16 kHz -> [T // 320 + 1] frame power in dB (see core.frame_power_db)."""
    return frame_power_db(torch.from_numpy(np.ascontiguousarray(audio_16k, np.float32))).numpy()


@lru_cache(maxsize=1)
def _pitch_tracker():
    from swift_f0 import SwiftF0

    return SwiftF0(threads=max(1, min(4, torch.get_num_threads())))


def _partial_energy(spectrum: np.ndarray, freqs_hz: np.ndarray, f_hz: float) -> float:
    """Peak power of ``spectrum`` within 3 % (at least 12 Hz) of ``f_hz``."""
    near = np.abs(freqs_hz - f_hz) <= max(0.03 * f_hz, 12.0)
    return float(spectrum[near].max()) if near.any() else 0.0


_EVIDENCE_FREQS_HZ = np.fft.rfftfreq(_EVIDENCE_FFT, 1 / SAMPLE_RATE_HZ)


def power_spectrum(audio_16k: np.ndarray, time_s: float) -> np.ndarray:
    """[1025] power spectrum of a 128 ms Hann window centred on ``time_s`` (zero-padded at the
    ends); bin k is at k * 7.8125 Hz."""
    centre, half = int(round(time_s * SAMPLE_RATE_HZ)), _EVIDENCE_FFT // 2
    window = np.zeros(_EVIDENCE_FFT)
    lo, hi = max(0, centre - half), min(len(audio_16k), centre + half)
    if hi > lo:
        window[lo - centre + half:hi - centre + half] = audio_16k[lo:hi]
    return np.abs(np.fft.rfft(window * np.hanning(_EVIDENCE_FFT))) ** 2


def half_period_evidence_db(spectrum: np.ndarray, f0_hz: float) -> float:
    """Power at the odd multiples of f0/2 over power at the multiples of f0, in dB.

    ``spectrum`` from :func:`power_spectrum`; over the partials below 4 kHz (at most 6). Near
    -40 dB or below for a tone whose pitch is f0; near 0 dB when the tone is periodic at
    f0 / 2, i.e. f0 is an octave-high reading.
    """
    n_partials = max(1, min(6, int(4000.0 // f0_hz)))
    main = sum(_partial_energy(spectrum, _EVIDENCE_FREQS_HZ, k * f0_hz)
               for k in range(1, n_partials + 1))
    odd = sum(_partial_energy(spectrum, _EVIDENCE_FREQS_HZ, (k - 0.5) * f0_hz)
              for k in range(1, n_partials + 1))
    return float(10 * np.log10((odd + 1e-20) / (main + 1e-20)))


def _runs(midi: np.ndarray, max_step_st: float = 3.0) -> list[tuple[int, int]]:
    """[start, stop) runs of consecutive finite ``midi`` without a jump over ``max_step_st``."""
    finite = np.isfinite(midi)
    # continues[i]: frame i + 1 carries on frame i's run
    continues = finite[:-1] & finite[1:] & (np.abs(np.diff(np.where(finite, midi, 0.0)))
                                            <= max_step_st)
    starts = np.flatnonzero(finite & ~np.concatenate([[False], continues]))
    stops = np.flatnonzero(finite & ~np.concatenate([continues, [False]])) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _median_evidence_db(spectra: list[np.ndarray], f0s_hz: np.ndarray) -> float:
    """Median :func:`half_period_evidence_db` over frames' spectra and their f0s."""
    return float(np.median([half_period_evidence_db(spectrum, f0_hz)
                            for spectrum, f0_hz in zip(spectra, f0s_hz, strict=True)]))


def fold_octave_errors(audio_16k: np.ndarray, times_s: np.ndarray, pitch_hz: np.ndarray,
                       confidence: np.ndarray) -> np.ndarray:
    """Correct the tracker's octave errors, run by run, from the spectrum.

    Weak fundamentals (FluidSynth's trumpet and flute, for two) make swift-f0 read an octave
    high for a few frames, notes' attacks or whole quiet notes, which the synth then plays
    as jumps. A run of frames (no jump over 3 semitones, voiced) is halved, up to twice, while
    its partials at the odd multiples of f0/2 are within HALF_PERIOD_EVIDENCE_DB of those at
    f0's multiples; a run shorter than MAX_LOW_RUN_S that sits an octave below a neighbour
    it touches (the rest of its note, often: high saxophone notes start an octave low) is
    doubled when its own odd partials are weak (the mirror error).

    Args:
        audio_16k: [T] the audio the tracker saw, 16 kHz.
        times_s: [N] frame times in seconds.
        pitch_hz: [N] the tracker's pitch.
        confidence: [N] the tracker's confidence; voiced where >= VOICED_CONFIDENCE.
    Returns:
        [N] pitch in Hz, folded where the evidence says so.
    """
    pitch_hz = np.asarray(pitch_hz, np.float64).copy()
    confidence = np.asarray(confidence)
    ok = (confidence >= VOICED_CONFIDENCE) & (pitch_hz > 0)
    midi = np.where(ok, hz_to_midi(np.where(ok, pitch_hz, 1.0)), np.nan)
    runs = _runs(midi)
    hop_s = float(np.median(np.diff(times_s))) if len(times_s) > 1 else 0.016
    for j, (a, b) in enumerate(runs):
        if b - a <= 2 and np.median(confidence[a:b]) < MIN_SHORT_RUN_CONFIDENCE:
            continue
        probe = np.unique(np.linspace(a, b - 1, min(b - a, _EVIDENCE_MAX_FRAMES)).round()
                          ).astype(int)
        spectra = [power_spectrum(audio_16k, times_s[i]) for i in probe]
        n_halved = 0
        while n_halved < 2 and _median_evidence_db(
                spectra, pitch_hz[probe] / 2**n_halved) > HALF_PERIOD_EVIDENCE_DB:
            n_halved += 1
        if n_halved:
            pitch_hz[a:b] /= 2**n_halved
            midi[a:b] -= 12 * n_halved
            continue
        if (b - a) * hop_s > MAX_LOW_RUN_S:
            continue
        # neighbours: the nearest 3 frames of the adjacent runs, when they touch this one
        sides = []
        if j > 0 and runs[j - 1][1] == a:
            sides.append(np.median(midi[max(runs[j - 1][0], a - 3):a]))
        if j + 1 < len(runs) and runs[j + 1][0] == b:
            sides.append(np.median(midi[b:min(runs[j + 1][1], b + 3)]))
        run_midi = np.median(midi[a:b])
        # evidence at twice the pitch compares this pitch's odd partials with its even ones
        if (sides and any(abs(side - run_midi - 12) <= 1 for side in sides)
                and _median_evidence_db(spectra, 2 * pitch_hz[probe]) < WEAK_ODD_PARTIALS_DB):
            pitch_hz[a:b] *= 2
            midi[a:b] += 12
    return pitch_hz


# Note changes (see sharpen_note_changes).
NOTE_CHANGE_MIN_ST = 0.8  # a jump at least this large between two steady pitches
GLIDE_STEP_ST = 0.3  # a frame this far from the previous one is between the two
STEADY_ST = 0.3  # a steady pitch moves less than this from frame to frame
MAX_GLIDE_FRAMES = 3  # frames between the two; a longer glide is a slide and stays
NOTE_CHANGE_LEAD_FRAMES = 1


def sharpen_note_changes(f0_hz: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Play a note change as a step, one frame before the tracker completes it.

    A tracker reads a note change as a glide over a frame or two, complete only once its
    window is mostly on the new note, after the new note's attack has begun: a synth that
    follows the reading changes pitch late and smeared (re-tracked, its output reaches the
    new note about a frame after the input does; on violin pieces that was 3 % of the
    score's note frames). Where the pitch goes from one steady value to another at least
    NOTE_CHANGE_MIN_ST away within MAX_GLIDE_FRAMES frames, the frames between take the
    nearer of the two, and the new pitch starts NOTE_CHANGE_LEAD_FRAMES earlier. Vibrato
    and slides (no steady pitch either side, or slower) are left as they are.

    Args:
        f0_hz: [F] pitch at 50 frames/s, filled over unvoiced frames.
        voiced: [F] bool; both steady ends of a change must be voiced.
    Returns:
        [F] pitch in Hz.
    """
    n = len(f0_hz)
    midi = hz_to_midi(np.maximum(f0_hz.astype(np.float64), 1e-3))
    out = midi.copy()
    moved = np.abs(np.diff(midi)) > GLIDE_STEP_ST  # moved[i]: frame i + 1 left frame i
    i = 1
    while i < n - 2:
        if not moved[i]:
            i += 1
            continue
        j = i + 1  # frames i (last before) and j (first after) bracket the change
        while j < n - 1 and moved[j] and j - i <= MAX_GLIDE_FRAMES:
            j += 1
        before, after = midi[i], midi[j]
        steady = (abs(midi[i - 1] - before) <= STEADY_ST and j + 1 < n
                  and abs(midi[j + 1] - after) <= STEADY_ST)
        if (steady and j - i - 1 <= MAX_GLIDE_FRAMES and abs(after - before) >= NOTE_CHANGE_MIN_ST
                and voiced[i - 1] and voiced[i] and voiced[j] and voiced[j + 1]):
            between = np.arange(i + 1, j)
            nearer_after = np.abs(midi[between] - after) < np.abs(midi[between] - before)
            first_new = int(between[nearer_after][0]) if nearer_after.any() else j
            out[i + 1 : j] = before
            out[max(first_new - NOTE_CHANGE_LEAD_FRAMES, i) : j] = after
        i = j
    return (440.0 * 2.0 ** ((out - 69.0) / 12.0)).astype(np.float32)


def _tracked_pitch(audio_16k: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(f0_hz [n_frames] float32, confidence [n_frames] float64): :func:`track_pitch` without
    sharpening note changes."""
    times_s = np.arange(n_frames) * HOP_SAMPLES / SAMPLE_RATE_HZ
    if len(audio_16k) < 512:  # too short for the tracker: nothing voiced
        return np.zeros(n_frames, np.float32), np.zeros(n_frames)
    result = _pitch_tracker().detect(audio_16k, SAMPLE_RATE_HZ)
    tracker_times = np.asarray(result.timestamps, dtype=np.float64)
    confidence = np.interp(times_s, tracker_times, np.asarray(result.confidence, np.float64))
    pitch = np.asarray(result.pitch_hz, dtype=np.float64)
    voiced = (np.asarray(result.confidence) >= VOICED_CONFIDENCE) & (pitch > 0)
    pitch = fold_octave_errors(audio_16k, tracker_times, pitch, result.confidence)
    if not voiced.any():
        return np.zeros(n_frames, np.float32), confidence
    log_f0 = np.interp(times_s, tracker_times[voiced], np.log2(pitch[voiced]))
    return (2.0**log_f0).astype(np.float32), confidence


def track_pitch(audio_16k: np.ndarray, n_frames: int, sharpen: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """f0 in Hz and confidence at our frame times, from swift-f0 (16 ms hop).

    Octave errors are folded first (fold_octave_errors). Confidence is interpolated
    linearly; pitch is interpolated in log frequency over voiced frames only, and held at
    the ends, so unvoiced gaps carry the neighbouring pitch; note changes become steps
    (sharpen_note_changes) unless not ``sharpen``: the tracker's own reading, for measuring
    where a recording's pitch is.

    Args:
        audio_16k: [T] audio at 16 kHz.
        n_frames: number of output frames (frame i at i * 20 ms).
    Returns:
        (f0_hz [n_frames], confidence [n_frames]) float32.
    """
    f0_hz, confidence = _tracked_pitch(audio_16k, n_frames)
    return (_sharpened(f0_hz, confidence) if sharpen else f0_hz), confidence.astype(np.float32)


def _sharpened(f0_hz: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """[F] the tracked pitch with its note changes sharpened (none when nothing is voiced)."""
    if not f0_hz.any():  # nothing voiced: zeros stay
        return f0_hz
    return sharpen_note_changes(f0_hz, confidence >= VOICED_CONFIDENCE)


def extract_features(audio_16k: np.ndarray, sharpen: bool = True) -> Features:
    """[T] mono audio at 16 kHz -> :class:`Features` with T // 320 + 1 frames.

    ``sharpen=False`` keeps the tracker's reading of note changes (see track_pitch).
    """
    audio_16k = np.ascontiguousarray(audio_16k, dtype=np.float32)
    power = power_db(audio_16k)
    f0_hz, confidence = track_pitch(audio_16k, len(power), sharpen)
    return Features(f0_hz, confidence, power.astype(np.float32))


def extract_features_and_tracked_f0(audio_16k: np.ndarray) -> tuple[Features, np.ndarray]:
    """:func:`extract_features` (note changes sharpened, for the model) and the tracker's own
    reading of the pitch [F] (``sharpen=False``'s f0_hz, for measuring how the notes are
    played), from one run of the tracker: it is most of the cost."""
    audio_16k = np.ascontiguousarray(audio_16k, dtype=np.float32)
    power = power_db(audio_16k)
    tracked_hz, confidence = _tracked_pitch(audio_16k, len(power))
    features = Features(_sharpened(tracked_hz, confidence), confidence.astype(np.float32),
                        power.astype(np.float32))
    return features, tracked_hz
