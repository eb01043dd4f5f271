"""Copy a trained model into the package's bundled zoo, as float16 weights.

    python scripts/bundle_model.py build/zoo/models/Cello.safetensors

Half precision halves the wheel size; loading casts back to float32 (the difference is
below -40 dB of the output, see tests/test_modelfile.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ddspkit.modelfile import load_model, save_model

ASSETS = Path(__file__).resolve().parents[1] / "src" / "ddspkit" / "assets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    args = parser.parse_args()
    loaded = load_model(args.model)
    target = ASSETS / f"{loaded.info.name}.safetensors"
    loaded.info.provenance["bundled_as"] = "float16"
    save_model(target, loaded.instrument, loaded.info, half=True)
    print(f"{args.model} -> {target} ({target.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
