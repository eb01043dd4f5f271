"""``evaluate``'s scores as a table: each model with and without its room, and the baseline;
and each model's expression profile beside the held-out recordings' measured expression."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ddspkit.analysis.measure import MeasuredExpression
from ddspkit.render.evaluate import ModelScores, Scores
from ddspkit.report.expression import aspect_rows
from ddspkit.terminal import table as literal_table

SCORE_HEADERS = ("synth", "spectral distance", "vs baseline", "loudness L1 (dB)", "f0 L1 (semitones)",
                 "f0 outliers > 12 st")


def scores_rows(results: list[ModelScores], baseline: Scores) -> list[tuple[str, Scores]]:
    """(label, Scores) per row: each model as it renders (named with its recipe and steps),
    then without its room, and last the harmonic baseline."""
    rows = []
    for result in results:
        p = result.info.provenance
        recipe = p.get("recipe", {}).get("name", "?") if isinstance(p.get("recipe"), dict) else "?"
        rows.append((f"{result.info.name} ({recipe}, {p.get('steps', '?')} steps)", result.scores))
        rows.append(("  dry: without the learned room, as DDSP-VST plays it", result.dry))
    rows.append(("harmonic baseline (same f0 and loudness)", baseline))
    return rows


def scores_table(results: list[ModelScores], baseline: Scores, heldout: str | Path,
                 title: str | None = None) -> Table:
    """A rich Table of :func:`scores_rows` on the folder ``heldout``; 'vs baseline' is the
    baseline's spectral distance over the row's (higher is better)."""
    table = literal_table(*SCORE_HEADERS, title=title or f"resynthesis of {heldout}")
    for label, s in scores_rows(results, baseline):
        table.add_row(label, f"{s.spectral_distance:.3f}",
                      f"{baseline.spectral_distance / s.spectral_distance:.2f}x",
                      f"{s.loudness_l1_db:.2f}", f"{s.f0_l1_semitones:.3f}",
                      f"{100 * s.f0_outlier_share:.2f} %")
    return table


def expression_table(results: list[ModelScores], heldout_expression: MeasuredExpression,
                     heldout: str | Path) -> Table:
    """A rich Table: per aspect (vibrato rate, depth and onset, attack, release, the share of
    long notes with a vibrato), each model's profile (median, learned or the literature's
    prior) and the held-out recordings' measured expression (median over their notes)."""
    profiles = {}
    for result in results:
        label = f"{result.info.name}'s profile"
        if result.info.expression_profile is None:
            label = f"{result.info.name}: no profile (the literature's)"
        while label in profiles:  # two models of one name stay two columns
            label += " "
        profiles[label] = result.info.expression_profile
    recordings = f"held-out recordings ({heldout_expression.n_notes} notes)"
    headers, rows = aspect_rows(profiles, {recordings: heldout_expression})
    table = literal_table(*headers, title=f"expression: each profile beside {heldout}")
    for row in rows:
        table.add_row(*row)
    return table
