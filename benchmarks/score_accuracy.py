"""Does a model play what the score says? Timbre transfer of held-out pieces rendered with
another soundfont than the model's training data, against the score:

    python benchmarks/score_accuracy.py [MODEL ...] [--soundfont FONT] [--data data]

For each model (default: every bundled model), the held-out pieces of its training data
(``data/<instrument>/heldout/*.mid``, written by scripts/make_instrument_data.py; run
scripts/build_model.sh or make_instrument_data.py first) are rendered with FluidSynth and
``--soundfont`` (default MuseScore General, Debian's ``musescore-general-soundfont-small``;
the models are trained on FluidR3), standing in for a recording the model never heard. Each
recording goes through ``transfer`` as a user runs it (auto-adjust on). The recording and
the model's output are pitch-tracked alike (the tracker's own reading, without the
sharpened note changes that the model is fed) and scored against the notes (from 60 ms after
each onset to 30 ms before its end): the share of frames within 50 cents of the note, and
the share an octave or more off. A model passes where it sits on the score at least as well
as the recording (minus 2 points) with at most 1 % octave errors.

Timing, in ms after the score's note-ons (medians): attacks of notes after a rest (1 ms
envelope, level within 10 dB of the peak) and legato note changes (where the tracked pitch
crosses halfway between the two notes), for the recording and the model's output.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from ddspkit.analysis.features import extract_features
from ddspkit.api import load_model
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.io.models import list_models
from ddspkit.midi import parts, read_midi
from ddspkit.render.evaluate import ScoreFit, attack_times_s, pitch_change_times_s, score_fit
from ddspkit.render.soundfont import render_midi
from ddspkit.render.transfer import transfer
from ddspkit.terminal import table

OTHER_SOUNDFONT = Path("/usr/share/sounds/sf3/MuseScore_General.sf3")
ALLOWED_SHORTFALL = 0.02
MAX_OCTAVE_ERRORS = 0.01


def score_notes(midi_path: Path):
    notes = [n for part in parts(read_midi(midi_path)) for n in part.notes]
    return sorted(notes, key=lambda n: n.start_s)


def heldout_pieces(model, data_root: Path) -> list[Path]:
    recipe = model.info.data_recipe
    instrument = recipe.get("instrument") or model.name.lower()
    return sorted((data_root / instrument / "heldout").glob("*.mid"))


def median_ms(times_s: np.ndarray, notes) -> float:
    """Median of (time - the note's score onset), in ms, over the notes that have a time."""
    late = times_s - np.array([n.start_s for n in notes])
    late = late[np.isfinite(late)]
    return 1000 * float(np.median(late)) if len(late) else float("nan")


@dataclass
class PieceResult:
    recording: ScoreFit
    model: ScoreFit
    octave_shift: int
    # medians, ms after the score's onsets: attacks (notes after a rest), legato changes
    attack_ms: tuple[float, float]  # (recording, model)
    change_ms: tuple[float, float]

    @property
    def passes(self) -> bool:
        return (self.model.within_50_cents >= self.recording.within_50_cents - ALLOWED_SHORTFALL
                and self.model.octave_errors <= MAX_OCTAVE_ERRORS)


def measure(model, midi_path: Path, soundfont: Path, auto_adjust: bool = True,
            tracker_reading: bool = False) -> PieceResult:
    notes = score_notes(midi_path)
    recording = render_midi(midi_path, sample_rate_hz=SAMPLE_RATE_HZ, soundfont=soundfont)
    # Both are judged by the pitch tracker's own reading (no sharpened note changes).
    heard_recording = extract_features(recording, sharpen=False)
    result = transfer(model.instrument, recording, SAMPLE_RATE_HZ, model.info.statistics,
                      auto_adjust, features=heard_recording if tracker_reading else None)
    heard_output = extract_features(result.audio, sharpen=False)
    return PieceResult(
        score_fit(heard_recording, notes), score_fit(heard_output, notes),
        result.adjustment.octave_shift,
        (median_ms(attack_times_s(recording, notes), notes),
         median_ms(attack_times_s(result.audio, notes), notes)),
        (median_ms(pitch_change_times_s(heard_recording, notes), notes),
         median_ms(pitch_change_times_s(heard_output, notes), notes)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--soundfont", type=Path, default=OTHER_SOUNDFONT)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--no-auto", action="store_true", help="transfer without auto-adjust")
    parser.add_argument("--tracker-reading", action="store_true",
                        help="feed the model the pitch tracker's own reading of note changes, "
                             "unsharpened (as ddspkit did before), to see what sharpening does")
    parser.add_argument("--markdown", action="store_true", help="print the rows as a Markdown table")
    args = parser.parse_args()
    names = args.models or [info.name for info in list_models() if info.source == "bundled"]
    console = Console(highlight=False, markup=False)  # paths print as they are
    rows = table("model", "piece", "within 50 c: recording", "model", "model octave errors",
                 "attacks (ms): recording", "model", "legato changes (ms): recording", "model",
                 "passes", title=f"transfer of held-out pieces rendered with "
                                 f"{args.soundfont.name}, against the score")
    failures = 0
    for name in names:
        model = load_model(name)
        pieces = heldout_pieces(model, args.data)
        if not pieces:
            console.print(f"{name}: no held-out pieces under {args.data} (run "
                          f"scripts/make_instrument_data.py first); skipped")
            continue
        for midi_path in pieces:
            m = measure(model, midi_path, args.soundfont, not args.no_auto, args.tracker_reading)
            failures += not m.passes
            shift = f" (octave shift {m.octave_shift:+d})" if m.octave_shift else ""
            cells = [model.name, midi_path.stem + shift, f"{m.recording.within_50_cents:.3f}",
                     f"{m.model.within_50_cents:.3f}", f"{100 * m.model.octave_errors:.2f} %",
                     *[f"{v:.0f}" for v in (*m.attack_ms, *m.change_ms)],
                     "yes" if m.passes else "NO"]
            if args.markdown:
                print("| " + " | ".join(cells) + " |", flush=True)
            rows.add_row(*cells)
    if not args.markdown:
        console.print(rows)
    console.print(f"{failures} piece(s) fail" if failures else "every piece passes")


if __name__ == "__main__":
    main()
