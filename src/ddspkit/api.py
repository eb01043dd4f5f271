"""The Python API, mirroring the CLI: load a model, transfer arrays or files, train.

    import ddspkit
    cello = ddspkit.load_model("Cello")
    result = cello.transfer(audio, sample_rate_hz=44100)   # result.audio, at 44.1 kHz
    cello.transfer_file("voice.wav", "voice-as-cello.wav", plot="voice.png")
    model = ddspkit.train("recordings/", name="MyFlute")

A shell: every method is one call into the library (:mod:`ddspkit.render`, :mod:`ddspkit.io`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ddspkit.audio import load_audio, to_mono
from ddspkit.io import model as io_model
from ddspkit.io.ddsp_vst.check import CheckReport
from ddspkit.io.models import list_models
from ddspkit.io.models import load_model as _load_model
from ddspkit.io.profiles import model_expression
from ddspkit.midi.curves import Expression
from ddspkit.midi.score import Note
from ddspkit.midi.transcription import transcribe as _transcribe
from ddspkit.midi.transcription import write_notes_midi
from ddspkit.render.files import (
    TRANSFER_MODES,  # noqa: F401  (the API's name for them, kept)
    transfer_file,
)
from ddspkit.render.midi import RenderResult, render_midi_file
from ddspkit.render.polyphonic import transfer_polyphonic
from ddspkit.render.transfer import TransferResult, transfer_monophonic
from ddspkit.training.data import PreparedDataset, prepare
from ddspkit.training.trainer import Recipe, default_device
from ddspkit.training.trainer import train as _train


class Model(io_model.Model):
    """A trained instrument, ready to render: :class:`ddspkit.io.model.Model` (``instrument``,
    ``info``, ``name``) with the Python API's methods."""

    def transfer(self, audio: np.ndarray, sample_rate_hz: int, *, auto_adjust: bool = True,
                 pitch_shift_semitones: float = 0.0, loudness_shift_db: float = 0.0,
                 reverb: bool = True, lead_line: bool = False) -> TransferResult:
        """Morph mono ``audio`` [T] into this instrument; output at the same rate.

        ``lead_line``: for polyphonic input, follow the top voice of a note transcription
        instead of the pitch tracker (the recording's own dynamics are kept).
        """
        return transfer_monophonic(self, audio, sample_rate_hz, auto_adjust=auto_adjust,
                                   pitch_shift_semitones=pitch_shift_semitones,
                                   loudness_shift_db=loudness_shift_db, reverb=reverb,
                                   lead_line=lead_line)

    def transfer_polyphonic(self, audio: np.ndarray, sample_rate_hz: int, *, max_voices: int = 8,
                            expression: Expression | None = None, reverb: bool = True,
                            pitch_shift_semitones: int = 0,
                            transcription_options: dict | None = None) -> RenderResult:
        """Polyphonic ``audio`` [T] (a piano part, a quartet) -> this instrument, one voice per
        line: the audio is transcribed to notes, which are played as a MIDI part is.

        Returns a :class:`ddspkit.render.midi.RenderResult` (output at ``sample_rate_hz``, as long as
        the input) whose ``notes`` attribute holds the transcription.
        """
        return transfer_polyphonic(self, audio, sample_rate_hz, max_voices=max_voices,
                                   expression=expression, reverb=reverb,
                                   pitch_shift_semitones=pitch_shift_semitones,
                                   transcription_options=transcription_options)

    def transfer_file(self, input_path: str | Path, output_path: str | Path,
                      plot: str | Path | None = None, mode: str = "monophonic", max_voices: int = 8,
                      **options) -> TransferResult | RenderResult:
        """Transfer an audio file; write the result at the input's rate (and optionally a figure).

        ``mode``: "monophonic" (:meth:`transfer`), "lead-line"
        (:meth:`transfer` with ``lead_line``) or "polyphonic" (:meth:`transfer_polyphonic`, which
        takes ``reverb`` and a whole-semitone ``pitch_shift_semitones`` from ``options`` and
        ignores the rest). Returns the TransferResult, or for "polyphonic" the RenderResult.
        """
        return transfer_file(self, input_path, output_path, plot, mode, max_voices, **options)

    def export_vst(self, output: str | Path | None = None) -> tuple[Path, CheckReport]:
        """Write this model as a DDSP-VST plugin ``.tflite``, checked against the plugin's rules.

        ``output`` defaults to the model file's folder for a user's model (``<name>.tflite`` next
        to ``<name>.safetensors``), else ``<name>.tflite`` in the current folder.
        Returns (path, :class:`ddspkit.io.ddsp_vst.CheckReport`). Raises UserError if a check fails.
        """
        from ddspkit.io.ddsp_vst.plugin import export_vst  # the exporter loads on first use
        from ddspkit.io.export import default_vst_output

        return export_vst(self, Path(output) if output is not None else default_vst_output(self.info))

    def render_midi(self, midi_path: str | Path, *, part_selection: list[str] | None = None,
                    max_voices: int = 8, expression: Expression | None = None, reverb: bool = True,
                    sample_rate_hz: int = 44100) -> RenderResult:
        """Play a MIDI file (see :mod:`ddspkit.midi`); returns a RenderResult. ``expression``
        defaults to the model's learned one (:func:`ddspkit.io.profiles.model_expression`)."""
        expression = model_expression(self.info) if expression is None else expression
        return render_midi_file(self.instrument, self.info.statistics, midi_path, part_selection,
                                max_voices, expression, reverb, sample_rate_hz)


def transcribe(audio: np.ndarray, sample_rate_hz: int, **options) -> list[Note]:
    """Polyphonic [T] audio -> notes (:class:`ddspkit.midi.Note`); see :mod:`ddspkit.midi.transcription`."""
    return _transcribe(to_mono(audio), sample_rate_hz, **options)


def transcribe_file(input_path: str | Path, midi_path: str | Path, **options) -> list[Note]:
    """Transcribe an audio file and write the notes as a MIDI file; return the notes."""
    audio, rate_hz, _ = load_audio(input_path)
    notes = transcribe(audio, rate_hz, **options)
    write_notes_midi(notes, midi_path)
    return notes


def load_model(name_or_path: str | Path, device: str | None = None) -> Model:
    """Load a model by name (user folder, then bundled zoo) or by path, on ``device`` (default:
    a GPU if there is one): :func:`ddspkit.io.models.load_model`'s model, with the API's methods."""
    loaded = _load_model(name_or_path, device or default_device())
    return Model(loaded.instrument, loaded.info)


def train(folder: str | Path, name: str, recipe: Recipe | str | None = None,
          steps: int | None = None, device: str | torch.device | None = None,
          start_from: str | None = None, **options) -> Model:
    """Prepare ``folder`` and train (or resume) the instrument ``name``; return the model.

    ``start_from``: "auto" (the nearest bundled model; the default for a new run),
    "scratch" (random weights), or a model name or path to fine-tune. ``recipe``: None picks
    'finetune' from a model's weights and 'fast' from random weights (a resume keeps its own).
    ``options`` go to :func:`ddspkit.training.trainer.train` (``restart``, ``seed``, and
    ``observer``: a :class:`ddspkit.training.observer.TrainingObserver` that follows the run).
    """
    data: PreparedDataset = prepare(folder)
    result = _train(data, name, recipe, n_steps=steps, device=device,
                    source=str(Path(folder).resolve()), start_from=start_from, **options)
    return load_model(result.model_path)


__all__ = ["Model", "load_model", "train", "prepare", "list_models", "TransferResult", "transcribe",
           "transcribe_file"]
