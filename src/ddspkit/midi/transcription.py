"""Polyphonic audio -> notes, with Spotify's Basic Pitch model (ONNX, vendored in assets/).

The network sees 2 s windows of 22.05 kHz audio and gives, every 256 samples (86 frames per
second) and for each of the 88 piano keys, a note activation (a note sounds) and an onset
activation (a note starts). Notes are decoded from them as Basic Pitch does: every onset peak
above ``onset_threshold`` starts a note that lasts while the note activation stays above
``frame_threshold`` (tolerating short dips); then, optionally, the strongest remaining
activations not explained by an onset become notes too (the "melodia trick", which catches
legato notes played without a clear attack).

Notes come out as :class:`ddspkit.midi.Note`, the same notes ``ddspkit render`` plays, so a
transcription renders through the MIDI path (``Part``, voice allocation, expression).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ddspkit.analysis.features import Features
from ddspkit.audio import resample
from ddspkit.dsp.core import midi_to_hz
from ddspkit.midi.parts import Part
from ddspkit.midi.score import Note

MODEL_SAMPLE_RATE_HZ = 22050
MODEL_HOP_SAMPLES = 256
MODEL_WINDOW_SAMPLES = 2 * MODEL_SAMPLE_RATE_HZ - MODEL_HOP_SAMPLES  # 43844
MODEL_WINDOW_FRAMES = 172
OVERLAP_FRAMES = 30  # frames dropped (half each side) where windows overlap
LOWEST_MIDI = 21  # A0: key 0 of the 88
N_KEYS = 88


@dataclass
class Activations:
    """Model output for one recording.

    times_s: [F] time of each frame (s).
    note: [F, 88] probability that key k sounds at frame i (key 0 = MIDI 21, A0).
    onset: [F, 88] probability that key k starts at frame i.
    """

    times_s: np.ndarray
    note: np.ndarray
    onset: np.ndarray


@lru_cache(maxsize=1)
def _session():
    import onnxruntime as ort

    path = resources.files("ddspkit") / "assets" / "transcription" / "basic_pitch_nmp.onnx"
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the converted graph warns about unused initialisers
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def activations(audio: np.ndarray, sample_rate_hz: int, batch_windows: int = 8) -> Activations:
    """Run the model over [T] mono audio at any rate (resampled to 22.05 kHz)."""
    x = resample(np.nan_to_num(audio.astype(np.float32)), sample_rate_hz, MODEL_SAMPLE_RATE_HZ)
    n_original = len(x)
    overlap_samples = OVERLAP_FRAMES * MODEL_HOP_SAMPLES
    hop_samples = MODEL_WINDOW_SAMPLES - overlap_samples
    # Half an overlap of silence in front, so the first kept frame is the audio's first.
    x = np.concatenate([np.zeros(overlap_samples // 2, np.float32), x])
    starts = list(range(0, max(len(x) - overlap_samples, 1), hop_samples))
    windows = np.zeros((len(starts), MODEL_WINDOW_SAMPLES, 1), np.float32)
    for w, start in enumerate(starts):
        chunk = x[start:start + MODEL_WINDOW_SAMPLES]
        windows[w, :len(chunk), 0] = chunk
    session = _session()
    notes, onsets = [], []
    for b in range(0, len(windows), batch_windows):
        # Outputs :0 contour (unused), :1 note, :2 onset.
        note, onset = session.run(["StatefulPartitionedCall:1", "StatefulPartitionedCall:2"],
                                  {"serving_default_input_2:0": windows[b:b + batch_windows]})
        notes.append(note)
        onsets.append(onset)
    keep = slice(OVERLAP_FRAMES // 2, MODEL_WINDOW_FRAMES - OVERLAP_FRAMES // 2)
    note = np.concatenate(notes)[:, keep]
    onset = np.concatenate(onsets)[:, keep]
    # A window holds 142 kept frames but advances 141.3 hops: time each frame from its own
    # window's start instead of assuming one uniform grid.
    local_s = np.arange(note.shape[1]) * MODEL_HOP_SAMPLES / MODEL_SAMPLE_RATE_HZ
    times_s = (np.asarray(starts)[:, None] / MODEL_SAMPLE_RATE_HZ + local_s[None]).reshape(-1)
    n_frames = int(np.searchsorted(times_s, n_original / MODEL_SAMPLE_RATE_HZ))
    return Activations(times_s[:n_frames], note.reshape(-1, N_KEYS)[:n_frames],
                       onset.reshape(-1, N_KEYS)[:n_frames])


def _track_end(energy: np.ndarray, start: int, key: int, threshold: float, tolerance: int,
               step: int) -> int:
    """Walk from ``start`` in direction ``step`` while ``energy[:, key]`` stays above
    ``threshold`` (dips of under ``tolerance`` frames allowed); return the last frame above."""
    i, below, last = start + step, 0, start
    while 0 <= i < len(energy) and below < tolerance:
        if energy[i, key] < threshold:
            below += 1
        else:
            below, last = 0, i
        i += step
    return last


def decode_notes(acts: Activations, onset_threshold: float = 0.5, frame_threshold: float = 0.3,
                 min_note_s: float = 0.127, min_hz: float | None = None,
                 max_hz: float | None = None, melodia_trick: bool = True,
                 tolerance_frames: int = 11, octave_ghost_ratio: float = 0.75) -> list[Note]:
    """Activations -> notes (sorted by start), velocity from the mean note activation.

    ``octave_ghost_ratio``: a note starting with (within 60 ms) a note an octave above and
    weaker than this fraction of it is dropped: on piano the network often hears a ghost an
    octave below a struck note (on rendered Bach chorales this removes 6-9 % false notes and
    no true ones). 0 keeps every note.
    """
    note = acts.note.astype(np.float64).copy()
    onset = acts.onset.astype(np.float64).copy()
    keys_midi = LOWEST_MIDI + np.arange(N_KEYS)
    keys_hz = midi_to_hz(keys_midi)
    outside = np.zeros(N_KEYS, bool)
    if min_hz is not None:
        outside |= keys_hz < min_hz
    if max_hz is not None:
        outside |= keys_hz > max_hz
    note[:, outside] = 0
    onset[:, outside] = 0
    n_frames = len(note)
    if n_frames < 3:
        return []
    # Onsets also where the note activation jumps (the network misses some soft attacks): the
    # smaller of the rises over 1 and 2 frames, scaled to the onset activation's range.
    padded = np.vstack([np.zeros((2, N_KEYS)), note])
    rise = np.clip(np.minimum(padded[2:] - padded[1:-1], padded[2:] - padded[:-2]), 0, None)
    rise[:2] = 0
    if rise.max() > 0:
        onset = np.maximum(onset, rise * onset.max() / rise.max())
    # Onset peaks (local maxima in time) above the threshold, latest first as Basic Pitch does,
    # so a repeated key's later note does not swallow the earlier one.
    peak = (onset[1:-1] > onset[:-2]) & (onset[1:-1] > onset[2:]) & (onset[1:-1] >= onset_threshold)
    frames, keys = np.nonzero(peak)
    order = np.argsort(-(frames + 1), kind="stable")
    min_frames = int(round(min_note_s * MODEL_SAMPLE_RATE_HZ / MODEL_HOP_SAMPLES))
    energy = note.copy()
    found: list[tuple[int, int, int, float]] = []

    def claim(first: int, last: int, key: int) -> None:
        energy[first:last + 1, max(key - 1, 0):key + 2] = 0

    for start, key in zip(frames[order] + 1, keys[order], strict=True):
        if start >= n_frames - 1:
            continue
        end = _track_end(energy, start, key, frame_threshold, tolerance_frames, +1) + 1
        if end - start <= min_frames:
            continue
        claim(start, end - 1, key)
        found.append((start, end, key, float(note[start:end, key].mean())))
    if melodia_trick:
        while energy.max() > frame_threshold:
            middle, key = np.unravel_index(np.argmax(energy), energy.shape)
            last = _track_end(energy, middle, key, frame_threshold, tolerance_frames, +1)
            first = _track_end(energy, middle, key, frame_threshold, tolerance_frames, -1)
            claim(first, last, key)
            if last + 1 - first > min_frames:
                found.append((first, last + 1, key, float(note[first:last + 1, key].mean())))
    times = acts.times_s
    frame_s = MODEL_HOP_SAMPLES / MODEL_SAMPLE_RATE_HZ
    end_time = lambda f: times[f] if f < n_frames else times[-1] + frame_s  # noqa: E731
    notes = [Note(int(LOWEST_MIDI + key), float(times[start]), float(end_time(end)),
                  int(np.clip(round(127 * amplitude), 1, 127)))
             for start, end, key, amplitude in found]
    if octave_ghost_ratio > 0:
        notes = [n for n in notes if not any(
            m.pitch == n.pitch + 12 and abs(m.start_s - n.start_s) < 0.06
            and n.velocity < octave_ghost_ratio * m.velocity for m in notes)]
    return sorted(notes, key=lambda n: (n.start_s, n.pitch))


def transcribe(audio: np.ndarray, sample_rate_hz: int, **options) -> list[Note]:
    """[T] mono audio (any rate) -> notes; ``options`` go to :func:`decode_notes`."""
    return decode_notes(activations(audio, sample_rate_hz), **options)


def transcription_part(notes: list[Note], name: str = "transcription") -> Part:
    """Transcribed notes as a MIDI part that ``ddspkit.midi`` renders."""
    return Part.from_notes(name, list(notes))


OVERTONE_INTERVALS = (12, 19, 24)  # 2nd, 3rd and 4th harmonics, in semitones


def top_line(notes: list[Note], n_frames: int, frame_rate_hz: float,
             overtone_ratio: float = 0.5) -> np.ndarray:
    """The highest sounding note at each frame (MIDI number, NaN where none): the lead line.

    A note at a harmonic's interval (octave, twelfth, double octave) above a note sounding
    with it and weaker than ``overtone_ratio`` times it is passed over: it is most likely the
    network hearing that note's overtone, not a melody. Returns [n_frames] float.
    """
    spans = [(n, int(np.floor(n.start_s * frame_rate_hz)),
              min(n_frames, int(np.ceil(n.end_s * frame_rate_hz)))) for n in notes]
    line = np.full(n_frames, np.nan)
    for n, first, last in spans:
        overtone = np.zeros(last - first, bool)
        for m, m_first, m_last in spans:
            if n.pitch - m.pitch in OVERTONE_INTERVALS and n.velocity < overtone_ratio * m.velocity:
                lo, hi = max(first, m_first), min(last, m_last)
                overtone[max(lo - first, 0):max(hi - first, 0)] = True
        segment = line[first:last]
        line[first:last] = np.where(overtone, segment, np.fmax(segment, n.pitch))
    return line


def _bridge_dips(line: np.ndarray, max_frames: int) -> np.ndarray:
    """Hold the melody through short stretches where a lower voice shows between two of its
    notes (a release just before the next attack): runs of at most ``max_frames`` frames lower
    than both neighbouring runs take the previous run's pitch. [F] -> [F]."""
    values = np.nan_to_num(line, nan=-1.0)
    starts = np.flatnonzero(np.diff(values, prepend=np.inf))
    ends = np.append(starts[1:], len(values))
    out = line.copy()
    for k in range(1, len(starts) - 1):
        run = values[starts[k]]
        before, after = values[starts[k - 1]], values[starts[k + 1]]
        if ends[k] - starts[k] <= max_frames and run < before and run < after:
            out[starts[k]:ends[k]] = line[starts[k - 1]]
    return out


def lead_line_features(audio_16k: np.ndarray, notes: list[Note]) -> Features:
    """Features for the monophonic transfer path that follow the top voice of ``notes``.

    f0 is the highest sounding note (held through gaps, so the oscillators do not jump),
    confidence is 1 where a note sounds and 0 elsewhere, and power is the recording's own, so
    the performance's dynamics drive the model. Shapes as :class:`Features` ([F], 50 frames/s).
    """
    from ddspkit.analysis.features import power_db
    from ddspkit.config import FRAME_RATE_HZ, HOP_SAMPLES

    n_frames = len(audio_16k) // HOP_SAMPLES + 1
    line = _bridge_dips(top_line(notes, n_frames, FRAME_RATE_HZ), max_frames=5)
    sounding = ~np.isnan(line)
    if sounding.any():
        index = np.where(sounding, np.arange(n_frames), -1)
        index = np.maximum.accumulate(index)  # last sounding frame at or before each frame
        first = int(np.argmax(sounding))
        index[index < 0] = first
        f0_hz = midi_to_hz(line[index])
    else:
        f0_hz = np.zeros(n_frames)
    return Features(np.asarray(f0_hz, np.float32), sounding.astype(np.float32),
                    power_db(audio_16k)[:n_frames].astype(np.float32))


def write_notes_midi(notes: list[Note], path: str | Path, program: int = 0) -> Path:
    """Write notes as a one-track MIDI file (atomically)."""
    from ddspkit.audio import atomic_write
    from ddspkit.midi.score import notes_to_midi

    midi = notes_to_midi([(n.pitch, n.start_s, n.end_s, n.velocity) for n in notes], program=program)
    return atomic_write(path, lambda tmp: midi.write(str(tmp)))
