"""The same MIDI through a DDSP model and a sample-based synth (FluidSynth), side by side.

Which measures apply depends on the music. A monophonic line is judged by its pitch track
(f0 L1 between the two renderings). Where notes sound together (a chord, several parts), a
pitch tracker follows no single voice and its f0 jumps between voices and octaves, so each
rendering is instead transcribed to notes and scored against the MIDI (precision, recall and
F1 of notes whose onsets fall within 50 ms), the sample-based rendering giving the reference
point for what the transcription can find. Each rendering's median onset lag (a bowed attack
is heard tens of milliseconds after its note-on) is measured, reported and removed before the
onsets are matched. Spectral distance and loudness L1 apply to both kinds.

Expression: the profile the model plays with (its own where it played plain: what
``--expression learned`` would draw from) beside the expression measured note by note in
each rendering of a monophonic line (vibrato rate, depth and onset, attack and release;
:mod:`ddspkit.analysis.measure`, on the MIDI's notes), in a table and a figure of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddspkit.analysis.features import extract_features
from ddspkit.analysis.measure import MeasuredExpression, measure_expression
from ddspkit.analysis.profile import ExpressionProfile
from ddspkit.audio import write_audio
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.io.model import Model
from ddspkit.midi import Note
from ddspkit.render.evaluate import NoteScores, loudness_l1_db, note_scores, score

SIMULTANEOUS_S = 0.03  # notes overlapping by more than this sound together
COLORS = ("tab:orange", "tab:blue")  # the model's rendering, the sample-based one


@dataclass
class Comparison:
    """What ``compare`` wrote and measured: the model's rendering against the sample-based one.

    ``f0_*`` are set for monophonic music and ``notes`` (per rendering: "model" and
    "sample-based", each against the MIDI) for polyphonic music; the other stays None.
    ``profile`` is the profile the model played with, else its own (None: it has none and
    plays the literature's); ``expression`` the expression measured in each rendering
    ("model", "sample-based"), None for polyphonic music; ``played`` how the model's
    notes were shaped: "plain", "learned" (drawn from its own profile) or "another profile"
    (a profile's file: then ``profile`` is that one).
    """

    model_path: Path
    sampler_path: Path
    figure_path: Path
    polyphonic: bool
    spectral_distance: float
    loudness_l1_db: float
    level_gain_db: float  # applied to the sample-based rendering to match loudness
    f0_l1_semitones: float | None = None
    f0_outlier_share: float | None = None
    notes: dict[str, NoteScores] | None = None
    expression_figure_path: Path | None = None
    profile: ExpressionProfile | None = None
    expression: dict[str, MeasuredExpression] | None = None
    played: str = "plain"
    model_name: str = "model"


def is_polyphonic(notes: list[Note]) -> bool:
    """True when any two notes sound together for more than SIMULTANEOUS_S."""
    ordered = sorted(notes, key=lambda n: n.start_s)
    latest_end = -np.inf
    for note in ordered:
        if latest_end - note.start_s > SIMULTANEOUS_S:
            return True
        latest_end = max(latest_end, note.end_s)
    return False


def compare(model: Model, midi_path: Path, output_dir: Path, soundfont: Path | None = None,
            part_selection: list[str] | None = None, **render_options) -> Comparison:
    """Render ``midi_path`` both ways, level-match (RMS), write WAVs, two figures (the
    renderings; the expression beside the profile) and measures."""
    from ddspkit.midi import parts, read_midi, select_parts
    from ddspkit.render.midi import render_parts
    from ddspkit.render.soundfont import render_midi

    chosen = select_parts(parts(read_midi(midi_path)), part_selection)
    score_notes = [n for part in chosen for n in part.notes]
    sampled_16k = render_midi(midi_path, sample_rate_hz=SAMPLE_RATE_HZ, soundfont=soundfont)
    ours = render_parts(model.instrument, model.info.statistics, chosen,
                        sample_rate_hz=SAMPLE_RATE_HZ, **render_options).audio
    ours, sampled_16k, gain = _level_match(ours, sampled_16k)
    stem = Path(midi_path).stem
    model_path = write_audio(output_dir / f"{stem}-{model.name}.wav", ours, SAMPLE_RATE_HZ)
    sampler_path = write_audio(output_dir / f"{stem}-soundfont.wav", sampled_16k, SAMPLE_RATE_HZ)
    figure_path = output_dir / f"{stem}-comparison.png"
    sampled_features, our_features = extract_features(sampled_16k), extract_features(ours)
    expression = render_options.get("expression")
    played_profile = getattr(expression, "profile", None)
    profile = played_profile or model.info.expression_profile
    polyphonic = is_polyphonic(score_notes)
    measured = None if polyphonic else {"model": measure_expression(ours, score_notes),
                                        "sample-based": measure_expression(sampled_16k, score_notes)}
    own = model.info.expression_profile
    played = _how_played(played_profile, own)
    which = ("the profile it played with" if played == "another profile" else
             "its profile" if own is not None else "the literature's profile (it has none)")
    expression_figure_path = _expression_figure(profile, measured, model.name, played, which,
                                                output_dir / f"{stem}-expression.png")
    common = dict(model_path=model_path, sampler_path=sampler_path, figure_path=figure_path,
                  level_gain_db=20 * np.log10(gain), expression_figure_path=expression_figure_path,
                  profile=profile, expression=measured, played=played, model_name=model.name)
    if polyphonic:
        from ddspkit.midi.transcription import transcribe

        transcriptions = {model.name: transcribe(ours, SAMPLE_RATE_HZ),
                          "sample-based": transcribe(sampled_16k, SAMPLE_RATE_HZ)}
        notes = {label: note_scores(score_notes, found)
                 for label, found in zip(("model", "sample-based"), transcriptions.values(),
                                         strict=True)}
        _polyphonic_figure(ours, sampled_16k, model.name, score_notes, transcriptions,
                           (our_features, sampled_features), figure_path)
        return Comparison(polyphonic=True, notes=notes, **common,
                          spectral_distance=score(sampled_16k, sampled_features, ours).spectral_distance,
                          loudness_l1_db=loudness_l1_db(sampled_features.power_db,
                                                        our_features.power_db))
    scores = score(sampled_16k, sampled_features, ours)
    _monophonic_figure(ours, sampled_16k, model.name, (our_features, sampled_features), figure_path)
    return Comparison(polyphonic=False, spectral_distance=scores.spectral_distance,
                      loudness_l1_db=scores.loudness_l1_db, f0_l1_semitones=scores.f0_l1_semitones,
                      f0_outlier_share=scores.f0_outlier_share, **common)


def _level_match(ours: np.ndarray, sampled: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Trim to the shorter, scale the sample-based rendering to our RMS, keep both unclipped."""
    n = min(len(ours), len(sampled))
    ours, sampled = ours[:n], sampled[:n]
    rms = [float(np.sqrt(np.mean(x**2))) + 1e-12 for x in (ours, sampled)]
    gain = rms[0] / rms[1]
    sampled = sampled * gain
    peak = max(float(np.abs(sampled).max()), 1e-9)
    if peak > 0.99:
        sampled, ours = sampled * 0.99 / peak, ours * 0.99 / peak
    return ours, sampled, gain


def _how_played(played_profile: ExpressionProfile | None, own: ExpressionProfile | None) -> str:
    """"plain", "learned" (drawn from the model's own profile, or from the literature's, which
    a model without one plays) or "another profile" (a profile's file)."""
    if played_profile is None:
        return "plain"
    if played_profile is own or (own is None and played_profile.source == "literature"):
        return "learned"
    return "another profile"


def _expression_figure(profile: ExpressionProfile | None,
                       measured: dict[str, MeasuredExpression] | None, name: str, played: str,
                       which: str, path: Path) -> Path:
    """The profile (``which`` says whose) beside each rendering's measured expression
    (polyphony: the profile alone)."""
    from ddspkit.render.plot import plot_expression

    labels = {"model": f"{name}\n({played})", "sample-based": "FluidSynth"}
    shown = {labels[key]: m for key, m in (measured or {}).items()}
    note = "" if measured is not None else "; notes sound together: the renderings are not measured"
    return plot_expression(profile, shown, path, title=f"{name}: {which} beside each rendering{note}",
                           colors=COLORS)


def _monophonic_figure(ours, sampled, name: str, features, path: Path) -> None:
    """Spectrograms of both, then their f0 and loudness curves."""
    from ddspkit.render.plot import curves, figure, label_curve_axes, save_figure, spectrogram

    fig, axes = figure(4)
    spectrogram(axes[0], ours, name)
    spectrogram(axes[1], sampled, "sample-based (FluidSynth)")
    curves(axes[2], axes[3], features[0], name, COLORS[0])
    curves(axes[2], axes[3], features[1], "sample-based", COLORS[1])
    label_curve_axes(axes[2], axes[3])
    save_figure(fig, path)


def _polyphonic_figure(ours, sampled, name: str, score_notes: list[Note],
                       transcriptions: dict[str, list[Note]], features, path: Path) -> None:
    """Spectrograms of both, a piano roll of the MIDI with each transcription over it, loudness."""
    from ddspkit.render.plot import figure, loudness_curve, piano_roll, save_figure, spectrogram

    fig, axes = figure(4, heights=(1, 1, 1.4, 0.8))
    spectrogram(axes[0], ours, name)
    spectrogram(axes[1], sampled, "sample-based (FluidSynth)")
    piano_roll(axes[2], score_notes, transcriptions, COLORS)
    for (label, _), feats, color in zip(transcriptions.items(), features, COLORS, strict=True):
        loudness_curve(axes[3], feats, label, color)
    save_figure(fig, path)
