"""An audio file into a model, in one of the transfer modes: read, transfer, write, draw.

The modes: "monophonic" follows the pitch tracker (a voice, a flute); "polyphonic"
transcribes to notes and plays every line (:mod:`ddspkit.render.polyphonic`); "lead-line"
follows only the top voice of the transcription, keeping the recording's dynamics
(:func:`ddspkit.render.transfer.transfer_monophonic`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ddspkit.audio import load_audio, write_audio
from ddspkit.errors import UserError
from ddspkit.io.model import Model
from ddspkit.render.midi import RenderResult
from ddspkit.render.plot import plot_polyphonic, plot_transfer
from ddspkit.render.polyphonic import transfer_polyphonic
from ddspkit.render.transfer import TransferResult, transfer_monophonic
from ddspkit.training.data import SILENT_FRAME_POWER_DB

TRANSFER_MODES = ("monophonic", "polyphonic", "lead-line")


def check_transfer_mode(mode: str, label: str | None = None) -> None:
    """UserError unless ``mode`` is one of :data:`TRANSFER_MODES`. ``label`` names the setting
    with its value in the message (the command line's ``--mode X``; default ``mode 'X'``)."""
    if mode not in TRANSFER_MODES:
        label = label or f"mode '{mode}'"
        raise UserError(f"{label}: choose one of {', '.join(TRANSFER_MODES)}")


def check_pitch_shift(mode: str, pitch_shift_semitones: float, label: str | None = None) -> None:
    """UserError if the polyphonic mode is asked for a shift that is not whole semitones (it
    shifts the transcribed notes). ``label`` as for :func:`check_transfer_mode`."""
    if mode == "polyphonic" and pitch_shift_semitones != round(pitch_shift_semitones):
        label = label or f"pitch shift {pitch_shift_semitones:g}"
        raise UserError(f"{label}: polyphonic mode shifts whole semitones")


def transfer_file(model: Model, input_path: str | Path, output_path: str | Path,
                  plot: str | Path | None = None, mode: str = "monophonic", max_voices: int = 8,
                  **options) -> TransferResult | RenderResult:
    """Transfer an audio file into ``model``; write the result at the input's rate (and
    optionally a figure at ``plot``).

    ``mode``: "monophonic" or "lead-line" (:func:`transfer_monophonic`, which takes
    ``options``), or "polyphonic" (:func:`transfer_polyphonic`, which takes ``reverb`` and a
    whole-semitone ``pitch_shift_semitones`` from ``options`` and ignores the rest). The
    result's ``warnings`` say what to know about the input (:func:`input_warnings`).
    Returns the TransferResult, or for "polyphonic" the RenderResult. Raises UserError.
    """
    check_transfer_mode(mode)
    shift = options.get("pitch_shift_semitones", 0.0)
    check_pitch_shift(mode, shift)
    audio, rate_hz, n_nonfinite = load_audio(input_path)
    if mode == "polyphonic":
        result = transfer_polyphonic(model, audio, rate_hz, max_voices=max_voices,
                                     reverb=options.get("reverb", True),
                                     pitch_shift_semitones=int(shift))
    else:
        result = transfer_monophonic(model, audio, rate_hz, lead_line=mode == "lead-line", **options)
    result.warnings += input_warnings(Path(input_path), audio, n_nonfinite)
    write_audio(output_path, result.audio, rate_hz)
    if plot is not None:
        title = f"{Path(input_path).name} -> {model.name}"
        if mode == "polyphonic":
            plot_polyphonic(audio, result.audio, rate_hz, result.notes, plot, title=title)
        else:
            plot_transfer(result, plot, audio, title=title)
    return result


def input_warnings(path: Path, audio: np.ndarray, n_nonfinite: int) -> list[str]:
    """One line for each thing to know about an input file: samples that were NaN or
    infinite (replaced by silence), or an input that is silent throughout."""
    warnings = []
    if n_nonfinite:
        warnings.append(f"{path.name}: {n_nonfinite} NaN or infinite sample(s) were replaced by "
                        "silence (a damaged file?)")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak <= 10 ** (SILENT_FRAME_POWER_DB / 20):
        warnings.append(f"{path.name}: the input is silent (no sample above "
                        f"{SILENT_FRAME_POWER_DB:.0f} dB), so the output is silent too")
    return warnings
