"""Held-out loss against training wall-clock time, for one or more training runs:
`python benchmarks/loss_vs_time.py RUN_DIR [RUN_DIR ...] [--plot out.png]`.

A run directory is ``<ddspkit home>/runs/<name>`` (it holds ``history.jsonl``). The first run
is the reference: the table gives, for each run, its held-out loss at fixed times, its best
loss, and the time it took to come within 5 % of the reference's final loss (the ratio of
those times is the speed-up).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ddspkit.training.run import RunFolder


def read_history(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [r for r in RunFolder(run_dir).history() if r.get("validation_loss") is not None]
    return (np.array([r["step"] for r in rows]), np.array([r["train_seconds"] for r in rows]),
            np.array([r["validation_loss"] for r in rows]))


def time_to_reach(seconds: np.ndarray, loss: np.ndarray, target: float) -> float | None:
    hit = np.nonzero(loss <= target)[0]
    return float(seconds[hit[0]]) if hit.size else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    histories = {run.name if run.name != "." else str(run): read_history(run) for run in args.runs}
    ref_name = next(iter(histories))
    ref_target = 1.05 * histories[ref_name][2][-1]
    marks = [60, 300, 600, 900, 1800, 3600]
    table = Table("run", "steps", "train time", *[f"loss @ {m // 60} min" for m in marks],
                  "best loss", f"time to {ref_target:.3f} (ref final +5 %)",
                  title="held-out multi-scale spectral loss against training wall-clock")
    ref_time = time_to_reach(histories[ref_name][1], histories[ref_name][2], ref_target)
    for name, (steps, seconds, loss) in histories.items():
        at = [f"{loss[np.searchsorted(seconds, m, 'right') - 1]:.3f}" if seconds[0] <= m else "-"
              for m in marks]
        reach = time_to_reach(seconds, loss, ref_target)
        speed = f" ({ref_time / reach:.1f}x faster)" if reach and ref_time and name != ref_name else ""
        table.add_row(name, str(steps[-1]), f"{seconds[-1] / 60:.1f} min", *at, f"{loss.min():.3f}",
                      f"{reach / 60:.1f} min{speed}" if reach else "not reached")
    Console().print(table)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
        for name, (_, seconds, loss) in histories.items():
            ax.plot(seconds / 60, loss, marker="o", ms=3, label=name)
        ax.set_xlabel("training time (min)")
        ax.set_ylabel("held-out spectral loss")
        ax.legend()
        fig.savefig(args.plot, dpi=100)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
