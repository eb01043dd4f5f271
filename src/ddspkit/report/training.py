"""Training as the faces print it: what prepared data holds, per file, and a run's result."""

from __future__ import annotations

from pathlib import Path

from ddspkit.dsp.core import note_name
from ddspkit.training.data import PreparedDataset, describe_file


def summary_rows(data: PreparedDataset) -> list[tuple[str, str]]:
    """What prepare found, as (label, text) rows: files, minutes, voicing, pitch and power
    ranges, and the plugin's model range box. The warnings are in ``data.summary.warnings``."""
    s, st = data.summary, data.statistics
    lo, hi = s.pitch_range_hz
    return [
        ("files", f"{s.n_files} read, {len(s.skipped)} skipped"),
        ("audio", f"{s.total_minutes:.1f} min, {s.usable_minutes:.1f} min usable (non-silent)"),
        ("voiced", f"{100 * s.voiced_share:.0f} % of sound, mean pitch confidence "
                   f"{s.mean_confidence:.2f}"),
        ("pitch", f"{lo:.0f}-{hi:.0f} Hz ({note_name(lo)}-{note_name(hi)}), 5th-95th percentile"),
        ("power", f"{s.power_range_db[0]:.0f} to {s.power_range_db[1]:.0f} dB"),
        ("model range", f"{st.mean_min_pitch_note_hz:.0f}-{st.mean_max_pitch_note_hz:.0f} Hz, "
                        f"{st.mean_min_power_note:.0f} to {st.mean_max_power_note:.0f} dB"),
    ]


FILE_COLUMNS = ("file", "length", "usable", "voiced", "median pitch", "clipped")


def file_rows(data: PreparedDataset, folder: Path) -> list[tuple[str, ...]]:
    """One row per prepared file (see FILE_COLUMNS), so that a bad take stands out."""
    rows = []
    for f in data.files:
        d = describe_file(f)
        rows.append((str(f.path.relative_to(folder)), f"{d.seconds:.1f} s",
                     f"{100 * d.usable_share:.0f} %", f"{100 * d.voiced_share:.0f} %",
                     d.median_note or "-", f"{100 * f.clipped_share:.2f} %"))
    return rows



def held_out_text(validation_loss: float | None) -> str:
    """A run's held-out loss as printed: three decimals, or 'n/a' without held-out audio."""
    return "n/a" if validation_loss is None else f"{validation_loss:.3f}"
