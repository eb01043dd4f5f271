"""compare's measures as rows: the pitch track for one line, notes for polyphony."""

from __future__ import annotations

from pathlib import Path

from ddspkit.render.compare import Comparison
from ddspkit.render.evaluate import NoteScores
from ddspkit.report.compare import measure_rows

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
