"""``compare``'s measures as rows of text, for the command line's table and the studio's."""

from __future__ import annotations

from ddspkit.render.compare import Comparison
from ddspkit.report.expression import aspect_rows


def measure_rows(result: Comparison) -> tuple[list[str], list[list[str]]]:
    """compare's measures as (headers, rows) of text: f0 for a monophonic line, notes against
    the MIDI for polyphony (one column per rendering), and the level match applied."""
    if not result.polyphonic:
        headers = ["measure (model vs sample-based, one line)", "value"]
        rows = [["multi-scale spectral distance", f"{result.spectral_distance:.3f}"],
                ["loudness L1", f"{result.loudness_l1_db:.2f} dB"],
                ["f0 L1 (frames voiced in both)", f"{result.f0_l1_semitones:.3f} semitones"],
                ["f0 outliers > 12 semitones", f"{100 * result.f0_outlier_share:.2f} %"],
                ["level match applied to the sample-based file", f"{result.level_gain_db:+.1f} dB"]]
        return headers, rows
    headers = ["measure (polyphonic: notes sound together)", "model", "sample-based"]
    notes = [result.notes["model"], result.notes["sample-based"]]
    rows = [["note F1 vs the MIDI (onsets within 50 ms)", *(f"{n.f1:.3f}" for n in notes)],
            ["note precision", *(f"{n.precision:.3f}" for n in notes)],
            ["note recall", *(f"{n.recall:.3f}" for n in notes)],
            ["notes transcribed / in the MIDI", *(f"{n.n_estimated} / {n.n_reference}" for n in notes)],
            ["onset lag (median, removed before matching)",
             *(f"{1000 * n.onset_lag_s:.0f} ms" for n in notes)],
            ["multi-scale spectral distance to sample-based", f"{result.spectral_distance:.3f}", ""],
            ["loudness L1 to sample-based", f"{result.loudness_l1_db:.2f} dB", ""],
            ["level match applied to the sample-based file", f"{result.level_gain_db:+.1f} dB", ""]]
    return headers, rows


def expression_rows(result: Comparison) -> tuple[list[str], list[list[str]]]:
    """compare's expression as (headers, rows) of text: the profile (medians, learned or the
    literature's prior) beside each rendering's measured expression (medians over the notes
    that show it); for polyphony, the profile alone."""
    model_name = result.model_name
    label = (f"{model_name}'s profile" if result.played != "another profile" else
             "the profile played")
    if result.profile is None or (result.played == "learned" and result.profile.source == "literature"):
        label = f"the literature's ({model_name} has no profile)"
    measured = {}
    if result.expression is not None:
        measured = {f"{model_name} ({result.played})": result.expression["model"],
                    "sample-based (FluidSynth)": result.expression["sample-based"]}
    headers, rows = aspect_rows({label: result.profile}, measured)
    if result.expression is None:
        headers[0] = "expression (notes sound together: renderings not measured)"
    return headers, rows
