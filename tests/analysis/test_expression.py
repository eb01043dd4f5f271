"""Expression measured per note, checked against signals whose expression is known.

Two kinds of checks: fast ones on synthetic pitch and power tracks (milliseconds, no pitch
tracker), and ones on rendered audio through the real features (swift-f0), each take built once.
The truth of a straight glide or a linear attack/release ramp lasting D is its 10 % to 90 % time,
0.8 D.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest

from ddspkit.analysis.expression import (
    measure_notes,
    refine_f0_hz,
    segment_notes,
    sounding_frames,
)
from ddspkit.analysis.features import extract_features, power_db
from ddspkit.config import FRAME_RATE_HZ, HOP_SAMPLES, SAMPLE_RATE_HZ

# ------------------------------------------------------------------------------------------------
# Synthetic audio of known expression


@dataclass
class Played:
    """A note as played: pitch (MIDI), when, and how."""

    pitch: float
    start_s: float  # a slurred note's glide is centred here
    end_s: float  # its release starts here (unless the next note is slurred from it)
    attack_s: float = 0.02  # linear ramps from/to silence
    release_s: float = 0.05
    slurred: bool = False
    glide_s: float = 0.0  # the whole straight glide from the previous note (slurred notes)
    vibrato_hz: float = 0.0
    vibrato_cents: float = 0.0  # half the peak-to-peak extent
    vibrato_start_s: float = 0.25  # after the note's start
    vibrato_ramp_s: float = 0.0  # to full depth: half depth at start + ramp / 2
    scoop_cents: float = 0.0  # held for the first 80 ms, back to pitch over the next 40 ms


def vibrato_cents(note: Played, times_s: np.ndarray) -> np.ndarray:
    since = times_s - note.start_s - note.vibrato_start_s
    ramp = np.clip(since / note.vibrato_ramp_s, 0, 1) if note.vibrato_ramp_s > 0 else 1.0 * (since >= 0)
    return note.vibrato_cents * ramp * np.sin(2 * np.pi * note.vibrato_hz * np.maximum(since, 0))


def pitch_and_amplitude(notes: list[Played], times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The played pitch (MIDI, fractional) and linear amplitude at ``times_s``."""
    midi = np.full(len(times_s), float(notes[0].pitch))
    cents, amplitude = np.zeros(len(times_s)), np.zeros(len(times_s))
    for i, note in enumerate(notes):
        slurred_on = i + 1 < len(notes) and notes[i + 1].slurred
        stop_s = notes[i + 1].start_s if slurred_on else note.end_s + note.release_s
        inside = (times_s >= note.start_s) & (times_s < stop_s)
        since = times_s[inside] - note.start_s
        midi[inside] = note.pitch
        cents[inside] = (vibrato_cents(note, times_s[inside])
                         + note.scoop_cents * np.clip(1 - (since - 0.08) / 0.04, 0, 1))
        attack = 1.0 if note.slurred else np.clip(since / note.attack_s, 0, 1)
        release = 1.0 if slurred_on else np.clip(1 - (times_s[inside] - note.end_s) / note.release_s, 0, 1)
        amplitude[inside] = attack * release
    for previous, note in zip(notes[:-1], notes[1:], strict=True):
        if note.slurred and note.glide_s > 0:
            since = times_s - (note.start_s - note.glide_s / 2)
            gliding = (since >= 0) & (since < note.glide_s)
            midi[gliding] = previous.pitch + (note.pitch - previous.pitch) * since[gliding] / note.glide_s
            cents[gliding] = 0.0
    return midi + cents / 100, amplitude


def render(notes: list[Played], total_s: float) -> np.ndarray:
    """[T] 16 kHz audio: a tone of up to 8 harmonics (1/k; none over 7.5 kHz) playing ``notes``."""
    times_s = np.arange(int(round(total_s * SAMPLE_RATE_HZ))) / SAMPLE_RATE_HZ
    midi, amplitude = pitch_and_amplitude(notes, times_s)
    f0_hz = 440.0 * 2 ** ((midi - 69) / 12)
    phase = 2 * np.pi * np.cumsum(f0_hz) / SAMPLE_RATE_HZ
    tone = sum(np.where(k * f0_hz < 7500, np.sin(k * phase) / k, 0.0) for k in range(1, 9))
    return (0.3 * amplitude * tone).astype(np.float32)


def tracks(notes: list[Played], total_s: float, noise_cents: float = 1.0, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic features at 50 frames/s (f0_hz, power_db, voiced), as a perfect tracker with
    ``noise_cents`` of jitter would read ``notes``: voiced where the amplitude is over 1 %."""
    n_frames = int(round(total_s * SAMPLE_RATE_HZ)) // HOP_SAMPLES + 1  # as extract_features
    times_s = np.arange(n_frames) / FRAME_RATE_HZ
    midi, amplitude = pitch_and_amplitude(notes, times_s)
    midi += np.random.default_rng(seed).normal(0, noise_cents / 100, len(times_s))
    voiced = amplitude > 0.01
    level_db = np.maximum(20 * np.log10(np.maximum(0.3 * amplitude, 1e-6)), -80.0)
    return 440.0 * 2 ** ((midi - 69) / 12), level_db, voiced


def as_tuples(notes: list[Played], tail_s: float = 0.0) -> list[tuple[float, float, float]]:
    """The score of ``notes``: (pitch, start_s, end_s + tail_s)."""
    return [(n.pitch, n.start_s, n.end_s + tail_s) for n in notes]


def within(measured: float, truth: float, tolerance: float) -> bool:
    return abs(measured - truth) <= tolerance


# ------------------------------------------------------------------------------------------------
# Fast: synthetic pitch and power tracks


@pytest.mark.parametrize("rate_hz", [4.5, 5.5, 6.3, 7.7])
def test_vibrato_rate_and_depth_on_a_one_second_note(rate_hz):
    note = Played(60, 0.2, 1.2, vibrato_hz=rate_hz, vibrato_cents=30, vibrato_start_s=0.0)
    [measured] = measure_notes(*tracks([note], 1.5), as_tuples([note]))
    assert within(measured.vibrato_rate_hz, rate_hz, 0.05)
    assert within(measured.vibrato_depth_cents, 30, 1.5)


@pytest.mark.parametrize("start_s, ramp_s", [(0.25, 0.0), (0.25, 0.2), (0.5, 0.1)])
def test_vibrato_onset_is_where_it_reaches_half_its_depth(start_s, ramp_s):
    note = Played(62, 0.2, 1.4, vibrato_hz=6.0, vibrato_cents=30, vibrato_start_s=start_s,
                  vibrato_ramp_s=ramp_s)
    [measured] = measure_notes(*tracks([note], 1.7), as_tuples([note]))
    assert within(measured.vibrato_onset_s, start_s + ramp_s / 2, 0.03)
    assert within(measured.vibrato_depth_cents, 30, 1.5)  # the full depth, not the average


def test_a_steady_note_has_a_depth_of_a_few_cents_and_no_rate():
    note = Played(57, 0.2, 1.2)
    for seed in range(5):
        [measured] = measure_notes(*tracks([note], 1.5, noise_cents=2.0, seed=seed), as_tuples([note]))
        assert measured.vibrato_depth_cents < 2.0
        assert np.isnan(measured.vibrato_rate_hz) and np.isnan(measured.vibrato_onset_s)


def test_notes_too_short_for_vibrato_report_none():
    note = Played(60, 0.2, 0.5, vibrato_hz=6.0, vibrato_cents=30, vibrato_start_s=0.0)
    [measured] = measure_notes(*tracks([note], 0.8), as_tuples([note]))
    assert np.isnan(measured.vibrato_depth_cents) and np.isnan(measured.vibrato_rate_hz)
    assert measured.duration_s == pytest.approx(0.3)


@pytest.mark.parametrize("glide_s", [0.05, 0.1, 0.2])
def test_glides_between_slurred_notes_with_vibrato(glide_s):
    vibrato = dict(vibrato_hz=6.0, vibrato_cents=30, vibrato_start_s=0.15)
    notes = [Played(60, 0.2, 0.9, **vibrato), Played(63, 0.9, 1.6, slurred=True, glide_s=glide_s, **vibrato),
             Played(61, 1.6, 2.3, slurred=True, glide_s=glide_s, **vibrato)]
    measured = measure_notes(*tracks(notes, 2.6), as_tuples(notes))
    assert [m.slurred for m in measured] == [False, True, True]
    assert np.isnan(measured[0].glide_s)
    for m in measured[1:]:
        assert within(m.glide_s, 0.8 * glide_s, 0.015)
        assert np.isnan(m.attack_s) and np.isnan(m.scoop_cents)
    # the glides are left out of the vibrato: the middle note's, between two, is still exact
    assert within(measured[1].vibrato_depth_cents, 30, 2.0)
    assert within(measured[1].vibrato_rate_hz, 6.0, 0.15)


def test_scoop_is_the_start_pitch_against_the_note():
    notes = [Played(60, 0.2, 0.8, scoop_cents=-50), Played(64, 1.0, 1.6),
             Played(62, 1.8, 2.4, scoop_cents=30)]
    measured = measure_notes(*tracks(notes, 2.7), as_tuples(notes))
    assert [round(m.scoop_cents / 5) * 5 for m in measured] == [-50, 0, 30]
    assert all(not m.slurred for m in measured)


def test_level_and_its_slope_within_a_note():
    f0_hz = np.full(100, 220.0)
    level_db = np.where(np.arange(100) < 10, -80.0, -30.0 + 8.0 * (np.arange(100) - 10) / FRAME_RATE_HZ)
    voiced = level_db > -80
    [measured] = measure_notes(f0_hz, level_db, voiced, [(57, 0.2, 2.0)])
    assert within(measured.level_slope_db_per_s, 8.0, 0.01)
    assert within(measured.level_db, float(np.median(level_db[10:100])), 1e-6)


def test_attack_and_release_from_the_frames_are_coarse():
    """Without the audio, the 64 ms power frames read a 150 ms ramp roughly and a 4 ms one as
    about 60 ms; the audio's envelope reads both (the audio tests below)."""
    notes = [Played(57, 0.2, 0.8, attack_s=0.005, release_s=0.005),
             Played(60, 1.2, 1.8, attack_s=0.15, release_s=0.15)]
    audio = render(notes, 2.2)
    f0_hz, _, voiced = tracks(notes, 2.2)
    fast, slow = measure_notes(f0_hz, power_db(audio), voiced, as_tuples(notes, 0.05))
    assert fast.attack_s < 0.07 and fast.release_s < 0.07
    assert within(slow.attack_s, 0.12, 0.025) and within(slow.release_s, 0.12, 0.025)


@pytest.mark.parametrize("ramps_s", [(0.03, 0.06), (0.08, 0.12), (0.15, 0.2), (0.005, 0.01)])
def test_attack_and_release_from_the_audio_envelope(ramps_s):
    attack_s, release_s = ramps_s
    note = Played(62, 0.3, 0.9, attack_s=attack_s, release_s=release_s)
    audio = render([note], 1.4)
    f0_hz, _, voiced = tracks([note], 1.4)
    [measured] = measure_notes(f0_hz, power_db(audio), voiced, as_tuples([note], 0.05), audio)
    assert within(measured.attack_s, 0.8 * attack_s, max(0.08 * attack_s, 0.003))
    assert within(measured.release_s, 0.8 * release_s, max(0.08 * release_s, 0.003))


@pytest.mark.parametrize("pitch", [45, 58, 84])
def test_refined_pitch_is_the_audio_s_not_the_tracker_s(pitch):
    note = Played(pitch, 0.2, 1.2, vibrato_hz=6.0, vibrato_cents=15, vibrato_start_s=0.0)
    audio = render([note], 1.5)
    truth_hz, _, voiced = tracks([note], 1.5, noise_cents=0.0)
    tracker_hz = truth_hz * 2 ** (40 / 1200)  # 40 cents sharp: the search spans a semitone
    refined_hz = refine_f0_hz(audio, tracker_hz, voiced)
    inside = np.arange(13, 58)  # the note, away from its first and last frames
    # within 2 cents of the pitch at the frame's centre (a 9 ms period averages a little of
    # the vibrato's movement at 110 Hz); swift-f0 alone reads this vibrato as about 9 cents at 58
    assert np.abs(1200 * np.log2(refined_hz[inside] / truth_hz[inside])).max() < 2.0
    assert np.isnan(refined_hz[~voiced]).all()
    assert np.isnan(refine_f0_hz(np.zeros_like(audio), tracker_hz, voiced)).all()


def test_score_notes_as_tuples_or_objects_measure_alike_and_slurs_are_heard():
    @dataclass
    class ScoreNote:  # as ddspkit.midi.score.Note, which this layer does not import
        pitch: int
        start_s: float
        end_s: float
        velocity: int = 100

    notes = [Played(60, 0.2, 0.8), Played(62, 0.8, 1.4, slurred=True, glide_s=0.05),
             Played(64, 1.6, 2.2)]
    features = tracks(notes, 2.5)
    from_tuples = measure_notes(*features, as_tuples(notes))
    from_objects = measure_notes(*features, [ScoreNote(n.pitch, n.start_s, n.end_s) for n in notes])
    np.testing.assert_equal([vars(m) for m in from_tuples], [vars(m) for m in from_objects])
    assert [m.slurred for m in from_tuples] == [False, True, False]
    assert [round(m.pitch_midi, 1) for m in from_tuples] == [60, 62, 64]


def melody(depth_cents: float, rate_hz: float) -> list[Played]:
    vibrato = dict(vibrato_hz=rate_hz, vibrato_cents=depth_cents, vibrato_start_s=0.1)
    return [Played(60, 0.2, 0.8, **vibrato), Played(62, 0.8, 1.4, slurred=True, glide_s=0.1, **vibrato),
            Played(65, 1.6, 2.2, **vibrato), Played(69, 2.2, 2.7, slurred=True, glide_s=0.02, **vibrato),
            Played(67, 2.7, 3.4, slurred=True, glide_s=0.15, **vibrato), Played(62, 3.6, 4.2, **vibrato),
            Played(64, 4.2, 4.5, slurred=True, glide_s=0.04, **vibrato)]


@pytest.mark.parametrize("depth_cents, rate_hz", [(0, 6), (30, 5), (30, 6), (50, 5.5), (50, 6.5), (50, 8)])
def test_segmentation_finds_each_note_once_and_vibrato_splits_none(depth_cents, rate_hz):
    notes = melody(depth_cents, rate_hz)
    found = segment_notes(*tracks(notes, 4.8))
    assert len(found) == len(notes)
    starts_error_s = np.abs([f.start_s - n.start_s for f, n in zip(found, notes, strict=True)])
    assert starts_error_s.max() <= 0.02 + 1e-9
    assert [f.slurred for f in found] == [n.slurred for n in notes]
    # a median over two cycles of +-50 cents is a little off the centre
    assert np.abs([f.pitch_midi - n.pitch for f, n in zip(found, notes, strict=True)]).max() < 0.25


def test_a_slow_glide_splits_once_at_its_middle():
    notes = [Played(60, 0.2, 1.0), Played(64, 1.0, 1.8, slurred=True, glide_s=0.3)]
    found = segment_notes(*tracks(notes, 2.1))
    assert len(found) == 2 and found[1].slurred
    assert within(found[1].start_s, 1.0, 0.02)


def test_silence_splits_a_tracker_dropout_does_not_and_blips_are_not_notes():
    f0_hz, level_db, voiced = tracks([Played(60, 0.2, 1.0), Played(60, 1.1, 1.8)], 2.2)
    voiced[30] = False  # the tracker loses one frame inside the first note
    voiced[100:102] = True  # two frames of a blip after the second
    level_db[100:102] = -20.0
    found = segment_notes(f0_hz, level_db, voiced)
    assert [(round(f.start_s, 2), f.slurred) for f in found] == [(0.21, False), (1.11, False)]
    assert sounding_frames(level_db, voiced)[30]


def test_nothing_sounding_gives_no_notes():
    silent = np.zeros(50)
    assert segment_notes(silent, np.full(50, -80.0), silent > 0) == []
    assert measure_notes(silent, np.full(50, -80.0), silent > 0, []) == []


# ------------------------------------------------------------------------------------------------
# Rendered audio through the real features (swift-f0)


VIBRATO_NOTES = [Played(57, 0.2, 1.4, vibrato_hz=6.0, vibrato_cents=30),
                 Played(60, 1.7, 2.9, vibrato_hz=6.0, vibrato_cents=30, vibrato_ramp_s=0.2),
                 Played(64, 3.2, 4.4, vibrato_hz=7.0, vibrato_cents=45),
                 Played(55, 4.7, 5.5)]
ATTACK_NOTES = [Played(57, 0.2, 0.8, attack_s=0.03, release_s=0.06, scoop_cents=-50),
                Played(62, 1.2, 1.8, attack_s=0.08, release_s=0.12),
                Played(60, 2.3, 2.9, attack_s=0.15, release_s=0.2),
                Played(65, 3.4, 3.9, attack_s=0.005, release_s=0.01, scoop_cents=30)]
VIBRATO = dict(vibrato_hz=6.0, vibrato_cents=30, vibrato_start_s=0.15)
MELODY = [Played(60, 0.2, 0.8, **VIBRATO), Played(62, 0.8, 1.4, slurred=True, glide_s=0.1, **VIBRATO),
          Played(65, 1.6, 2.2, **VIBRATO), Played(67, 2.2, 2.8, slurred=True, glide_s=0.1, **VIBRATO),
          Played(64, 2.8, 3.4, slurred=True, glide_s=0.1875, **VIBRATO), Played(62, 3.6, 4.3, **VIBRATO)]
TAKES = {"vibrato": (VIBRATO_NOTES, 5.8), "attack": (ATTACK_NOTES, 4.3), "melody": (MELODY, 4.6)}


@functools.cache
def take(name: str):
    """((f0_hz, power_db, voiced), audio) of a rendered take, through the real features."""
    notes, total_s = TAKES[name]
    audio = render(notes, total_s)
    features = extract_features(audio, sharpen=False)
    return (features.f0_hz, features.power_db, features.voiced), audio


@pytest.mark.parametrize("segmented", [False, True])
def test_vibrato_of_rendered_notes(segmented):
    features, audio = take("vibrato")
    notes = segment_notes(*features) if segmented else as_tuples(VIBRATO_NOTES, 0.02)
    measured = measure_notes(*features, notes, audio)
    assert len(measured) == len(VIBRATO_NOTES)
    for m, note in zip(measured[:3], VIBRATO_NOTES, strict=False):
        assert within(m.vibrato_rate_hz, note.vibrato_hz, 0.1)
        assert within(m.vibrato_depth_cents, note.vibrato_cents, 0.05 * note.vibrato_cents)
        truth_onset_s = note.vibrato_start_s + note.vibrato_ramp_s / 2 + note.start_s - m.start_s
        assert within(m.vibrato_onset_s, truth_onset_s, 0.03)
    plain = measured[3]
    assert plain.vibrato_depth_cents < 1.0 and np.isnan(plain.vibrato_rate_hz)
    assert all(abs(m.scoop_cents) < 3 for m in measured)


def test_attack_release_and_scoop_of_rendered_notes():
    features, audio = take("attack")
    found = segment_notes(*features)
    assert len(found) == len(ATTACK_NOTES)
    for m, note in zip(measure_notes(*features, found, audio), ATTACK_NOTES, strict=True):
        assert within(m.attack_s, 0.8 * note.attack_s, max(0.1 * note.attack_s, 0.003))
        assert within(m.release_s, 0.8 * note.release_s, max(0.1 * note.release_s, 0.003))
        assert within(m.scoop_cents, note.scoop_cents, 5.0)


def test_rendered_melody_is_segmented_note_for_note():
    found = segment_notes(*take("melody")[0])
    assert len(found) == len(MELODY)
    assert max(abs(f.start_s - n.start_s) for f, n in zip(found, MELODY, strict=True)) <= 0.02
    assert [f.slurred for f in found] == [n.slurred for n in MELODY]


def test_glides_and_vibrato_of_a_rendered_melody():
    features, audio = take("melody")
    for notes in (segment_notes(*features), as_tuples(MELODY)):
        for m, note in zip(measure_notes(*features, notes, audio), MELODY, strict=True):
            if note.slurred:
                assert within(m.glide_s, 0.8 * note.glide_s, 0.01)
            else:
                assert np.isnan(m.glide_s)
            assert within(m.vibrato_depth_cents, 30, 1.5) and within(m.vibrato_rate_hz, 6.0, 0.1)

