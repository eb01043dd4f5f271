"""compare's measures as rows: the pitch track for one line, notes for polyphony; and the
model's expression profile beside what each rendering played."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ddspkit.analysis.profile import LITERATURE
from ddspkit.io.models import bundled_model
from ddspkit.render.compare import Comparison
from ddspkit.render.evaluate import NoteScores
from ddspkit.report.compare import expression_rows, measure_rows

PATHS = dict(model_path=Path("a.wav"), sampler_path=Path("b.wav"), figure_path=Path("c.png"))


def test_a_monophonic_line_is_measured_by_its_pitch_track():
    result = Comparison(**PATHS, polyphonic=False, spectral_distance=4.2, loudness_l1_db=1.234,
                        level_gain_db=-3.04, f0_l1_semitones=0.0916, f0_outlier_share=0.0123)
    headers, rows = measure_rows(result)
    assert headers == ["measure (model vs sample-based, one line)", "value"]
    assert dict(rows) == {"multi-scale spectral distance": "4.200", "loudness L1": "1.23 dB",
                          "f0 L1 (frames voiced in both)": "0.092 semitones",
                          "f0 outliers > 12 semitones": "1.23 %",
                          "level match applied to the sample-based file": "-3.0 dB"}


def test_polyphony_is_measured_by_notes_one_column_per_rendering():
    notes = {"model": NoteScores(0.9, 0.8, 0.847, 40, 36, 0.031),
             "sample-based": NoteScores(1.0, 0.95, 0.974, 40, 38, 0.012)}
    result = Comparison(**PATHS, polyphonic=True, spectral_distance=5.0, loudness_l1_db=2.0,
                        level_gain_db=1.0, notes=notes)
    headers, rows = measure_rows(result)
    assert headers == ["measure (polyphonic: notes sound together)", "model", "sample-based"]
    assert all(len(row) == 3 for row in rows)
    by_measure = {row[0]: row[1:] for row in rows}
    assert by_measure["note F1 vs the MIDI (onsets within 50 ms)"] == ["0.847", "0.974"]
    assert by_measure["notes transcribed / in the MIDI"] == ["36 / 40", "38 / 40"]
    assert by_measure["onset lag (median, removed before matching)"] == ["31 ms", "12 ms"]
    assert by_measure["loudness L1 to sample-based"] == ["2.00 dB", ""]


def measured(rates_hz, attacks_s, n_long):
    from ddspkit.analysis.measure import MeasuredExpression

    values = {"vibrato_rate_hz": np.array(rates_hz), "vibrato_depth_cents": np.full(len(rates_hz), 8.0),
              "vibrato_onset_s": np.full(len(rates_hz), 0.1), "attack_s": np.array(attacks_s),
              "release_s": np.zeros(0)}
    return MeasuredExpression(values, n_notes=n_long, n_long=n_long, n_vibrato=len(rates_hz))


def test_the_profile_stands_beside_what_each_rendering_played():
    cello = bundled_model("Cello").expression_profile
    result = Comparison(**PATHS, polyphonic=False, spectral_distance=4.2, loudness_l1_db=1.2,
                        level_gain_db=0.0, f0_l1_semitones=0.1, f0_outlier_share=0.0,
                        profile=cello, played="learned", model_name="Cello [mine]",
                        expression={"model": measured([4.9, 5.1], [0.2], 3),
                                    "sample-based": measured([5.2, 5.4, 5.0], [0.3, 0.31], 3)})
    headers, rows = expression_rows(result)
    assert headers == ["expression (median over notes)", "Cello [mine]'s profile",
                       "Cello [mine] (learned)", "sample-based (FluidSynth)"]
    by_aspect = {row[0]: row[1:] for row in rows}
    rate = f"{cello.vibrato_rate_hz.median:.2f} Hz (learned, {cello.vibrato_rate_hz.n_notes} notes)"
    assert by_aspect["vibrato rate"] == [rate, "5.00 Hz (2 notes)", "5.20 Hz (3 notes)"]
    assert by_aspect["attack (10-90 %, after a rest)"][1:] == ["200 ms (1 note)", "305 ms (2 notes)"]
    assert by_aspect["release (90-10 %, into a rest)"][1:] == ["no note shows it"] * 2
    assert by_aspect["long notes with a vibrato"][1:] == ["67 % (2 of 3)", "100 % (3 of 3)"]


def test_polyphony_shows_the_profile_alone_and_a_model_without_one_the_literature_s():
    result = Comparison(**PATHS, polyphonic=True, spectral_distance=5.0, loudness_l1_db=2.0,
                        level_gain_db=1.0, model_name="Old")
    headers, rows = expression_rows(result)
    assert headers == ["expression (notes sound together: renderings not measured)",
                       "the literature's (Old has no profile)"]
    assert rows[0] == ["vibrato rate", f"{LITERATURE['vibrato_rate_hz'].median:.2f} Hz (prior)"]
