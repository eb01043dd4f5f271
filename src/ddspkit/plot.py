"""Figures: input and output pitch, loudness and spectrograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ddspkit.audio import atomic_write, resample
from ddspkit.config import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from ddspkit.core import midi_to_hz
from ddspkit.features import Features, extract_features
from ddspkit.transfer import TransferResult


def plot_transfer(result: TransferResult, path: str | Path, input_audio: np.ndarray,
                  title: str = "") -> Path:
    """Write a PNG/PDF/SVG comparing input and output: spectrograms, f0 and power curves.

    The output's f0 and power are tracked independently from the rendered audio, so the
    figure shows what came out, not what was asked for.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    input_16k = resample(input_audio, result.sample_rate_hz, SAMPLE_RATE_HZ)
    output_16k = resample(result.audio, result.sample_rate_hz, SAMPLE_RATE_HZ)
    out_features = extract_features(output_16k)
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True, constrained_layout=True)
    spectrogram(axes[0], input_16k, "input")
    spectrogram(axes[1], output_16k, "output")
    curves(axes[2], axes[3], result.input_features, "input", "tab:blue")
    curves(axes[2], axes[3], result.model_features, "model input (adjusted)", "tab:orange")
    curves(axes[2], axes[3], out_features, "output (tracked)", "tab:green")
    label_curve_axes(axes[2], axes[3])
    adj = result.adjustment
    fig.suptitle(f"{title}  (pitch shift {adj.pitch_shift_semitones:+g} st, "
                 f"loudness shift {adj.loudness_shift_db:+g} dB)")
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format=path.suffix[1:] or "png"))
    plt.close(fig)
    return path


def plot_polyphonic(input_audio: np.ndarray, output_audio: np.ndarray, sample_rate_hz: int,
                    notes, path: str | Path, title: str = "") -> Path:
    """Input and output spectrograms with the transcribed notes drawn over both.

    ``notes``: :class:`ddspkit.midi.Note` list (times in s, MIDI pitch).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(11, 7), sharex=True, constrained_layout=True)
    for ax, audio, label in ((axes[0], input_audio, "input"), (axes[1], output_audio, "output")):
        spectrogram(ax, resample(audio, sample_rate_hz, SAMPLE_RATE_HZ), label)
        for n in notes:  # each note as a line at its fundamental
            f0_hz = float(midi_to_hz(n.pitch))
            ax.plot([n.start_s, n.end_s], [f0_hz, f0_hz], color="cyan", lw=0.8, alpha=0.7)
        ax.set_ylim(0, 2000)
    axes[1].set_xlabel("time (s)")
    fig.suptitle(f"{title}  ({len(notes)} transcribed notes, drawn at their fundamentals)")
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format=path.suffix[1:] or "png"))
    plt.close(fig)
    return path


def spectrogram(ax, audio_16k: np.ndarray, label: str) -> None:
    """Log-magnitude spectrogram of [T] 16 kHz audio, 0-4 kHz."""
    with np.errstate(divide="ignore"):
        ax.specgram(audio_16k + 1e-9, NFFT=1024, Fs=SAMPLE_RATE_HZ, noverlap=768, cmap="magma",
                    vmin=-120)
    ax.set_ylim(0, 4000)
    ax.set_ylabel(f"{label}\nfrequency (Hz)")


def curves(ax_f0, ax_power, features: Features, label: str, color: str | None = None) -> None:
    """f0 (voiced frames) and power curves of some features, against time in seconds."""
    t_s = np.arange(features.n_frames) / FRAME_RATE_HZ
    f0 = np.where(features.voiced, features.f0_hz, np.nan)
    ax_f0.plot(t_s, f0, color=color, lw=1.2, label=label)
    ax_power.plot(t_s, features.power_db, color=color, lw=1.0, label=label)


def label_curve_axes(ax_f0, ax_power) -> None:
    ax_f0.set_ylabel("f0 (Hz, voiced frames)")
    ax_f0.set_yscale("log")
    ax_f0.legend(loc="upper right", fontsize="small")
    ax_power.set_ylabel("power (dB)")
    ax_power.set_xlabel("time (s)")
