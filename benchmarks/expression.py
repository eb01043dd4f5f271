"""Does a model play MIDI like the player? `python benchmarks/expression.py [MODEL ...]`.

For each model (default: the bundled string, wind and brass instruments), the held-out pieces
of its training data (``DATA/<instrument>/heldout/*.mid``, from scripts/make_instrument_data.py;
scripts/learn_profiles.py makes them) are rendered by another soundfont than the training
data's (``--soundfont``, default MuseScore General: Debian's musescore-general-soundfont-small),
standing in for "the recording of that MIDI", and by the model twice: with its learned
expression profile (``--profiles``: the JSON files scripts/learn_profiles.py writes, or the
model's own) and plain (the fixed ADSR). All three are measured alike against the score's
notes (:func:`ddspkit.analysis.expression.measure_notes`, with the audio): median vibrato rate
and depth over the notes that carry one, median attack time of notes after a rest; and each
rendering against the recording: the multi-scale spectral distance and the correlation of
the loudness contours (frames where the recording sounds).

Acceptance (issue 19), per instrument: vibrato rate within 1 Hz and depth within 35 % of the
recording's, attack within 30 %, and the learned rendering closer to the recording than the
plain one in spectral distance and loudness correlation.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ddspkit.analysis.expression import measure_notes
from ddspkit.analysis.features import extract_features
from ddspkit.analysis.profile import ExpressionProfile
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.dsp.losses import multiscale_spectral_loss
from ddspkit.io.models import load_model
from ddspkit.midi import Expression, parts, read_midi
from ddspkit.render.midi import render_midi_file
from ddspkit.render.soundfont import render_midi

ROOT = Path(__file__).resolve().parents[1]
OTHER_SOUNDFONT = Path("/usr/share/sounds/sf3/MuseScore_General.sf3")
PLAYED = ("Cello", "Violin", "Flute", "Trumpet", "Saxophone", "Bassoon", "Trombone", "Tuba",
          "Clarinet", "Melodica")


@dataclass
class Played:
    """Expression measured in one rendering of a piece, against its score."""

    vibrato_rate_hz: float
    vibrato_depth_cents: float
    attack_s: float
    power_db: np.ndarray
    audio: np.ndarray


def measure(audio_16k: np.ndarray, notes) -> Played:
    features = extract_features(audio_16k, sharpen=False)
    measured = measure_notes(features.f0_hz, features.power_db, features.voiced,
                             [(n.pitch, n.start_s, n.end_s) for n in notes], audio_16k=audio_16k)

    def median(name: str) -> float:
        values = np.array([getattr(m, name) for m in measured], np.float64)
        if name.startswith("vibrato"):
            values = np.where(np.isfinite([m.vibrato_rate_hz for m in measured]), values, np.nan)
        return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")

    return Played(median("vibrato_rate_hz"), median("vibrato_depth_cents"), median("attack_s"),
                  features.power_db, audio_16k)


def against(recording: Played, rendering: Played) -> tuple[float, float]:
    """(spectral distance, loudness-contour correlation) of a rendering to the recording."""
    n = min(len(recording.audio), len(rendering.audio))
    with torch.no_grad():
        distance = float(multiscale_spectral_loss(torch.from_numpy(rendering.audio[None, :n]),
                                                  torch.from_numpy(recording.audio[None, :n])))
    frames = min(len(recording.power_db), len(rendering.power_db))
    sounding = recording.power_db[:frames] > -60
    correlation = float(np.corrcoef(recording.power_db[:frames][sounding],
                                    rendering.power_db[:frames][sounding])[0, 1])
    return distance, correlation


def profile_of(model, profiles: Path | None) -> ExpressionProfile | None:
    if profiles is not None and (profiles / f"{model.info.name}.json").is_file():
        return ExpressionProfile.from_dict(json.loads((profiles / f"{model.info.name}.json").read_text()))
    return getattr(model.info, "expression_profile", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(PLAYED))
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--profiles", type=Path, default=None)
    parser.add_argument("--soundfont", type=Path, default=OTHER_SOUNDFONT)
    args = parser.parse_args()
    table = Table("model", "vibrato Hz: rec / learned / plain", "depth cents: rec / learned / plain",
                  "attack ms: rec / learned / plain", "spectral dist.: learned / plain",
                  "loudness corr.: learned / plain", "passes",
                  title=f"expression against {args.soundfont.name}'s rendering of held-out MIDI")
    for name in args.models:
        model = load_model(name, "cpu")
        profile = profile_of(model, args.profiles)
        instrument = model.info.data_recipe.get("instrument", name.lower())
        pieces = sorted((args.data / instrument / "heldout").glob("*.mid"))
        if profile is None or not pieces:
            table.add_row(escape(name), "no profile or no held-out pieces", "", "", "", "", "")
            continue
        rows = []
        for midi_path in pieces:
            notes = sorted([n for p in parts(read_midi(midi_path)) for n in p.notes], key=lambda n: n.start_s)
            recording = measure(render_midi(midi_path, soundfont=args.soundfont), notes)
            played = {}
            for label, expression in (("learned", Expression(profile=profile)), ("plain", Expression())):
                audio = render_midi_file(model.instrument, model.info.statistics, midi_path,
                                         expression=expression, reverb=False,
                                         sample_rate_hz=SAMPLE_RATE_HZ).audio
                played[label] = measure(audio, notes)
            rows.append((recording, played["learned"], played["plain"],
                         against(recording, played["learned"]), against(recording, played["plain"])))
        rec, learned, plain = (np.array([[getattr(r[i], f) for f in ("vibrato_rate_hz", "vibrato_depth_cents",
                                                                     "attack_s")] for r in rows])
                               for i in range(3))
        rec, learned, plain = (np.nanmedian(x, axis=0) for x in (rec, learned, plain))
        dist_l, corr_l = np.mean([r[3] for r in rows], axis=0)
        dist_p, corr_p = np.mean([r[4] for r in rows], axis=0)
        passes = [abs(learned[0] - rec[0]) <= 1.0, abs(learned[1] - rec[1]) <= 0.35 * rec[1],
                  abs(learned[2] - rec[2]) <= 0.3 * rec[2], dist_l < dist_p, corr_l > corr_p]
        table.add_row(escape(name), f"{rec[0]:.2f} / {learned[0]:.2f} / {plain[0]:.2f}",
                      f"{rec[1]:.1f} / {learned[1]:.1f} / {plain[1]:.1f}",
                      f"{1000 * rec[2]:.0f} / {1000 * learned[2]:.0f} / {1000 * plain[2]:.0f}",
                      f"{dist_l:.3f} / {dist_p:.3f}", f"{corr_l:.3f} / {corr_p:.3f}",
                      " ".join("yes" if p else "no" for p in passes))
        Console(width=200, markup=False).print(f"{name}: {len(pieces)} pieces done")
    Console(width=200).print(table)
    Console(width=200).print("passes: vibrato rate (1 Hz), depth (35 %), attack (30 %), spectral distance, "
                             "loudness correlation")


if __name__ == "__main__":
    main()
