"""Resynthesis quality on held-out audio: `python benchmarks/quality.py MODEL HELDOUT_FOLDER
[--compare OTHER_MODEL ...]`.

Prints the DDSP paper's measures (loudness L1 in dB, f0 L1 in semitones on frames voiced in
both, share of f0 outliers beyond 12 semitones) and the multi-scale spectral distance, for
the model, any models to compare (e.g. the reference recipe's), and the plain harmonic
baseline measured in the same run; ratio = baseline distance / model distance.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from ddspkit.evaluate import evaluate
from ddspkit.modelfile import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("heldout")
    parser.add_argument("--compare", nargs="*", default=[])
    args = parser.parse_args()
    rows, baseline = [], None
    for name in [args.model, *args.compare]:
        loaded = load_model(name)
        scores, baseline = evaluate(loaded.instrument, args.heldout)
        steps = loaded.info.provenance.get("steps", "?")
        recipe = loaded.info.provenance.get("recipe", {}).get("name", "?")
        rows.append((f"{loaded.info.name} ({recipe}, {steps} steps)", scores))
    rows.append(("harmonic baseline (same f0 and loudness)", baseline))
    table = Table("synth", "spectral distance", "vs baseline", "loudness L1 (dB)",
                  "f0 L1 (semitones)", "f0 outliers > 12 st",
                  title=f"resynthesis of {args.heldout}")
    for label, s in rows:
        table.add_row(label, f"{s.spectral_distance:.3f}",
                      f"{baseline.spectral_distance / s.spectral_distance:.2f}x",
                      f"{s.loudness_l1_db:.2f}", f"{s.f0_l1_semitones:.3f}",
                      f"{100 * s.f0_outlier_share:.2f} %")
    Console().print(table)


if __name__ == "__main__":
    main()
