"""The Python API, mirroring the CLI: load a model, transfer arrays or files, train.

    import ddspkit
    cello = ddspkit.load_model("Cello")
    result = cello.transfer(audio, sample_rate_hz=44100)   # result.audio, at 44.1 kHz
    cello.transfer_file("voice.wav", "voice-as-cello.wav", plot="voice.png")
    model = ddspkit.train("recordings/", name="MyFlute")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ddspkit.audio import load_audio, write_audio
from ddspkit.errors import UserError
from ddspkit.io.modelfile import LoadedModel, ModelInfo
from ddspkit.io.models import list_models
from ddspkit.io.models import load_model as _load_model
from ddspkit.render.transfer import TransferResult, transfer
from ddspkit.training.data import PreparedDataset, prepare
from ddspkit.training.trainer import Recipe, default_device
from ddspkit.training.trainer import train as _train

TRANSFER_MODES = ("monophonic", "polyphonic", "lead-line")


class Model:
    """A trained instrument, ready to render."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.instrument = loaded.instrument
        self.info: ModelInfo = loaded.info

    @property
    def name(self) -> str:
        return self.info.name

    def __repr__(self) -> str:
        return f"Model({self.name!r}, path={str(self.info.path)!r})"

    def transfer(self, audio: np.ndarray, sample_rate_hz: int, *, auto_adjust: bool = True,
                 pitch_shift_semitones: float = 0.0, loudness_shift_db: float = 0.0,
                 reverb: bool = True, lead_line: bool = False) -> TransferResult:
        """Morph mono ``audio`` [T] into this instrument; output at the same rate.

        ``lead_line``: for polyphonic input, follow the top voice of a note transcription
        instead of the pitch tracker (the recording's own dynamics are kept).
        """
        audio = _mono(audio)
        features = None
        if lead_line:
            from ddspkit.audio import resample
            from ddspkit.config import SAMPLE_RATE_HZ
            from ddspkit.midi.transcription import lead_line_features, transcribe

            features = lead_line_features(resample(audio, sample_rate_hz, SAMPLE_RATE_HZ),
                                          transcribe(audio, sample_rate_hz))
        return transfer(self.instrument, audio, sample_rate_hz, self.info.statistics,
                        auto_adjust, pitch_shift_semitones, loudness_shift_db, reverb, features)

    def transfer_polyphonic(self, audio: np.ndarray, sample_rate_hz: int, *, max_voices: int = 8,
                            expression=None, reverb: bool = True, pitch_shift_semitones: int = 0,
                            transcription_options: dict | None = None):
        """Polyphonic ``audio`` [T] (a piano part, a quartet) -> this instrument, one voice per
        line: the audio is transcribed to notes, which are played as a MIDI part is.

        Returns a :class:`ddspkit.render.midi.RenderResult` (output at ``sample_rate_hz``, as long as
        the input) whose ``notes`` attribute holds the transcription.
        """
        from ddspkit.midi import Note
        from ddspkit.midi.transcription import transcribe, transcription_part
        from ddspkit.render.midi import render_parts

        audio = _mono(audio)
        notes = transcribe(audio, sample_rate_hz, **(transcription_options or {}))
        if not notes:
            raise UserError("no notes found in the audio (silent, or nothing with a pitch)")
        shifted = [Note(n.pitch + pitch_shift_semitones, n.start_s, n.end_s, n.velocity) for n in notes]
        result = render_parts(self.instrument, self.info.statistics, [transcription_part(shifted)],
                              max_voices, expression, reverb, sample_rate_hz)
        result.audio = np.pad(result.audio, (0, max(0, len(audio) - len(result.audio))))[:len(audio)]
        result.notes = notes
        return result

    def transfer_file(self, input_path: str | Path, output_path: str | Path,
                      plot: str | Path | None = None, mode: str = "monophonic", max_voices: int = 8,
                      **options):
        """Transfer an audio file; write the result at the input's rate (and optionally a figure).

        ``mode``: "monophonic" (:meth:`transfer`), "lead-line" (:meth:`transfer` with
        ``lead_line``) or "polyphonic" (:meth:`transfer_polyphonic`, which takes ``reverb``
        and a whole-semitone ``pitch_shift_semitones`` from ``options`` and ignores the rest).
        Returns the TransferResult, or for "polyphonic" the RenderResult.
        """
        if mode not in TRANSFER_MODES:
            raise UserError(f"mode '{mode}': choose one of {', '.join(TRANSFER_MODES)}")
        shift = options.get("pitch_shift_semitones", 0.0)
        if mode == "polyphonic" and shift != round(shift):
            raise UserError(f"pitch shift {shift:g}: polyphonic mode shifts whole semitones")
        audio, rate_hz, n_nonfinite = load_audio(input_path)
        title = f"{Path(input_path).name} -> {self.name}"
        if mode == "polyphonic":
            result = self.transfer_polyphonic(audio, rate_hz, max_voices=max_voices,
                                              reverb=options.get("reverb", True),
                                              pitch_shift_semitones=int(shift))
        else:
            result = self.transfer(audio, rate_hz, lead_line=mode == "lead-line", **options)
        result.warnings += input_warnings(Path(input_path), audio, n_nonfinite)
        write_audio(output_path, result.audio, rate_hz)
        if plot is not None:
            from ddspkit.render.plot import plot_polyphonic, plot_transfer

            if mode == "polyphonic":
                plot_polyphonic(audio, result.audio, rate_hz, result.notes, plot, title=title)
            else:
                plot_transfer(result, plot, audio, title=title)
        return result

    def export_vst(self, output: str | Path | None = None):
        """Write this model as a DDSP-VST plugin ``.tflite``, checked against the plugin's rules.

        ``output`` defaults to the model file's folder for a user's model (``<name>.tflite`` next
        to ``<name>.safetensors``), else ``<name>.tflite`` in the current folder.
        Returns (path, :class:`ddspkit.io.ddsp_vst.CheckReport`). Raises UserError if a check fails.
        """
        from ddspkit.io.ddsp_vst.plugin import export_vst

        path = self.info.path
        if output is None:
            beside = self.info.source != "bundled" and path is not None and path.suffix == ".safetensors"
            output = path.with_suffix(".tflite") if beside else Path(f"{self.name}.tflite")
        return export_vst(LoadedModel(self.instrument, self.info), Path(output))

    def render_midi(self, midi_path: str | Path, *, part_selection: list[str] | None = None,
                    max_voices: int = 8, expression=None, reverb: bool = True,
                    sample_rate_hz: int = 44100):
        """Play a MIDI file (see :mod:`ddspkit.midi`); returns a RenderResult."""
        from ddspkit.render.midi import render_midi_file

        return render_midi_file(self.instrument, self.info.statistics, midi_path, part_selection,
                                max_voices, expression, reverb, sample_rate_hz)


def input_warnings(path: Path, audio: np.ndarray, n_nonfinite: int) -> list[str]:
    """One line for each thing to know about an input file: samples that were NaN or
    infinite (replaced by silence), or an input that is silent throughout."""
    from ddspkit.training.data import SILENT_FRAME_POWER_DB

    warnings = []
    if n_nonfinite:
        warnings.append(f"{path.name}: {n_nonfinite} NaN or infinite sample(s) were replaced by "
                        "silence (a damaged file?)")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak <= 10 ** (SILENT_FRAME_POWER_DB / 20):
        warnings.append(f"{path.name}: the input is silent (no sample above "
                        f"{SILENT_FRAME_POWER_DB:.0f} dB), so the output is silent too")
    return warnings


def _mono(audio: np.ndarray) -> np.ndarray:
    """[T], [channels, T] or [T, channels] -> finite mono float32 [T]."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[1] else 1)
    return np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)


def transcribe(audio: np.ndarray, sample_rate_hz: int, **options):
    """Polyphonic [T] audio -> notes (:class:`ddspkit.midi.Note`); see :mod:`ddspkit.midi.transcription`."""
    from ddspkit.midi.transcription import transcribe as _transcribe

    return _transcribe(_mono(audio), sample_rate_hz, **options)


def transcribe_file(input_path: str | Path, midi_path: str | Path, **options):
    """Transcribe an audio file and write the notes as a MIDI file; return the notes."""
    from ddspkit.midi.transcription import write_notes_midi

    audio, rate_hz, _ = load_audio(input_path)
    notes = transcribe(audio, rate_hz, **options)
    write_notes_midi(notes, midi_path)
    return notes


def load_model(name_or_path: str | Path, device: str | None = None) -> Model:
    """Load a model by name (user folder, then bundled zoo) or by path."""
    return Model(_load_model(name_or_path, device or default_device()))


def train(folder: str | Path, name: str, recipe: Recipe | str | None = None,
          steps: int | None = None, device: str | torch.device | None = None,
          start_from: str | None = None, **options) -> Model:
    """Prepare ``folder`` and train (or resume) the instrument ``name``; return the model.

    ``start_from``: "auto" (the nearest bundled model; the default for a new run),
    "scratch" (random weights), or a model name or path to fine-tune. ``recipe``: None picks
    'finetune' from a model's weights and 'fast' from random weights (a resume keeps its own).
    """
    data: PreparedDataset = prepare(folder)
    result = _train(data, name, recipe, n_steps=steps, device=device,
                    source=str(Path(folder).resolve()), start_from=start_from, **options)
    return load_model(result.model_path)


__all__ = ["Model", "load_model", "train", "prepare", "list_models", "TransferResult", "transcribe",
           "transcribe_file"]
