"""Resynthesis quality on held-out audio: `python benchmarks/quality.py MODEL HELDOUT_FOLDER
[--compare OTHER_MODEL ...]` (the same table as `ddspkit evaluate`), or `python
benchmarks/quality.py --zoo` for the README's table of every bundled model on its own held-out
pieces (``data/<instrument>/heldout``, made by scripts/build_model.sh).

Prints the DDSP paper's measures (loudness L1 in dB, f0 L1 in semitones on frames voiced in
both, share of f0 outliers beyond 12 semitones) and the multi-scale spectral distance, for
the model, any models to compare (e.g. the reference recipe's), and the plain harmonic
baseline measured in the same run; ratio = baseline distance / model distance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ddspkit.io.models import list_models, load_model
from ddspkit.render.evaluate import evaluate_models
from ddspkit.report.evaluate import scores_table

ROOT = Path(__file__).resolve().parents[1]
MELODIES = {"ryans": "Ryan's Mammoth fiddle tunes", "chorales": "Bach chorale lines"}


def zoo_rows(data_root: Path) -> None:
    """One Markdown row per bundled model whose held-out folder exists, printed as measured."""
    for info in list_models():
        if info.source != "bundled":
            continue
        recipe = info.data_recipe
        heldout = data_root / recipe.get("instrument", "?") / "heldout"
        if not heldout.is_dir():
            print(f"<!-- {info.name}: no {heldout} (run scripts/build_model.sh first) -->")
            continue
        [result], baseline = evaluate_models(heldout, [load_model(info.name)])
        scores, dry = result.scores, result.dry
        p = info.provenance
        start = (p.get("start") or {}).get("model")
        trained = f"{p['steps']} steps" + (f" from {start}" if start else " from scratch")
        ratio = baseline.spectral_distance / scores.spectral_distance
        melodies = MELODIES.get(recipe.get("source"), recipe.get("source"))
        print(f"| {info.name} (GM {recipe.get('program')}, {melodies}) | {trained} | "
              f"**{scores.spectral_distance:.2f}** / {baseline.spectral_distance:.2f} "
              f"({ratio:.2f}x) | {dry.spectral_distance:.2f} | {scores.loudness_l1_db:.2f} dB | "
              f"{scores.f0_l1_semitones:.3f} st | {100 * scores.f0_outlier_share:.2f} % |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("heldout", nargs="?")
    parser.add_argument("--compare", nargs="*", default=[])
    parser.add_argument("--zoo", action="store_true",
                        help="every bundled model on data/<instrument>/heldout, as Markdown rows")
    parser.add_argument("--data", type=Path, default=ROOT / "data", help="with --zoo")
    args = parser.parse_args()
    if args.zoo:
        zoo_rows(args.data)
        return
    if not (args.model and args.heldout):
        parser.error("give MODEL and HELDOUT_FOLDER, or --zoo")
    results, baseline = evaluate_models(args.heldout, [load_model(m) for m in [args.model, *args.compare]])
    Console().print(scores_table(results, baseline, args.heldout))


if __name__ == "__main__":
    main()
