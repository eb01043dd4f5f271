"""Notes sound when they are played: onsets after silence, as a player hears them.

Sixteen isolated notes at times that fall on no block or 20 ms frame boundary go through every
path that turns a note into sound; each note's onset is where the output's 2 ms RMS envelope
first rises half-way in dB from the silence before it to its peak
(:mod:`ddspkit.analysis.onsets`). The lags are in ms after the MIDI note-on, or for the audio
paths after the input's own onset measured the same way. The figures beside each bound are
what the code measured when the bound was set (Violin, 48 kHz).
"""

from __future__ import annotations

import pytest

import ddspkit
from ddspkit.analysis.onsets import onset_lags
from ddspkit.audio import write_audio
from ddspkit.render.signals import isolated_notes_midi
from ddspkit.render.soundfont import render_midi
from ddspkit.stream.files import stream_audio_file, stream_midi_file

RATE_HZ = 48000


@pytest.fixture(scope="module")
def violin():
    return ddspkit.load_model("Violin", "cpu")


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    path = tmp_path_factory.mktemp("onsets") / "notes.mid"
    starts_s, ends_s = isolated_notes_midi(path)
    return path, starts_s, ends_s


@pytest.fixture(scope="module")
def sampled(notes, tmp_path_factory):
    """FluidSynth's violin playing the notes: the input of the audio paths."""
    path, _, _ = notes
    wav = tmp_path_factory.mktemp("onsets") / "sampled.wav"
    audio = render_midi(path, sample_rate_hz=RATE_HZ)
    write_audio(wav, audio, RATE_HZ)
    return wav, audio


def test_render_sounds_each_note_at_its_note_on(violin, notes):
    path, starts_s, ends_s = notes
    lags = onset_lags(violin.render_midi(path, sample_rate_hz=RATE_HZ, reverb=False).audio, RATE_HZ,
                      starts_s, ends_s)
    assert lags.missed == 0
    assert -1.0 <= lags.median_ms <= 10.0, lags.lags_ms  # measured 0.2 ms (was 43 ms)
    assert lags.spread_ms <= 10.0, lags.lags_ms  # measured 2.6 ms (was 53 ms)


@pytest.mark.parametrize("block", [64, 256, 480])
def test_live_synth_sounds_each_note_at_its_note_on_and_declares_that_latency(violin, notes, block):
    path, starts_s, ends_s = notes
    streamed = stream_midi_file(path, violin, block_samples=block, sample_rate_hz=RATE_HZ, reverb=False)
    lags = onset_lags(streamed.audio, RATE_HZ, starts_s, ends_s)
    declared_ms = 1000 * streamed.latency_samples / RATE_HZ
    assert lags.missed == 0
    assert lags.median_ms <= 10.0, lags.lags_ms  # measured 0.9 ms at 64-sample blocks (was 52 ms)
    assert lags.spread_ms <= 10.0, lags.lags_ms  # measured 2.6 ms (was 63 ms)
    assert abs(lags.median_ms - declared_ms) <= 2.0, (lags.median_ms, declared_ms)


@pytest.mark.slow
def test_live_effect_follows_the_inputs_onsets(violin, notes, sampled):
    _, starts_s, ends_s = notes
    wav, reference = sampled
    streamed = stream_audio_file(wav, violin, block_samples=64, sample_rate_hz=RATE_HZ, reverb=False)
    lags = onset_lags(streamed.audio[: len(reference)], RATE_HZ, starts_s, ends_s, reference=reference)
    assert lags.missed == 0
    # measured 19.8 ms (the goal: 20 ms), where the declared (sustained) latency is
    # 31.2 ms; 27.8 ms while an attack waited for a clear pitch (18-43 ms into the violin's
    # samples), 38 ms while notes waited for the next 20 ms frame, 65 ms before the decoder
    # answered attacks at once
    assert lags.median_ms <= 21.0, lags.lags_ms


@pytest.mark.slow
def test_transfer_keeps_the_inputs_onsets(violin, notes, sampled):
    _, starts_s, ends_s = notes
    _, reference = sampled
    transferred = violin.transfer(reference, RATE_HZ, reverb=False).audio
    lags = onset_lags(transferred, RATE_HZ, starts_s, ends_s, reference=reference)
    assert lags.missed == 0
    assert abs(lags.median_ms) <= 10.0, lags.lags_ms  # measured -2.0 ms
