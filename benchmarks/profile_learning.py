"""CPU to learn an expression profile: `python benchmarks/profile_learning.py [--minutes 10]`.

Goal (issue 19): a profile is learned within 10 s of CPU for 10 minutes of audio. The audio
is a monophonic line (notes of 0.25-2.5 s, two in five slurred into the next, velocities
60-115) rendered by FluidSynth (``--program``: GM program, 0-based; 42 cello, 40 violin) at
16 kHz. Timed on one thread (process CPU time, best of ``--repeats``), in two paths:

- from audio, ``profile_from_recordings(audio)``: the pitch tracker (swift-f0) runs first;
- from the prepared features, as the trainer learns it when it saves a model: preparing the
  data for training already tracked the pitch and kept the tracker's own reading
  (``extract_features_and_tracked_f0``), so only segmentation and measurement remain.

Printed per path: minutes of audio, CPU seconds for features and for segmenting and
measuring the notes, the total, and the total per 10 minutes over the 10 s goal (under 1
meets it). The pitch the trainer passes in is checked equal to the one the tracker gives
from audio, so both paths learn the same profile; its medians are printed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from ddspkit.analysis.features import extract_features, extract_features_and_tracked_f0
from ddspkit.analysis.profile import ExpressionProfile, learn_profile, measure_recording
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.render.soundfont import render_notes

GOAL_CPU_S_PER_10_MIN = 10.0


def melody(minutes: float, seed: int = 1) -> list[tuple[int, float, float, int]]:
    """(pitch, start_s, end_s, velocity) notes of a stepping line within C3-E5, ``minutes`` long."""
    rng = np.random.default_rng(seed)
    notes, pitch, t = [], 55, 0.5
    while t < minutes * 60 - 3.0:
        length_s = float(rng.choice([0.25, 0.4, 0.6, 0.9, 1.2, 1.8, 2.5]))
        pitch = int(np.clip(pitch + rng.integers(-5, 6), 48, 76))
        notes.append((pitch, t, t + length_s, int(rng.integers(60, 116))))
        t += length_s + (0.0 if rng.random() < 0.4 else float(rng.uniform(0.1, 0.6)))
    return notes


def best_cpu_s(fn, repeats: int):
    """(least process CPU seconds over ``repeats`` calls, the last call's result)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--program", type=int, default=42, help="GM program, 0-based (42: cello)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)  # before the tracker is made: it takes torch's thread count
    audio = render_notes(melody(args.minutes), program=args.program, sample_rate_hz=SAMPLE_RATE_HZ)
    minutes = len(audio) / SAMPLE_RATE_HZ / 60
    extract_features(audio[:SAMPLE_RATE_HZ])  # load the tracker's model outside the timings

    features_s, features = best_cpu_s(lambda: extract_features(audio, sharpen=False), args.repeats)
    measure_s, measured = best_cpu_s(lambda: measure_recording(audio, features), args.repeats)
    from_audio = learn_profile(measured)
    prepare_s, (_, tracked_hz) = best_cpu_s(lambda: extract_features_and_tracked_f0(audio),
                                            args.repeats)
    plain_prepare_s, _ = best_cpu_s(lambda: extract_features(audio), args.repeats)
    np.testing.assert_array_equal(tracked_hz, features.f0_hz)  # what the trainer passes in

    table = Table(title=f"learning an expression profile, {minutes:.1f} min of GM program "
                        f"{args.program} (FluidSynth), one thread, {len(measured)} notes")
    for column in ("path", "audio min", "features CPU s", "measurement CPU s", "total CPU s",
                   "per 10 min / 10 s goal"):
        table.add_column(column, justify="right" if column != "path" else "left")
    for label, feature_cost_s in (("from audio (tracker runs)", features_s),
                                  ("trainer: prepared features", 0.0)):
        total_s = feature_cost_s + measure_s
        ratio = total_s * (10.0 / minutes) / GOAL_CPU_S_PER_10_MIN
        table.add_row(label, f"{minutes:.2f}", f"{feature_cost_s:.2f}", f"{measure_s:.2f}",
                      f"{total_s:.2f}", f"{ratio:.2f}")
    console = Console(markup=False, highlight=False, width=120)
    console.print(table)
    console.print(f"preparing for training: {prepare_s:.2f} s CPU keeping the tracked pitch, "
                  f"{plain_prepare_s:.2f} s without (paid once, before training)")
    console.print("learned medians: " + ", ".join(
        f"{name} {getattr(from_audio, name).median:.3g}" + ("" if getattr(from_audio, name).learned
                                                             else " (prior)")
        for name in ExpressionProfile.ASPECTS))


if __name__ == "__main__":
    main()
