"""Copy a trained model into the package's bundled zoo, as float16 weights.

    python scripts/bundle_model.py build/zoo/models/Cello.safetensors

Half precision halves the wheel size; loading casts back to float32 (the difference is
below -40 dB of the output, see tests/io/test_modelfile.py). The file's provenance gains the
training data's recipe (from the ``manifest.json`` that scripts/make_instrument_data.py
wrote beside the training folder: soundfont, program, seed, every piece of each split) and
the command that rebuilds the model (with the model it was fine-tuned from, if any).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ddspkit.io.modelfile import save_model
from ddspkit.io.models import load_model
from ddspkit.training.recipes import DEFAULT_RECIPE, FINETUNE_RECIPE, RECIPES

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "src" / "ddspkit" / "assets"


def data_provenance(train_folder: Path) -> dict[str, Any] | None:
    """The data recipe of a folder made by make_instrument_data.py, None for other data."""
    manifest_path = train_folder.parent / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    pieces: dict[str, list[str]] = {split: [] for split in manifest["splits"]}
    for entry in manifest["files"]:
        for piece in entry["pieces"]:
            pieces[entry["split"]].append(
                f"{piece['source']} {piece['part']}, {piece['tempo_qpm']} qpm, "
                f"{piece['transpose_semitones']:+d} st")
    keep = ("instrument", "program", "soundfont", "seed", "source", "sample_rate_hz",
            "pitch_range_midi", "splits")
    return {"made_by": "scripts/make_instrument_data.py", **{k: manifest[k] for k in keep},
            "pieces": pieces}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    args = parser.parse_args()
    loaded = load_model(args.model)
    provenance = loaded.info.provenance
    target = ASSETS / f"{loaded.info.name}.safetensors"
    provenance["bundled_as"] = "float16"
    source = Path(provenance.get("source", ""))
    if source.is_absolute() and source.is_relative_to(ROOT):
        provenance["source"] = str(source.relative_to(ROOT))  # no path of the build machine
    data = data_provenance(ROOT / provenance["source"]) if provenance.get("source") else None
    if data is not None:
        provenance["data"] = {**provenance.get("data", {}), "recipe": data}
        # A fine-tuned model names the model it started from (auto's choice depends on the
        # zoo at the time, so the rebuild names it outright).
        start = provenance.get("start", {}).get("model")
        recipe = provenance.get("recipe", {}).get("name", DEFAULT_RECIPE)
        steps = provenance.get("steps", RECIPES[recipe].n_steps)
        usual = FINETUNE_RECIPE if start else DEFAULT_RECIPE  # what train takes unless told
        provenance["rebuild"] = (f"scripts/build_model.sh {data['instrument']} {loaded.info.name}"
                                 + (f" --recipe {recipe}" if recipe != usual else "")
                                 + (f" --steps {steps}" if steps != RECIPES[recipe].n_steps else "")
                                 + f" --from {start or 'scratch'}")
    save_model(target, loaded.instrument, loaded.info, half=True)
    print(f"{args.model} -> {target} ({target.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
