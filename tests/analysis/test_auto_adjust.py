"""Auto-adjust's rules, directly: octaves into a model's range, loudness through its quantiles.

Transfer relies on them for every input; these tests pin each rule on made-up statistics
(``DatasetStatistics.from_range_box``: pitch and power spread evenly over a box).
"""

from __future__ import annotations

import numpy as np
import pytest

from ddspkit.analysis.features import Features
from ddspkit.analysis.statistics import DatasetStatistics, octave_shift_into_range, quantile_map
from ddspkit.dsp.core import hz_to_midi, midi_to_hz
from ddspkit.render.transfer import MAX_MIDI, QUIET_DB, adjust_features


def box(low_midi: float, high_midi: float, low_db: float = -40.0, high_db: float = -10.0
        ) -> DatasetStatistics:
    return DatasetStatistics.from_range_box(float(midi_to_hz(low_midi)), float(midi_to_hz(high_midi)),
                                            low_db, high_db)


CELLO = box(36, 72)  # C2..C5, mean MIDI 54


def performance(pitch_midi: np.ndarray, power_db: np.ndarray, voiced: bool = True) -> Features:
    confidence = np.full(len(pitch_midi), 0.9 if voiced else 0.1, np.float32)
    return Features(midi_to_hz(pitch_midi).astype(np.float32), confidence, power_db.astype(np.float32))


def test_a_line_far_above_the_range_moves_down_by_whole_octaves():
    soprano = np.full(200, 79.0)  # G5, two octaves above the cello's mean
    assert octave_shift_into_range(soprano, CELLO) == -2


def test_a_line_already_in_the_range_stays_even_if_the_mean_would_move_it():
    bass = np.full(200, 40.0)  # E2: in the cello's range, an octave below its mean
    assert octave_shift_into_range(bass, box(30, 90)) == 0  # mean 60: by the mean it would go up


def test_quantile_map_is_monotonic_continuous_and_maps_quantiles_onto_quantiles():
    source, target = np.array([-60.0, -40.0, -20.0]), np.array([-30.0, -20.0, -5.0])
    values = np.linspace(-80, 0, 161)
    mapped = quantile_map(values, source, target)
    assert np.all(np.diff(mapped) >= 0)
    assert np.allclose(quantile_map(source, source, target), target)
    assert np.abs(np.diff(mapped)).max() < 1.0  # no jump at the ends: carried by offsets
    assert quantile_map(np.array([-70.0]), source, target)[0] == pytest.approx(-40.0)


def test_note_on_loudness_lands_in_the_models_range_and_note_off_frames_are_lowered():
    rng = np.random.default_rng(0)
    n = 400
    pitch = np.full(n, 55.0)
    power = np.where(np.arange(n) % 100 < 70, rng.uniform(-70, -55, n), -78.0)  # quiet, with gaps
    adjusted, adjustment = adjust_features(performance(pitch, power), CELLO)
    on = power > -75
    assert -40 - 1 <= float(np.median(adjusted.power_db[on])) <= -10 + 1
    moved_db = np.median(adjusted.power_db[on] - power[on])
    assert adjustment.loudness_auto_db == pytest.approx(moved_db, abs=1e-3)
    assert adjustment.loudness_auto_db > 20  # a quiet recording is raised
    lowered = adjusted.power_db[~on].max()
    assert lowered <= quantile_map(np.array([-78.0]), np.quantile(power[on], np.linspace(0, 1, 101)),
                                   np.asarray(CELLO.power_quantiles_db))[0] - QUIET_DB * 0.25
    assert adjustment.loudness_text().startswith("loudness auto +")


def test_manual_shifts_apply_after_auto_and_pitch_is_capped_below_aliasing():
    pitch, power = np.full(100, 55.0), np.full(100, -20.0)
    _, auto = adjust_features(performance(pitch, power), CELLO)
    adjusted, manual = adjust_features(performance(pitch, power), CELLO, pitch_shift_semitones=3,
                                       loudness_shift_db=-6)
    assert manual.pitch_shift_semitones == 12 * manual.octave_shift + 3
    assert np.median(hz_to_midi(adjusted.f0_hz)) == pytest.approx(55 + 3, abs=0.01)
    assert manual.loudness_text() == f"loudness auto {auto.loudness_auto_db:+.0f} dB, then -6 dB"
    high, _ = adjust_features(performance(np.full(100, 100.0), power), None, pitch_shift_semitones=24)
    assert hz_to_midi(high.f0_hz).max() == pytest.approx(MAX_MIDI, abs=0.01)


def test_without_statistics_or_notes_nothing_moves():
    pitch, power = np.full(100, 90.0), np.full(100, -30.0)
    adjusted, adjustment = adjust_features(performance(pitch, power), None)
    assert adjustment.octave_shift == 0 and adjustment.loudness_auto_db == 0.0
    assert np.allclose(adjusted.power_db, power)
    unvoiced, nothing = adjust_features(performance(pitch, power, voiced=False), CELLO)
    assert nothing.octave_shift == 0 and np.allclose(unvoiced.power_db, power)
    _, off = adjust_features(performance(pitch, power), CELLO, auto=False)
    assert off.loudness_text() == "loudness as is"
