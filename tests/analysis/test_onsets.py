"""Perceived note onsets: the measure every latency figure of ddspkit rests on."""

from __future__ import annotations

import numpy as np

from ddspkit.analysis.onsets import note_onsets_s, onset_lags, rms_envelope_db

RATE = 48000


def bursts(starts_s: np.ndarray, attack_s: float = 0.0, length_s: float = 0.3, total_s: float = 6.0,
           noise_db: float = -90.0) -> np.ndarray:
    """Sine notes at ``starts_s`` with linear attacks, over a faint noise floor."""
    t = np.arange(int(total_s * RATE)) / RATE
    rng = np.random.default_rng(0)
    audio = 10 ** (noise_db / 20) * rng.standard_normal(len(t))
    for start in starts_s:
        inside = (t >= start) & (t < start + length_s)
        gain = np.clip((t - start) / attack_s, 0, 1) if attack_s > 0 else 1.0
        audio += np.where(inside, 0.3 * gain * np.sin(2 * np.pi * 440 * t), 0.0)
    return audio


STARTS = 0.3 + 0.35 * np.arange(16) + np.linspace(0, 0.013, 16)  # off any block grid


def test_the_envelope_reads_a_sine_at_its_rms_level():
    tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)
    level = rms_envelope_db(tone, RATE)[RATE // 2 :]
    assert np.allclose(level, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.1)
    assert rms_envelope_db(np.zeros(100), RATE).min() == -120.0


def test_sharp_onsets_are_found_within_a_millisecond():
    onsets = note_onsets_s(bursts(STARTS), RATE, STARTS, STARTS + 0.3)
    assert np.abs(onsets - STARTS).max() < 0.001


def test_a_delayed_copy_lags_by_its_delay_and_a_slow_attack_by_its_half_way_point():
    delayed = bursts(STARTS + 0.025)
    lags = onset_lags(delayed, RATE, STARTS, STARTS + 0.3)
    assert abs(lags.median_ms - 25.0) < 1.0 and lags.spread_ms < 1.0 and lags.missed == 0
    # A 40 ms linear attack from -90 dB to -13.5 dB crosses half-way (-52 dB) at 1.4 % of it.
    slow = onset_lags(bursts(STARTS, attack_s=0.04), RATE, STARTS, STARTS + 0.3)
    assert 0.0 < slow.median_ms < 3.0


def test_against_a_reference_the_lag_is_output_onset_minus_input_onset():
    source = bursts(STARTS + 0.004)
    output = bursts(STARTS + 0.004 + 0.031)
    lags = onset_lags(output, RATE, STARTS, STARTS + 0.3, reference=source)
    assert abs(lags.median_ms - 31.0) < 1.0


def test_a_note_that_never_sounds_is_missed_not_timed():
    present = STARTS[::2]
    lags = onset_lags(bursts(present), RATE, STARTS, STARTS + 0.3)
    assert lags.missed == 8
    assert abs(lags.median_ms) < 1.0
