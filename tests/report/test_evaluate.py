"""evaluate's table: each model with and without its room, then the baseline, and the ratios."""

from __future__ import annotations

from dataclasses import replace

from ddspkit.io.models import bundled_model
from ddspkit.render.evaluate import ModelScores, Scores
from ddspkit.report.evaluate import expression_table, scores_rows, scores_table


def test_each_model_has_a_wet_and_a_dry_row_then_the_baseline():
    info = replace(bundled_model("Cello"), provenance={"recipe": {"name": "fast"}, "steps": 4000})
    wet, dry, baseline = Scores(5.0, 1.5, 0.09, 0.0), Scores(5.5, 1.6, 0.1, 0.0), Scores(11.0, 3.0, 0.1, 0.0)
    other = replace(info, name="Other", provenance={"recipe": "not a dict"})
    results = [ModelScores(info, wet, dry), ModelScores(other, dry, dry)]
    rows = scores_rows(results, baseline)
    assert [label for label, _ in rows] == [
        "Cello (fast, 4000 steps)", "  dry: without the learned room, as DDSP-VST plays it",
        "Other (?, ? steps)", "  dry: without the learned room, as DDSP-VST plays it",
        "harmonic baseline (same f0 and loudness)"]
    assert [s for _, s in rows] == [wet, dry, dry, dry, baseline]
    table = scores_table(results, baseline, "heldout/")
    assert table.title == "resynthesis of heldout/" and table.row_count == 5
    assert list(table.columns[2].cells) == ["2.20x", "2.00x", "2.00x", "2.00x", "1.00x"]
    assert scores_table(results, baseline, "heldout/", title="mine").title == "mine"


def test_each_model_s_profile_stands_beside_the_held_out_recordings_expression():
    import numpy as np

    from ddspkit.analysis.measure import MeasuredExpression

    cello = bundled_model("Cello")
    old = replace(cello, name="Old [v1]", expression_profile=None)
    scores = Scores(5.0, 1.5, 0.09, 0.0)
    values = {"vibrato_rate_hz": np.array([5.0, 5.2, 5.6]), "vibrato_depth_cents": np.array([7.0, 8.0, 9.0]),
              "vibrato_onset_s": np.array([0.1, 0.2, 0.3]), "attack_s": np.array([0.25]),
              "release_s": np.zeros(0)}
    heldout = MeasuredExpression(values, n_notes=6, n_long=4, n_vibrato=3)
    table = expression_table([ModelScores(cello, scores, scores), ModelScores(old, scores, scores)],
                             heldout, "heldout/")
    assert [c.header for c in table.columns] == [
        "expression (median over notes)", "Cello's profile", "Old [v1]: no profile (the literature's)",
        "held-out recordings (6 notes)"]
    rows = {cells[0]: list(cells[1:]) for cells in zip(*(list(c.cells) for c in table.columns), strict=True)}
    profile = cello.expression_profile
    assert profile is not None and "vibrato_rate_hz" in profile.learned_aspects
    assert rows["vibrato rate"] == [
        f"{profile.vibrato_rate_hz.median:.2f} Hz (learned, {profile.vibrato_rate_hz.n_notes} notes)",
        "6.20 Hz (prior)", "5.20 Hz (3 notes)"]
    assert rows["attack (10-90 %, after a rest)"][2] == "250 ms (1 note)"
    assert rows["release (90-10 %, into a rest)"][2] == "no note shows it"
    assert rows["long notes with a vibrato"][2] == "75 % (3 of 4)"
