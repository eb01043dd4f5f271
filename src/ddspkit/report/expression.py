"""An expression profile, and the expression measured in renderings or recordings beside it, as
rows of text: for ``compare``, ``evaluate`` and the studio."""

from __future__ import annotations

import math

from ddspkit.analysis.measure import DISPLAY, SHOWN_ASPECTS, MeasuredExpression
from ddspkit.analysis.profile import Distribution, ExpressionProfile

ASPECT_NOTES = {  # what each row measures, in a few words
    "vibrato_rate_hz": "vibrato rate",
    "vibrato_depth_cents": "vibrato depth (half the swing)",
    "vibrato_onset_s": "vibrato onset (after the note starts)",
    "attack_s": "attack (10-90 %, after a rest)",
    "release_s": "release (90-10 %, into a rest)",
    "scoop_cents": "scoop into the note (after a rest)",
    "glide_s": "glide between slurred notes (10-90 %)",
}
VIBRATO_SHARE = "long notes with a vibrato"
NOT_SHOWN = "no note shows it"


def value_text(aspect: str, value: float) -> str:
    """``value`` (in the aspect's stored unit: Hz, cents, s) as the tables show it, e.g. '293 ms'."""
    if not math.isfinite(value):
        return NOT_SHOWN
    _, unit, factor, decimals = DISPLAY[aspect]
    return f"{value * factor:.{decimals}f} {unit}"


def distribution_text(aspect: str, distribution: Distribution) -> str:
    """A profile's aspect: its median, and whether it was learned (from how many notes) or is
    the literature's prior, e.g. '5.04 Hz (learned, 526 notes)'."""
    how = f"learned, {distribution.n_notes} notes" if distribution.learned else "prior"
    return f"{value_text(aspect, distribution.median)} ({how})"


def measured_text(aspect: str, measured: MeasuredExpression) -> str:
    """A measured aspect: its median over the notes that show it, e.g. '5.19 Hz (4 notes)'."""
    n = measured.count(aspect)
    if not n:
        return NOT_SHOWN
    return f"{value_text(aspect, measured.median(aspect))} ({n} note{'s' if n != 1 else ''})"


def share_text(measured: MeasuredExpression) -> str:
    if not measured.n_long:
        return "no long note"
    return f"{100 * measured.vibrato_share:.0f} % ({measured.n_vibrato} of {measured.n_long})"


def aspect_rows(profiles: dict[str, ExpressionProfile | None],
                measured: dict[str, MeasuredExpression]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of text: one row per shown aspect and one for the share of long notes
    with a vibrato; a column per profile (label -> profile; None: the literature's, as a model
    without one plays), then one per measured rendering or recording (label -> measurement)."""
    shown = [profile or ExpressionProfile() for profile in profiles.values()]
    headers = ["expression (median over notes)", *profiles, *measured]
    rows = [[ASPECT_NOTES[aspect], *(distribution_text(aspect, getattr(p, aspect)) for p in shown),
             *(measured_text(aspect, m) for m in measured.values())] for aspect in SHOWN_ASPECTS]
    rows.append([VIBRATO_SHARE, *(f"{100 * p.vibrato_share:.0f} %" for p in shown),
                 *(share_text(m) for m in measured.values())])
    return headers, rows


def profile_rows(profile: ExpressionProfile | None) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of a profile alone: aspect, median, learned or prior, notes it was
    learned from; every aspect it holds (None: the literature's, all prior)."""
    profile = profile or ExpressionProfile()
    rows = []
    for aspect in ExpressionProfile.ASPECTS:
        d: Distribution = getattr(profile, aspect)
        rows.append([ASPECT_NOTES[aspect], value_text(aspect, d.median),
                     "learned" if d.learned else "prior (the literature's)",
                     str(d.n_notes) if d.learned else ""])
    rows.append([VIBRATO_SHARE, f"{100 * profile.vibrato_share:.0f} %", "", ""])
    return ["aspect", "median", "learned or prior", "notes"], rows
