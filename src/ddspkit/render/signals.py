"""Generated test material, so that a fresh install needs no data.

:func:`sung_phrase`, the demo's input: a voice-like source (harmonics with a glottal spectral
tilt, shaped by the formants of an "ah" vowel), singing the opening of "Ode to Joy" with
expressive dynamics, a delayed vibrato and a little breath noise. :func:`isolated_notes_midi`:
notes after silence at times off every block and frame grid, for onset (latency) measurements.
"""

from __future__ import annotations

import numpy as np
import torch

from ddspkit.config import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from ddspkit.dsp.core import midi_to_hz
from ddspkit.dsp.synths import harmonic_synth

# (MIDI note, beats) at 100 bpm: E E F G G F E D C C D E E. D D
ODE_TO_JOY = [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1),
              (60, 1), (60, 1), (62, 1), (64, 1), (64, 1.5), (62, 0.5), (62, 2)]
VOWEL_AH_FORMANTS = [(730.0, 80.0, 1.0), (1090.0, 90.0, 0.5), (2440.0, 120.0, 0.25)]


def sung_phrase(
    notes: list[tuple[int, float]] = ODE_TO_JOY, bpm: float = 100.0, transpose: int = -5,
    sample_rate_hz: int = SAMPLE_RATE_HZ, seed: int = 0,
) -> np.ndarray:
    """A sung melody as [T] float32 audio at ``sample_rate_hz`` (peak about 0.5)."""
    rng = np.random.default_rng(seed)
    beat_s = 60.0 / bpm
    frames_per_beat = beat_s * FRAME_RATE_HZ
    midi, power = [], []
    for note, beats in notes:
        n = int(round(beats * frames_per_beat))
        t_s = np.arange(n) / FRAME_RATE_HZ
        vibrato = 0.3 * np.sin(2 * np.pi * 5.5 * t_s) * np.clip((t_s - 0.25) / 0.3, 0, 1)
        glide = np.exp(-t_s / 0.04) * -0.5  # a slight scoop into each note
        midi.append(note + transpose + vibrato + glide)
        attack = np.clip(t_s / 0.06, 0, 1)
        release = np.clip((beats * beat_s - t_s) / 0.08, 0, 1)
        power.append(attack * release)
    midi_curve = np.concatenate(midi + [np.full(25, midi[-1][-1])])
    env = np.concatenate(power + [np.zeros(25)])
    phrase = np.linspace(0, 1, len(env))
    dynamics = 0.35 + 0.65 * np.sin(np.pi * phrase) ** 0.7  # crescendo then diminuendo
    amplitude = 0.5 * env * dynamics
    f0_hz = midi_to_hz(midi_curve)
    n_harmonics = 40
    k = np.arange(1, n_harmonics + 1)
    dist = np.zeros((len(f0_hz), n_harmonics))
    for centre_hz, width_hz, gain in VOWEL_AH_FORMANTS:
        dist += gain / (1 + ((f0_hz[:, None] * k - centre_hz) / width_hz) ** 2)
    dist *= k ** -1.0  # glottal tilt
    dist /= dist.sum(axis=1, keepdims=True)
    n_samples = (len(f0_hz) - 1) * (sample_rate_hz // FRAME_RATE_HZ)
    audio, _ = harmonic_synth(
        torch.from_numpy(f0_hz[None]).float(), torch.from_numpy(amplitude[None, :, None]).float(),
        torch.from_numpy(dist[None]).float(), n_samples, sample_rate_hz,
        sample_rate_hz // FRAME_RATE_HZ,
    )
    voice = audio[0].numpy()
    breath_env = np.repeat(amplitude, sample_rate_hz // FRAME_RATE_HZ)[:n_samples]
    voice += 0.02 * breath_env * rng.standard_normal(n_samples)
    return (voice / max(np.abs(voice).max(), 1e-9) * 0.5).astype(np.float32)


def isolated_notes_midi(path, n_notes: int = 16, seed: int = 7, program: int = 40, note_s: float = 0.6,
                        gap_s: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Write a MIDI file of ``n_notes`` isolated notes (MIDI 62-73, velocity 100, GM ``program``)
    starting at random sub-millisecond offsets, so that none falls on a block or 20 ms frame
    boundary. Returns (starts_s [N], ends_s [N]): each note's start, and where an onset
    search for it should stop (its end plus 0.4 s)."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    starts_s = 0.5 + np.arange(n_notes) * (note_s + gap_s) + rng.uniform(0, 0.02, n_notes)
    pitches = rng.integers(62, 74, n_notes)
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program, name="notes")
    instrument.notes = [pretty_midi.Note(velocity=100, pitch=int(p), start=float(s), end=float(s + note_s))
                        for p, s in zip(pitches, starts_s, strict=True)]
    midi.instruments.append(instrument)
    midi.write(str(path))
    return starts_s, starts_s + note_s + 0.4
