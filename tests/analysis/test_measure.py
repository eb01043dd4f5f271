"""A rendering's or a recording's expression gathered per aspect, as a profile is learned."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from test_expression import VIBRATO_NOTES, render

from ddspkit.analysis.measure import SHOWN_ASPECTS, gather, measure_expression, merge
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.midi import Note

NAN = float("nan")


def note(depth: float, rate: float = NAN, onset: float = NAN, attack: float = NAN,
         release: float = NAN) -> SimpleNamespace:
    return SimpleNamespace(vibrato_depth_cents=depth, vibrato_rate_hz=rate, vibrato_onset_s=onset,
                           attack_s=attack, release_s=release)


def test_vibrato_is_read_only_from_notes_that_carry_one_as_a_profile_is_learned():
    notes = [note(30.0, 6.0, 0.2, attack=0.05), note(2.0, attack=0.08, release=0.2),  # no vibrato
             note(NAN, release=0.1),  # too short to show one
             note(20.0, 5.0, 0.3)]
    measured = gather(notes)
    assert (measured.n_notes, measured.n_long, measured.n_vibrato) == (4, 3, 2)
    assert measured.vibrato_share == pytest.approx(2 / 3)
    assert sorted(measured.values["vibrato_depth_cents"]) == [20.0, 30.0]  # not the 2-cent note
    assert measured.median("vibrato_rate_hz") == pytest.approx(5.5)
    assert sorted(measured.values["attack_s"]) == [0.05, 0.08]
    assert measured.count("release_s") == 2 and measured.median("release_s") == pytest.approx(0.15)
    both = merge([measured, gather([note(40.0, 7.0, 0.1)])])
    assert (both.n_notes, both.n_long, both.n_vibrato) == (5, 4, 3)
    assert both.median("vibrato_rate_hz") == pytest.approx(6.0)
    assert np.isnan(gather([]).vibrato_share) and np.isnan(gather([]).median("attack_s"))


@pytest.mark.parametrize("with_score", [True, False])
def test_a_take_of_known_vibrato_measures_as_played(with_score):
    audio = render(VIBRATO_NOTES, 5.8)  # 6, 6 and 7 Hz vibrato of 30, 30, 45 cents, one plain note
    score = [Note(n.pitch, n.start_s, n.end_s + 0.02, 90) for n in VIBRATO_NOTES]
    measured = measure_expression(audio, score if with_score else None)
    assert (measured.n_notes, measured.n_long, measured.n_vibrato) == (4, 4, 3)
    assert np.sort(measured.values["vibrato_rate_hz"]) == pytest.approx([6.0, 6.0, 7.0], abs=0.1)
    assert np.sort(measured.values["vibrato_depth_cents"]) == pytest.approx([30, 30, 45], rel=0.05)
    assert measured.count("attack_s") == 4 and measured.count("release_s") == 4


@pytest.mark.parametrize("audio", [np.zeros(0), np.zeros(100), np.zeros(2 * SAMPLE_RATE_HZ)])
def test_silence_or_no_audio_shows_no_expression(audio):
    measured = measure_expression(audio, [Note(60, 0.2, 1.5, 90)])
    assert all(measured.count(aspect) == 0 for aspect in SHOWN_ASPECTS)
    assert measured.n_vibrato == 0
