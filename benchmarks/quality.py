"""Resynthesis quality on held-out audio: `python benchmarks/quality.py MODEL HELDOUT_FOLDER
[--compare OTHER_MODEL ...]` (the same table as `ddspkit evaluate`).

Prints the DDSP paper's measures (loudness L1 in dB, f0 L1 in semitones on frames voiced in
both, share of f0 outliers beyond 12 semitones) and the multi-scale spectral distance, for
the model, any models to compare (e.g. the reference recipe's), and the plain harmonic
baseline measured in the same run; ratio = baseline distance / model distance.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from ddspkit.evaluate import scores_table
from ddspkit.modelfile import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("heldout")
    parser.add_argument("--compare", nargs="*", default=[])
    args = parser.parse_args()
    table, _, _ = scores_table(args.heldout, [load_model(m) for m in [args.model, *args.compare]])
    Console().print(table)


if __name__ == "__main__":
    main()
