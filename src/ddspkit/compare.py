"""The same MIDI through a DDSP model and a sample-based synth (FluidSynth), side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddspkit.audio import atomic_write, resample, write_audio
from ddspkit.config import FRAME_RATE_HZ, SAMPLE_RATE_HZ
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

    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True, constrained_layout=True)
    for ax, audio, label in ((axes[0], ours, name), (axes[1], sampled, "sample-based (FluidSynth)")):
        with np.errstate(divide="ignore"):
            ax.specgram(audio + 1e-9, NFFT=1024, Fs=SAMPLE_RATE_HZ, noverlap=768, cmap="magma",
                        vmin=-120)
        ax.set_ylim(0, 4000)
        ax.set_ylabel(f"{label}\nfrequency (Hz)")
    for audio, label in ((ours, name), (sampled, "sample-based")):
        feats = extract_features(resample(audio, SAMPLE_RATE_HZ, SAMPLE_RATE_HZ))
        t_s = np.arange(feats.n_frames) / FRAME_RATE_HZ
        axes[2].plot(t_s, np.where(feats.voiced, feats.f0_hz, np.nan), lw=1, label=label)
        axes[3].plot(t_s, feats.power_db, lw=1, label=label)
    axes[2].set_ylabel("f0 (Hz)")
    axes[2].set_yscale("log")
    axes[3].set_ylabel("power (dB)")
    axes[3].set_xlabel("time (s)")
    axes[2].legend(loc="upper right", fontsize="small")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return path
