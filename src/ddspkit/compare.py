"""The same MIDI through a DDSP model and a sample-based synth (FluidSynth), side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddspkit.audio import atomic_write, write_audio
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.evaluate import Scores, score
from ddspkit.features import extract_features


@dataclass
class Comparison:
    model_path: Path
    sampler_path: Path
    figure_path: Path
    scores: Scores  # the model's rendering measured against the sample-based one
    level_gain_db: float  # applied to the sample-based rendering to match loudness


def compare(model, midi_path: Path, output_dir: Path, soundfont: Path | None = None,
            **render_options) -> Comparison:
    """Render ``midi_path`` both ways, level-match (RMS), write WAVs, a figure and scores."""
    from ddspkit.midi import render_midi_file
    from ddspkit.soundfont import render_midi

    sampled_16k = render_midi(midi_path, sample_rate_hz=SAMPLE_RATE_HZ, soundfont=soundfont)
    ours = render_midi_file(model.instrument, model.info.statistics, midi_path,
                            sample_rate_hz=SAMPLE_RATE_HZ, **render_options).audio
    n = min(len(ours), len(sampled_16k))
    ours, sampled_16k = ours[:n], sampled_16k[:n]
    rms = [float(np.sqrt(np.mean(x**2))) + 1e-12 for x in (ours, sampled_16k)]
    gain = rms[0] / rms[1]
    sampled_16k = sampled_16k * gain
    peak = max(float(np.abs(sampled_16k).max()), 1e-9)
    if peak > 0.99:
        sampled_16k, ours = sampled_16k * 0.99 / peak, ours * 0.99 / peak
    stem = Path(midi_path).stem
    model_path = write_audio(output_dir / f"{stem}-{model.name}.wav", ours, SAMPLE_RATE_HZ)
    sampler_path = write_audio(output_dir / f"{stem}-soundfont.wav", sampled_16k, SAMPLE_RATE_HZ)
    target_features = extract_features(sampled_16k)
    scores = score(sampled_16k, target_features, ours)
    figure = _figure(ours, sampled_16k, model.name, output_dir / f"{stem}-comparison.png")
    return Comparison(model_path, sampler_path, figure, scores, 20 * np.log10(gain))


def _figure(ours: np.ndarray, sampled: np.ndarray, name: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ddspkit.plot import curves, label_curve_axes, spectrogram

    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True, constrained_layout=True)
    spectrogram(axes[0], ours, name)
    spectrogram(axes[1], sampled, "sample-based (FluidSynth)")
    curves(axes[2], axes[3], extract_features(ours), name)
    curves(axes[2], axes[3], extract_features(sampled), "sample-based")
    label_curve_axes(axes[2], axes[3])
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return path
