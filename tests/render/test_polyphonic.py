"""Polyphonic audio into an instrument through a transcription: as long as the input, shifted
by whole semitones, the transcription kept as heard."""

from __future__ import annotations

import numpy as np
import pytest

from ddspkit.errors import UserError
from ddspkit.io.models import load_model
from ddspkit.render.polyphonic import transfer_polyphonic

RATE = 22050


def chord(pitches=(60, 64, 67), seconds=1.5) -> np.ndarray:
    """A plucked chord, each note a decaying 6-harmonic tone (as a piano, for the transcriber)."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.exp(-t * 2.5) * np.minimum(t / 0.005, 1)
    tones = [sum(np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * k * t) / k**2 for k in range(1, 7))
             for p in pitches]
    return (0.15 * envelope * sum(tones)).astype(np.float32)


@pytest.fixture(scope="module")
def cello():
    return load_model("Cello")


def test_the_output_is_as_long_as_the_input_and_the_notes_are_the_transcription(cello):
    audio = chord()
    plain = transfer_polyphonic(cello, audio, RATE, reverb=False)
    assert len(plain.audio) == len(audio) and plain.sample_rate_hz == RATE
    assert {60, 64, 67} <= {n.pitch for n in plain.notes}
    shifted = transfer_polyphonic(cello, np.stack([audio, audio]), RATE, reverb=False,
                                  pitch_shift_semitones=-12)  # two channels: mixed to mono
    assert [n.pitch for n in shifted.notes] == [n.pitch for n in plain.notes]  # as transcribed
    assert len(shifted.voices) == len(plain.voices)
    low, high = (np.abs(np.fft.rfft(r.audio[: RATE // 2])) for r in (shifted, plain))
    freqs = np.fft.rfftfreq(RATE // 2, 1 / RATE)
    centroid = [float((freqs * s).sum() / s.sum()) for s in (low, high)]
    assert centroid[0] < centroid[1]  # an octave down sounds lower


def test_silence_has_no_notes_to_play(cello):
    with pytest.raises(UserError, match="no notes found in the audio"):
        transfer_polyphonic(cello, np.zeros(RATE, np.float32), RATE)
