"""Polyphonic audio in: transcription to notes, lead line, piano -> cello section."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch

import ddspkit
from conftest import cents
from ddspkit.analysis.features import extract_features
from ddspkit.dsp.losses import multiscale_spectral_loss
from ddspkit.errors import UserError
from ddspkit.midi import Note
from ddspkit.midi.transcription import Activations, decode_notes, lead_line_features, top_line

RATE = 22050
FRAME_S = 256 / 22050


def hz(pitch):
    return 440.0 * 2 ** ((pitch - 69) / 12)


def plucked(notes, rate=RATE, seconds=None):
    """A piano-like test signal: each (pitch, start_s, end_s) a decaying 6-harmonic tone."""
    end = seconds or max(e for _, _, e in notes) + 0.3
    audio = np.zeros(int(end * rate))
    for pitch, start, stop in notes:
        t = np.arange(int((stop - start) * rate)) / rate
        env = np.exp(-t * 2.5) * np.minimum(t / 0.005, 1) * np.minimum((stop - start - t) / 0.02, 1)
        tone = sum(np.sin(2 * np.pi * hz(pitch) * k * t) / k**2 for k in range(1, 7))
        audio[int(start * rate):int(start * rate) + len(t)] += 0.15 * env * tone
    return audio.astype(np.float32)


def activations_for(events, n_frames=200):
    """Activations with a note (and an onset peak at its start) for each (key, first, last)."""
    note = np.zeros((n_frames, 88), np.float32)
    onset = np.zeros((n_frames, 88), np.float32)
    for key, first, last, level in events:
        note[first:last, key] = level
        onset[first, key] = 0.9
    return Activations(np.arange(n_frames) * FRAME_S, note, onset)


# --- decoding, on made activations -----------------------------------------------------

def test_decoder_turns_onset_and_sustain_into_one_note():
    notes = decode_notes(activations_for([(39, 20, 80, 0.8)]))  # key 39 = MIDI 60
    assert len(notes) == 1
    n = notes[0]
    assert n.pitch == 60
    assert abs(n.start_s - 20 * FRAME_S) < 1e-6 and abs(n.end_s - 80 * FRAME_S) < 1e-6
    assert n.velocity == round(127 * 0.8)


def test_decoder_bridges_short_dips_and_drops_short_notes():
    acts = activations_for([(39, 20, 80, 0.8), (50, 100, 106, 0.8)])
    # A 5-frame dip below the 0.3 threshold (under the 11-frame tolerance), recovering
    # gradually: no new attack, so one note. (A sudden jump back would be a re-attack.)
    acts.note[50:58, 39] = [0.25, 0.25, 0.25, 0.25, 0.25, 0.4, 0.55, 0.7]
    notes = decode_notes(acts)
    assert [(n.pitch, round(n.start_s / FRAME_S), round(n.end_s / FRAME_S)) for n in notes] == [
        (60, 20, 80)]  # one note through the dip; the 6-frame blip (70 ms) is dropped
    assert len(decode_notes(acts, min_note_s=0.03)) == 2


def test_decoder_drops_weak_octave_ghost_and_respects_pitch_limits():
    acts = activations_for([(39, 20, 80, 0.9), (27, 21, 80, 0.4)])  # C4 and a weak C3
    assert [n.pitch for n in decode_notes(acts)] == [60]
    assert sorted(n.pitch for n in decode_notes(acts, octave_ghost_ratio=0)) == [48, 60]
    assert [n.pitch for n in decode_notes(acts, max_hz=200)] == [48]  # C4 is out of range


def test_top_line_follows_the_highest_sounding_note():
    notes = [Note(48, 0.0, 2.0, 90), Note(64, 0.5, 1.0, 90), Note(67, 1.0, 1.5, 90)]
    line = top_line(notes, 120, 50.0)
    assert line[10] == 48 and line[30] == 64 and line[60] == 67 and line[90] == 48
    assert np.isnan(line[110])
    # A weak note an octave above a strong one is its overtone, not the melody.
    ghost = Note(60, 0.0, 1.0, 30)
    assert top_line(notes + [ghost], 120, 50.0)[10] == 48
    assert top_line(notes + [Note(60, 0.0, 1.0, 80)], 120, 50.0)[10] == 60
    audio = plucked([(48, 0, 2.0)], rate=16000, seconds=2.4)
    feats = lead_line_features(audio, notes)
    assert feats.n_frames == len(audio) // 320 + 1
    assert abs(cents(feats.f0_hz[30], hz(64))) < 1
    assert feats.f0_confidence[110] == 0 and abs(cents(feats.f0_hz[110], hz(48))) < 1  # held
    # A lower voice showing for 40 ms between two melody notes does not pull the line down.
    gap = [Note(48, 0.0, 2.0, 90), Note(67, 0.0, 0.96, 90), Note(69, 1.0, 2.0, 90)]
    feats = lead_line_features(audio, gap)
    assert np.all(np.abs(cents(feats.f0_hz[40:50], hz(67))) < 1)
    assert abs(cents(feats.f0_hz[60], hz(69))) < 1


# --- the real model, on synthesized polyphony -------------------------------------------

CHORDS = [(60, 64, 67), (57, 60, 65), (55, 59, 62, 67)]


def chord_notes():
    return [(p, 0.1 + 0.8 * i, 0.1 + 0.8 * i + 0.7) for i, chord in enumerate(CHORDS) for p in chord]


def piano_chords(rate=RATE):
    """The chords played on FluidSynth's sampled piano."""
    from ddspkit.render.soundfont import render_notes

    return render_notes([(p, s, e, 90) for p, s, e in chord_notes()], program=0, sample_rate_hz=rate)


def test_transcribes_piano_chords():
    reference = chord_notes()
    notes = ddspkit.transcribe(piano_chords(), RATE)
    for pitch, start, _ in reference:  # every chord tone, its onset within 50 ms
        assert any(n.pitch == pitch and abs(n.start_s - start) < 0.05 for n in notes), pitch
    # A sampled piano also gives the network some weak octave ghosts; few of them.
    assert len(notes) <= len(reference) + 3
    assert all(1 <= n.velocity <= 127 and n.end_s > n.start_s for n in notes)


def test_transcription_of_silence_is_empty_and_polyphonic_transfer_says_so():
    assert ddspkit.transcribe(np.zeros(RATE * 2, np.float32), RATE) == []
    with pytest.raises(UserError, match="no notes"):
        ddspkit.load_model("Cello").transfer_polyphonic(np.zeros(RATE, np.float32), RATE)


def test_transcribe_cli_writes_midi_and_rejects_bad_input(tmp_path):
    wav = tmp_path / "chords.wav"
    sf.write(wav, piano_chords(), RATE)
    out = tmp_path / "chords.mid"
    done = subprocess.run([sys.executable, "-m", "ddspkit.cli", "transcribe", str(wav), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    midi = pretty_midi.PrettyMIDI(str(out))
    written = midi.instruments[0].notes
    assert f"{len(written)} notes" in " ".join(done.stdout.split())  # rich wraps lines
    assert {p for p, _, _ in chord_notes()} <= {n.pitch for n in written}
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00junk")
    bad = subprocess.run([sys.executable, "-m", "ddspkit.cli", "transcribe", str(broken), "-o",
                          str(tmp_path / "b.mid")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "broken.wav" in bad.stderr
    assert not (tmp_path / "b.mid").exists()


def test_polyphonic_transfer_plays_every_chord_tone(tmp_path):
    wav = tmp_path / "chords.wav"
    sf.write(wav, piano_chords(), RATE)
    out = tmp_path / "section.wav"
    done = subprocess.run([sys.executable, "-m", "ddspkit.cli", "transfer", str(wav), "-m", "Cello",
                           "-o", str(out), "--mode", "polyphonic", "--plot", str(tmp_path / "p.png")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out)
    assert rate == RATE and len(audio) == len(sf.read(wav)[0])
    assert (tmp_path / "p.png").stat().st_size > 10_000
    for i, chord in enumerate(CHORDS):
        start = 0.1 + 0.8 * i
        segment = audio[int((start + 0.2) * rate):int((start + 0.65) * rate)]
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
        freqs = np.fft.rfftfreq(len(segment), 1 / rate)
        for pitch in chord:
            band = np.abs(freqs - hz(pitch)) < hz(pitch) * 0.015
            assert spectrum[band].max() > 20 * np.median(spectrum), (i, pitch)


def test_lead_line_mode_follows_the_top_voice():
    audio = piano_chords()
    cello = ddspkit.load_model("Cello")
    result = cello.transfer(audio, RATE, lead_line=True, reverb=False)
    shift = result.adjustment.pitch_shift_semitones
    out = extract_features(ddspkit.audio.resample(result.audio, RATE, 16000))
    for i, chord in enumerate(CHORDS):
        frames = slice(int((0.1 + 0.8 * i + 0.15) * 50), int((0.1 + 0.8 * i + 0.6) * 50))
        voiced = out.voiced[frames]
        assert voiced.mean() > 0.8
        error = cents(out.f0_hz[frames][voiced], hz(max(chord) + shift))
        assert abs(np.median(error)) < 20, (i, np.median(error))


# --- real piano (FluidSynth), against the score ------------------------------------------

def chorale_notes(name="bach/bwv66.6", bpm=80):
    """Every note of a four-part chorale as (pitch, start_s, end_s, velocity)."""
    import music21

    notes = []
    for part in music21.corpus.parse(name).parts:
        for n in part.flatten().notes:
            for p in (n.pitches if n.isChord else [n.pitch]):
                start = float(n.offset) * 60 / bpm
                notes.append((p.midi, start, start + float(n.quarterLength) * 60 / bpm - 0.02, 80))
    return sorted(notes, key=lambda n: n[1])


@pytest.mark.slow
def test_piano_chorale_to_cello_section_keeps_the_notes():
    import mir_eval

    from ddspkit.render.soundfont import render_notes

    notes = chorale_notes()
    piano = render_notes(notes, program=0, sample_rate_hz=16000)
    result = ddspkit.load_model("Cello").transfer_polyphonic(piano, 16000, reverb=False)
    ref_intervals = np.array([[s, e] for _, s, e, _ in notes])
    ref_hz = np.array([hz(p) for p, _, _, _ in notes])
    est_intervals = np.array([[n.start_s, n.end_s] for n in result.notes])
    est_hz = np.array([hz(n.pitch) for n in result.notes])
    precision, recall, _, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_hz, est_intervals, est_hz, offset_ratio=None)  # onsets within 50 ms
    assert precision > 0.75 and recall > 0.85, (precision, recall)
    # It sounds like the cello rendering of the score, not like the piano it came from.
    cello = render_notes(notes, program=42, sample_rate_hz=16000)
    n = min(len(piano), len(cello), len(result.audio))

    def distance(a, b):
        a, b = (x[:n] / np.sqrt(np.mean(x[:n] ** 2)) for x in (a, b))
        return float(multiscale_spectral_loss(torch.from_numpy(a.astype(np.float32))[None],
                                              torch.from_numpy(b.astype(np.float32))[None]))

    assert distance(result.audio, cello) < 0.85 * distance(result.audio, piano)
