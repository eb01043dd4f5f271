"""Figures: input and output pitch, loudness and spectrograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ddspkit.analysis.features import Features, extract_features
from ddspkit.audio import atomic_write, resample
from ddspkit.config import DB_RANGE, FRAME_RATE_HZ, SAMPLE_RATE_HZ
from ddspkit.dsp.core import hz_to_midi, midi_to_hz, note_name
from ddspkit.render.transfer import TransferResult
from ddspkit.training.data import SILENT_FRAME_POWER_DB, PreparedDataset


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
                 f"{adj.loudness_text()})")
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

    ``result``: a :class:`ddspkit.render.midi.RenderResult`; ``score_notes``: the rendered parts'
    :class:`ddspkit.midi.Note` list.
    """
    from ddspkit.dsp.core import hz_to_midi

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


SPECTROGRAM_FLOOR_DB = -120.0  # the colour scale's bottom
SPECTROGRAM_MIN_RANGE_DB = 60.0  # the colour scale spans at least this much (silence: all floor)


def spectrogram(ax, audio_16k: np.ndarray, label: str) -> None:
    """Log-power spectrogram of [T] 16 kHz audio, 0-4 kHz, in dB (floor -120 dB).

    Safe on any input: silence or a constant signal draws as the floor colour (the scale
    keeps its 60 dB span), audio shorter than one FFT window (or none) is zero-padded, and
    non-finite samples are drawn as silence.
    """
    from matplotlib import mlab

    n_fft, hop = 1024, 256
    audio = np.nan_to_num(np.asarray(audio_16k, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if len(audio) < n_fft + hop:  # two windows at least (one makes matplotlib warn)
        audio = np.pad(audio, (0, n_fft + hop - len(audio)))
    power, freqs_hz, times_s = mlab.specgram(audio, NFFT=n_fft, Fs=SAMPLE_RATE_HZ,
                                             noverlap=n_fft - hop, mode="psd")
    power_db = 10 * np.log10(np.maximum(power, 1e-30))
    power_db = np.maximum(power_db, SPECTROGRAM_FLOOR_DB)
    top_db = max(float(power_db.max()), SPECTROGRAM_FLOOR_DB + SPECTROGRAM_MIN_RANGE_DB)
    half_s = hop / SAMPLE_RATE_HZ / 2
    ax.imshow(power_db, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
              vmin=SPECTROGRAM_FLOOR_DB, vmax=top_db,
              extent=(float(times_s[0]) - half_s, float(times_s[-1]) + half_s,
                      float(freqs_hz[0]), float(freqs_hz[-1])))
    ax.set_ylim(0, 4000)
    ax.set_ylabel(f"{literal(label)}\nfrequency (Hz)")


def pyplot():
    """matplotlib.pyplot drawing off screen: figures go to files (or PNG bytes), on any machine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(n_rows: int, heights: tuple[float, ...] | None = None):
    """A figure of ``n_rows`` panels over a shared time axis: (fig, axes)."""
    return pyplot().subplots(n_rows, 1, figsize=(11, 2.5 * n_rows), sharex=True,
                        constrained_layout=True, gridspec_kw={"height_ratios": heights})


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` atomically (PNG, PDF or SVG by the suffix) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format=path.suffix[1:] or "png"))
    plt.close(fig)
    return path


def png_bytes(fig) -> bytes:
    """``fig`` as PNG bytes (for a display that is redrawn often), closing it."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    pyplot().close(fig)
    return buffer.getvalue()


def plot_dataset(data: PreparedDataset, path: str | Path) -> Path:
    """Histograms of a prepared dataset: pitch (voiced, non-silent frames, MIDI notes) and
    power (non-silent frames, dB), each with the model range box the plugin shows shaded."""
    features = [f.features for f in data.files]
    power_db = np.concatenate([f.power_db for f in features])
    active = power_db > SILENT_FRAME_POWER_DB
    voiced = np.concatenate([f.voiced for f in features]) & active
    pitch_midi = hz_to_midi(np.concatenate([f.f0_hz for f in features])[voiced])
    st = data.statistics
    fig, (ax_pitch, ax_power) = pyplot().subplots(1, 2, figsize=(11, 3), constrained_layout=True)
    lo, hi = (float(pitch_midi.min()), float(pitch_midi.max())) if pitch_midi.size else (48.0, 72.0)
    ax_pitch.hist(pitch_midi, bins=np.arange(np.floor(lo) - 1, np.ceil(hi) + 1.5, 0.5),
                  color="tab:blue")
    ax_pitch.axvspan(hz_to_midi(st.mean_min_pitch_note_hz), hz_to_midi(st.mean_max_pitch_note_hz),
                     color="tab:orange", alpha=0.2, label="model range")
    spacing = 12 if hi - lo > 24 else 4 if hi - lo > 8 else 2  # note names, a few per panel
    ticks = np.arange(0, 128, spacing)
    ax_pitch.set_xticks(ticks, [note_name(float(midi_to_hz(n))) for n in ticks])
    ax_pitch.set_xlim(lo - 2, hi + 2)
    ax_pitch.set_xlabel("pitch (voiced frames)")
    ax_power.hist(power_db[active], bins=np.arange(SILENT_FRAME_POWER_DB, 1, 1.0), color="tab:green")
    ax_power.axvspan(st.mean_min_power_note, st.mean_max_power_note, color="tab:orange", alpha=0.2,
                     label="model range")
    ax_power.set_xlabel(f"power (dB, frames above {SILENT_FRAME_POWER_DB:.0f} dB)")
    for ax in (ax_pitch, ax_power):
        ax.set_ylabel("frames")
        ax.legend(loc="upper right", fontsize="small")
    minutes = data.summary.usable_minutes
    fig.suptitle(f"{len(data.files)} files, {minutes:.1f} min of usable audio")
    return save_figure(fig, path)


def loss_figure(history: list[dict], steps: list[int], losses: list[float]):
    """Training loss against step: this session's steps (and a running mean), with the run's
    checkpoints from ``history.jsonl`` (mean training loss and held-out loss) over them."""
    fig, ax = pyplot().subplots(figsize=(11, 3), constrained_layout=True)
    if steps:
        ax.plot(steps, losses, color="tab:blue", alpha=0.35, lw=0.8, label="training loss")
        width = min(50, len(losses) // 10)  # a running mean once there are enough steps
        if width >= 2:
            mean = np.convolve(losses, np.ones(width) / width, mode="valid")
            ax.plot(steps[width - 1 :], mean, color="tab:blue", lw=1.5,
                    label=f"running mean ({width} steps)")
    rows = [r for r in history if r.get("step") is not None]
    for key, label, marker, color in (
            ("train_loss", "training loss, mean since the last checkpoint", "o", "tab:purple"),
            ("validation_loss", "held-out loss", "s", "tab:orange")):
        points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), float | int)
                  and np.isfinite(r[key])]
        if points:
            ax.plot(*zip(*points, strict=True), marker=marker, ls="-", lw=1, color=color, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("multi-scale spectral loss")
    if ax.has_data():
        ax.legend(loc="upper right", fontsize="small")
    return fig


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
    """Label the f0 and power panels; f0 on a log scale once any frame is voiced (with none, a
    log scale has nothing to span: the panel stays linear and says so)."""
    ax_f0.set_ylabel("f0 (Hz, voiced frames)")
    voiced = [line.get_ydata() for line in ax_f0.get_lines()]
    if any(np.isfinite(np.asarray(y, dtype=float)).any() for y in voiced):
        ax_f0.set_yscale("log")
    else:
        ax_f0.text(0.5, 0.5, "no voiced frames", transform=ax_f0.transAxes, ha="center",
                   va="center", color="0.4")
    ax_f0.legend(loc="upper right", fontsize="small")
    ax_power.legend(loc="upper right", fontsize="small")


def plot_expression(profile, measured: dict, path: str | Path, title: str = "",
                    colors: tuple[str, ...] = ("tab:orange", "tab:blue", "tab:green")) -> Path:
    """An expression profile beside the expression measured in renderings or recordings.

    One panel per shown aspect (:data:`ddspkit.analysis.measure.SHOWN_ASPECTS`): the profile's
    distribution as a box (its 25-75 % quantiles, the median, whiskers at 5 and 95 %; grey
    where learned, white where the literature's prior), then each measurement's per-note
    values as dots with their median as a bar; a last panel, the share of long notes with a
    vibrato. ``profile``: an :class:`ddspkit.analysis.profile.ExpressionProfile` (None: the
    literature's); ``measured``: label -> :class:`ddspkit.analysis.measure.MeasuredExpression`.
    """
    import textwrap

    from ddspkit.analysis.measure import DISPLAY, SHOWN_ASPECTS
    from ddspkit.analysis.profile import ExpressionProfile

    profile = profile or ExpressionProfile()
    names = ["\n".join(textwrap.fill(line, 14) for line in literal(label).splitlines())
             for label in measured]
    fig, axes = pyplot().subplots(1, len(SHOWN_ASPECTS) + 1, figsize=(14, 3.8), constrained_layout=True)
    jitter = np.random.default_rng(0)  # the dots spread sideways the same way every time
    for ax, aspect in zip(axes, SHOWN_ASPECTS, strict=False):
        name, unit, factor, _ = DISPLAY[aspect]
        distribution = getattr(profile, aspect)
        q05, q25, q50, q75, q95 = (factor * q for q in distribution.quantiles)
        ax.bxp([{"whislo": q05, "q1": q25, "med": q50, "q3": q75, "whishi": q95, "fliers": []}],
               positions=[0], widths=0.5, showfliers=False, patch_artist=True,
               boxprops={"facecolor": "0.85" if distribution.learned else "white"},
               medianprops={"color": "black"})
        for i, m in enumerate(measured.values(), start=1):
            values = factor * m.values[aspect]
            color = colors[(i - 1) % len(colors)]
            if len(values):
                ax.scatter(i + jitter.uniform(-0.15, 0.15, len(values)), values, s=14, color=color,
                           alpha=0.7, zorder=3)
                ax.plot([i - 0.25, i + 0.25], [np.median(values)] * 2, color=color, lw=2.5, zorder=4)
            else:
                ax.text(i, q50, "none", ha="center", va="center", color="0.4", fontsize="small")
        ax.set_title(f"{name} ({unit})", fontsize="medium")
        profile_label = "profile\n(learned)" if distribution.learned else "profile\n(prior)"
        ax.set_xticks(range(len(names) + 1), [profile_label, *names], fontsize="small")
        ax.set_xlim(-0.6, len(names) + 0.6)
    ax = axes[-1]
    shares = [100 * profile.vibrato_share, *(100 * m.vibrato_share if m.n_long else 0.0
                                            for m in measured.values())]
    ax.bar(range(len(shares)), shares,
           color=["0.7", *(colors[i % len(colors)] for i in range(len(measured)))])
    for i, m in enumerate(measured.values(), start=1):
        if not m.n_long:
            ax.text(i, 5, "no long\nnote", ha="center", va="bottom", color="0.4", fontsize="small")
    ax.set_ylim(0, 100)
    ax.set_title("long notes with vibrato (%)", fontsize="medium")
    ax.set_xticks(range(len(shares)), ["profile", *names], fontsize="small")
    fig.suptitle(f"{literal(title)}\n(boxes: the profile, 5/25/50/75/95 %; dots: each note measured, "
                 "bar: their median)", fontsize="medium")
    return save_figure(fig, path)
