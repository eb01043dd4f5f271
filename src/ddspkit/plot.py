"""Figures: input and output pitch, loudness and spectrograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ddspkit.audio import atomic_write, resample
from ddspkit.config import DB_RANGE, FRAME_RATE_HZ, SAMPLE_RATE_HZ
from ddspkit.core import midi_to_hz
from ddspkit.features import Features, extract_features
from ddspkit.transfer import TransferResult


def literal(text: str) -> str:
    """``text`` as matplotlib should print it: ``$`` would start mathtext (a file named
    ``take $1.wav`` would lose its dollar or fail to draw), and a legend drops labels that
    start with ``_``."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def plot_transfer(result: TransferResult, path: str | Path, input_audio: np.ndarray,
                  title: str = "") -> Path:
    """Write a PNG/PDF/SVG comparing input and output: spectrograms, f0 and power curves.

    The output's f0 and power are tracked independently from the rendered audio, so the
    figure shows what came out, not what was asked for.
    """
    input_16k = resample(input_audio, result.sample_rate_hz, SAMPLE_RATE_HZ)
    output_16k = resample(result.audio, result.sample_rate_hz, SAMPLE_RATE_HZ)
    out_features = extract_features(output_16k)
    fig, axes = figure(4)
    spectrogram(axes[0], input_16k, "input")
    spectrogram(axes[1], output_16k, "output")
    curves(axes[2], axes[3], result.input_features, "input", "tab:blue")
    curves(axes[2], axes[3], result.model_features, "model input (adjusted)", "tab:orange")
    curves(axes[2], axes[3], out_features, "output (tracked)", "tab:green")
    label_curve_axes(axes[2], axes[3])
    adj = result.adjustment
    fig.suptitle(f"{literal(title)}  (pitch shift {adj.pitch_shift_semitones:+g} st, "
                 f"loudness shift {adj.loudness_shift_db:+g} dB)")
    return save_figure(fig, path)


def plot_polyphonic(input_audio: np.ndarray, output_audio: np.ndarray, sample_rate_hz: int,
                    notes, path: str | Path, title: str = "") -> Path:
    """Input and output spectrograms with the transcribed notes drawn over both.

    ``notes``: :class:`ddspkit.midi.Note` list (times in s, MIDI pitch).
    """
    fig, axes = figure(2)
    for ax, audio, label in ((axes[0], input_audio, "input"), (axes[1], output_audio, "output")):
        spectrogram(ax, resample(audio, sample_rate_hz, SAMPLE_RATE_HZ), label)
        for n in notes:  # each note as a line at its fundamental
            f0_hz = float(midi_to_hz(n.pitch))
            ax.plot([n.start_s, n.end_s], [f0_hz, f0_hz], color="cyan", lw=0.8, alpha=0.7)
        ax.set_ylim(0, 2000)
    axes[1].set_xlabel("time (s)")
    fig.suptitle(f"{literal(title)}  ({len(notes)} transcribed notes, drawn at their fundamentals)")
    return save_figure(fig, path)


def plot_render(result, score_notes, path: str | Path, title: str = "") -> Path:
    """A MIDI rendering: the output's spectrogram, the notes with each voice's pitch curve
    over them, and each voice's loudness curve.

    ``result``: a :class:`ddspkit.midi.RenderResult`; ``score_notes``: the rendered parts'
    :class:`ddspkit.midi.Note` list.
    """
    from ddspkit.core import hz_to_midi

    fig, axes = figure(3, heights=(1, 1.2, 0.8))
    spectrogram(axes[0], resample(result.audio, result.sample_rate_hz, SAMPLE_RATE_HZ), "output")
    piano_roll(axes[1], score_notes, {})
    for i, ((part, _), (f0_hz, power_db)) in enumerate(zip(result.voices, result.curves, strict=True)):
        t_s = np.arange(len(f0_hz)) / FRAME_RATE_HZ
        sounding = power_db > -DB_RANGE  # the curve holds its pitch through silences
        label = literal(f"voice {i + 1} ({part})")
        axes[1].plot(t_s, np.where(sounding, hz_to_midi(f0_hz), np.nan), lw=1.0, label=label)
        axes[2].plot(t_s, power_db, lw=1.0, label=label)
    axes[1].legend(loc="upper right", fontsize="small")
    axes[2].set_ylabel("power (dB)")
    axes[2].set_xlabel("time (s)")
    fig.suptitle(f"{literal(title)}  ({len(score_notes)} notes in {len(result.voices)} voice(s); "
                 "grey: the MIDI, lines: the pitch played)")
    return save_figure(fig, path)


def spectrogram(ax, audio_16k: np.ndarray, label: str) -> None:
    """Log-magnitude spectrogram of [T] 16 kHz audio, 0-4 kHz."""
    with np.errstate(divide="ignore"):
        ax.specgram(audio_16k + 1e-9, NFFT=1024, Fs=SAMPLE_RATE_HZ, noverlap=768, cmap="magma",
                    vmin=-120)
    ax.set_ylim(0, 4000)
    ax.set_ylabel(f"{literal(label)}\nfrequency (Hz)")


def figure(n_rows: int, heights: tuple[float, ...] | None = None):
    """A figure of ``n_rows`` panels over a shared time axis: (fig, axes)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, on any machine
    import matplotlib.pyplot as plt

    return plt.subplots(n_rows, 1, figsize=(11, 2.5 * n_rows), sharex=True,
                        constrained_layout=True, gridspec_kw={"height_ratios": heights})


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` atomically (PNG, PDF or SVG by the suffix) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format=path.suffix[1:] or "png"))
    plt.close(fig)
    return path


def curves(ax_f0, ax_power, features: Features, label: str, color: str | None = None) -> None:
    """f0 (voiced frames) and power curves of some features, against time in seconds."""
    t_s = np.arange(features.n_frames) / FRAME_RATE_HZ
    f0 = np.where(features.voiced, features.f0_hz, np.nan)
    ax_f0.plot(t_s, f0, color=color, lw=1.2, label=literal(label))
    loudness_curve(ax_power, features, label, color)


def loudness_curve(ax, features: Features, label: str, color: str | None = None) -> None:
    """Frame power in dB against time in seconds, labelled and with a legend."""
    t_s = np.arange(features.n_frames) / FRAME_RATE_HZ
    ax.plot(t_s, features.power_db, color=color, lw=1.0, label=literal(label))
    ax.set_ylabel("power (dB)")
    ax.set_xlabel("time (s)")
    ax.legend(loc="upper right", fontsize="small")


def piano_roll(ax, score_notes, transcriptions: dict,
               colors: tuple[str, ...] = ("tab:orange", "tab:blue", "tab:green")) -> None:
    """The score's notes as wide grey bars, each transcription's as thin lines over them.

    ``score_notes`` and each value of ``transcriptions`` (label -> notes) are
    :class:`ddspkit.midi.Note` lists; lines are nudged apart so that each stays visible.
    """
    for n in score_notes:
        ax.plot([n.start_s, n.end_s], [n.pitch, n.pitch], color="0.75", lw=6,
                solid_capstyle="butt")
    for i, (label, notes) in enumerate(transcriptions.items()):
        offset = 0.2 * (i - (len(transcriptions) - 1) / 2)
        for j, n in enumerate(notes):
            ax.plot([n.start_s, n.end_s], [n.pitch + offset] * 2, color=colors[i % len(colors)],
                    lw=1.4, label=literal(f"{label} (transcribed)") if j == 0 else None)
    ax.plot([], [], color="0.75", lw=6, label="MIDI")
    ax.set_ylabel("MIDI note")
    ax.legend(loc="upper right", fontsize="small")


def label_curve_axes(ax_f0, ax_power) -> None:
    ax_f0.set_ylabel("f0 (Hz, voiced frames)")
    ax_f0.set_yscale("log")
    ax_f0.legend(loc="upper right", fontsize="small")
    ax_power.legend(loc="upper right", fontsize="small")
