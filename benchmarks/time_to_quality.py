"""Time to quality, side by side: training from random weights against training from the zoo.

    python benchmarks/time_to_quality.py data/clarinet --exclude Clarinet [--steps 4000]
        [--zoo-steps 1000] [--device cuda] [--reference-steps 800] [--work build/time-to-quality]

DATA is a folder made by scripts/make_instrument_data.py (``train/`` and ``heldout/``, split
by piece). On the same data, with the same seed, the script trains

- **scratch**: from random weights (``--from scratch``, the 'fast' recipe), ``--steps`` steps;
- **zoo**: from the bundled model nearest to the data (``--from auto``, the recipe the
  trainer takes for it, 'finetune', unless ``--zoo-recipe``), ``--zoo-steps`` steps (default
  the same); ``--exclude`` keeps models out of the choice (the data's own
  instrument, to measure an instrument the zoo does not have yet);
- **reference** (with ``--reference-steps N``): Magenta's Train_VST recipe from scratch,

and scores the held-out spectral distance (as ``ddspkit evaluate``) every few steps. Both
starts cost the same per step, and on a shared CPU wall-clock is noisy, so the table gives
steps, the measured seconds per step of each run, and time = steps x the runs' common
(median) seconds per step, plus each run's one-off setup (``auto``'s choice of a model). The
target is the distance that the scratch run reaches at its last step; the speed-up is the
scratch run's time over the zoo run's time to reach it.

Training is resumable: the runs live under ``--work`` and a rerun continues where it stopped
(scores already measured are kept in ``scores.jsonl``). It runs on any device (``--device``,
default a GPU if there is one).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console

from ddspkit.io.modelfile import save_model
from ddspkit.io.models import load_model
from ddspkit.render.evaluate import spectral_distance
from ddspkit.terminal import table
from ddspkit.training.data import prepare
from ddspkit.training.recipes import DEFAULT_RECIPE
from ddspkit.training.trainer import default_device, train

# Held-out scores at these steps (and every `every` steps after the last), denser early,
# where a fine-tuned run moves fastest.
EARLY_STEPS = (0, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000)


def score_steps(n_steps: int, every: int) -> list[int]:
    steps = [s for s in EARLY_STEPS if s < n_steps]
    steps += list(range(EARLY_STEPS[-1] + every, n_steps, every))
    return sorted(set(steps) | {n_steps})


class Run:
    """One training run of the comparison, resumable, with its held-out scores."""

    def __init__(self, work: Path, label: str, name: str, recipe: str | None, start_from: str,
                 n_steps: int, exclude: tuple[str, ...] = ()) -> None:
        self.label, self.name, self.recipe = label, name, recipe
        self.start_from, self.n_steps = start_from, n_steps
        self.exclude = exclude
        self.folder = work / label
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scores_path = self.folder / "scores.jsonl"
        self.rows: list[dict] = []
        if self.scores_path.is_file():
            self.rows = [json.loads(line) for line in self.scores_path.read_text().splitlines()]
        self.start_model: str | None = None

    @property
    def model_path(self) -> Path:
        return self.folder / f"{self.name}.safetensors"

    def train_to(self, step: int, data, device) -> float:
        """Train (or resume) up to ``step``; returns the wall seconds of the call."""
        began = time.perf_counter()
        result = train(data, self.name, self.recipe, n_steps=step, device=device,
                       run_dir=self.folder / "run", model_path=self.model_path,
                       start_from=self.start_from, start_exclude=self.exclude,
                       source=str(data_source(data)))
        self.start_model = result.start.model if result.start else None
        return time.perf_counter() - began

    def measure_model(self, model: str, heldout, device) -> None:
        """Score an existing model trained from scratch on the same data, as this run's end."""
        loaded = load_model(model, device)
        provenance = loaded.info.provenance
        self.n_steps = provenance["steps"]
        self.rows = [{"step": 0, "train_seconds": 0.0, "distance": None},
                     {"step": provenance["steps"], "train_seconds": provenance["train_seconds"],
                      "distance": round(spectral_distance(loaded.instrument, heldout), 4),
                      "start": None, "model": model}]

    def measure(self, data, heldout, device, every: int, console: Console) -> None:
        done = {row["step"] for row in self.rows}
        for step in score_steps(self.n_steps, every):
            if step in done:
                continue
            setup_s = None
            if step == 0:  # the start itself: its weights, before any update
                wall_s = self.train_to(0, data, device)
                setup_s = wall_s
            else:
                self.train_to(step, data, device)
            loaded = load_model(self.model_path, device)
            provenance = loaded.info.provenance
            row = {"step": step, "train_seconds": provenance["train_seconds"],
                   "distance": round(spectral_distance(loaded.instrument, heldout), 4),
                   "start": provenance.get("start", {}).get("model")}
            if setup_s is not None:
                row["setup_seconds"] = round(setup_s, 2)
            self.rows.append(row)
            # Keep the scored weights (float16), so that a later change of the scoring can
            # be applied to every point of the curve.
            snapshot = self.folder / "snapshots" / f"step_{step:05d}.safetensors"
            snapshot.parent.mkdir(exist_ok=True)
            save_model(snapshot, loaded.instrument, loaded.info, half=True)
            with self.scores_path.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            console.print(f"{self.label}: step {step}, held-out distance {row['distance']:.3f}, "
                          f"{row['train_seconds']:.0f} s of training")

    def seconds_per_step(self) -> float:
        """Training seconds per step, first to last row (scoring pauses included)."""
        rows = sorted(self.rows, key=lambda r: r["step"])
        return (rows[-1]["train_seconds"] - rows[0]["train_seconds"]) / max(
            rows[-1]["step"] - rows[0]["step"], 1)

    def setup_seconds(self) -> float:
        """Wall seconds of the run's first call: loading (and for auto, choosing) the start."""
        return next((r.get("setup_seconds", 0.0) for r in self.rows if r["step"] == 0), 0.0)

    def steps_to(self, target: float) -> int | None:
        for row in sorted(self.rows, key=lambda r: r["step"]):
            if row["distance"] is not None and row["distance"] <= target:
                return row["step"]
        return None


def data_source(data) -> Path:
    return data.files[0].path.parent if data.files else Path()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with train/ and heldout/")
    parser.add_argument("--steps", type=int, default=4000, help="steps from scratch")
    parser.add_argument("--zoo-steps", type=int, default=None, help="steps from the zoo")
    parser.add_argument("--exclude", nargs="*", default=[], help="bundled models auto skips")
    parser.add_argument("--every", type=int, default=500, help="steps between scores")
    parser.add_argument("--zoo-recipe", default=None,
                        help="the zoo run's recipe (default: the trainer's choice, 'finetune')")
    parser.add_argument("--reference-steps", type=int, default=0,
                        help="also train Magenta's reference recipe this far (0: skip)")
    parser.add_argument("--scratch-model", default=None,
                        help="instead of training from scratch, score this model: one trained "
                             "from scratch on the same data (a bundled model built from DATA)")
    parser.add_argument("--name", default=None,
                        help="the zoo run's model name (default: DATA's name, capitalised), "
                             "so that it can be bundled as it is")
    parser.add_argument("--only", choices=("scratch", "zoo", "reference"), default=None,
                        help="train this run only (e.g. two processes side by side), then "
                             "print the tables with what the others have so far")
    parser.add_argument("--device", default=None)
    parser.add_argument("--work", type=Path, default=Path("build/time-to-quality"))
    args = parser.parse_args()
    console = Console(highlight=False, markup=False)  # paths print as they are
    device = args.device or default_device()
    work = args.work / args.data.name
    data = prepare(args.data / "train")
    heldout = prepare(args.data / "heldout", min_usable_minutes=0.0)
    name = args.name or args.data.name.capitalize()
    runs = [Run(work, "scratch", f"{name}-scratch", DEFAULT_RECIPE, "scratch", args.steps),
            Run(work, "zoo", name, args.zoo_recipe, "auto", args.zoo_steps or args.steps,
                tuple(args.exclude))]
    if args.reference_steps:
        runs.append(Run(work, "reference", f"{name}-reference", "reference", "scratch",
                        args.reference_steps))
    for run in runs:
        if args.only and run.label != args.only:
            continue
        if run.label == "scratch" and args.scratch_model:
            run.measure_model(args.scratch_model, heldout, device)
        else:
            run.measure(data, heldout, device, args.every, console)
    print_tables(console, args, runs, device)


def print_tables(console: Console, args, runs: list[Run], device) -> None:
    scratch = runs[0]
    by_step: dict[int, dict[str, float]] = {}
    for run in runs:
        for row in run.rows:
            by_step.setdefault(row["step"], {})[run.label] = row["distance"]
    curve = table("step", *[f"{run.label}" for run in runs],
                  title=f"held-out spectral distance on {args.data / 'heldout'} ({device})")
    for step in sorted(by_step):
        curve.add_row(str(step), *[f"{by_step[step][r.label]:.3f}"
                                   if by_step[step].get(r.label) is not None else ""
                                   for r in runs])
    console.print(curve)
    if not scratch.rows or scratch.rows[-1]["distance"] is None:
        return
    # The same network and batch cost the same per step whatever the start: one figure for
    # all, the scratch run's (the fewest pauses for scoring).
    per_step_s = scratch.seconds_per_step()
    target = max(scratch.rows, key=lambda r: r["step"])["distance"]
    scratch_setup_s = scratch.setup_seconds()
    summary = table("run", "starts from", "steps", "s/step", "final distance",
                    f"steps to {target:.3f}", "time to it", "speed-up",
                    title=f"time to the distance that {scratch.n_steps} steps from scratch reach "
                          f"({target:.3f}); time = steps x {per_step_s:.3f} s, plus the start's "
                          "extra setup (auto's choice)")
    scratch_steps = scratch.steps_to(target)
    scratch_time = scratch_steps * per_step_s if scratch_steps is not None else None
    for run in runs:
        rows = sorted(run.rows, key=lambda r: r["step"])
        steps = run.steps_to(target)
        extra_s = max(run.setup_seconds() - scratch_setup_s, 0.0)
        seconds = None if steps is None else steps * per_step_s + extra_s
        speed = (f"{scratch_time / seconds:.1f}x" if seconds and scratch_time and run is not scratch
                 else "")
        summary.add_row(run.label, rows[-1].get("start") or rows[0].get("start") or "random weights",
                        str(rows[-1]["step"]), f"{run.seconds_per_step():.3f}",
                        f"{rows[-1]['distance']:.3f}", "not reached" if steps is None else str(steps),
                        "" if seconds is None else f"{seconds / 60:.1f} min", speed)
    console.print(summary)


if __name__ == "__main__":
    main()
