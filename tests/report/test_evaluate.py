"""evaluate's table: each model with and without its room, then the baseline, and the ratios."""

from __future__ import annotations

from dataclasses import replace

from ddspkit.io.models import bundled_model
from ddspkit.render.evaluate import ModelScores, Scores
from ddspkit.report.evaluate import scores_rows, scores_table


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
