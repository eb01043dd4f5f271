"""Learn each bundled instrument's expression profile from its own training data.

    PYTHONPATH=src python scripts/learn_profiles.py [NAME ...] [--data data] [--out build/profiles]

For each bundled model (default: all), its training data is made again exactly as it was
(the data recipe in the model's provenance: instrument, seed, minutes; with
scripts/make_instrument_data.py, into DATA/<instrument>, skipped when already there), and
its expression profile is learned from the training recordings
(:func:`ddspkit.analysis.profile.profile_from_recordings`); written as OUT/<Name>.json,
with the CPU seconds it took per minute of audio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ddspkit.analysis.profile import profile_from_recordings
from ddspkit.audio import load_audio, resample
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.io.models import list_models, load_model

ROOT = Path(__file__).resolve().parents[1]


def training_folder(model, data_root: Path) -> Path:
    recipe = model.info.data_recipe
    instrument = recipe.get("instrument") or model.info.name.lower()
    folder = data_root / instrument
    if not (folder / "train").is_dir():
        minutes = recipe.get("splits", {}).get("train", {}).get("minutes", 11.0)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_instrument_data.py"), instrument,
                        "--minutes", f"{round(minutes)}", "--heldout-minutes", "1.5",
                        "--seed", str(recipe.get("seed", 0)), "-o", str(folder)], check=True)
    return folder / "train"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "profiles")
    args = parser.parse_args()
    names = args.names or [m.name for m in list_models() if m.source == "bundled"]
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        model = load_model(name, "cpu")
        files = sorted(training_folder(model, args.data).glob("*.wav"))
        recordings = []
        for path in files:
            audio, rate_hz, _ = load_audio(path)
            recordings.append(resample(audio, rate_hz, SAMPLE_RATE_HZ))
        minutes = sum(len(a) for a in recordings) / SAMPLE_RATE_HZ / 60
        start = time.process_time()
        profile = profile_from_recordings(recordings, f"{len(files)} training recordings of {name}")
        cpu_s = time.process_time() - start
        (args.out / f"{name}.json").write_text(json.dumps(profile.to_dict(), indent=1))
        print(f"{name}: {minutes:.1f} min, {cpu_s:.1f} s CPU, learned {', '.join(profile.learned_aspects)}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
