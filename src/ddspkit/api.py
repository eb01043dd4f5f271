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
from ddspkit.dataset import PreparedDataset, prepare
from ddspkit.modelfile import LoadedModel, ModelInfo, list_models
from ddspkit.modelfile import load_model as _load_model
from ddspkit.training import DEFAULT_RECIPE, Recipe, default_device
from ddspkit.training import train as _train
from ddspkit.transfer import TransferResult, transfer


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
                 reverb: bool = True) -> TransferResult:
        """Morph mono ``audio`` [T] into this instrument; output at the same rate."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:  # [channels, T] or [T, channels]: mix to mono
            audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[1] else 1)
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
        return transfer(self.instrument, audio, sample_rate_hz, self.info.statistics,
                        auto_adjust, pitch_shift_semitones, loudness_shift_db, reverb)

    def transfer_file(self, input_path: str | Path, output_path: str | Path,
                      plot: str | Path | None = None, **options) -> TransferResult:
        """Transfer an audio file; write the result (and optionally a figure)."""
        audio, rate_hz, _ = load_audio(input_path)
        result = self.transfer(audio, rate_hz, **options)
        write_audio(output_path, result.audio, rate_hz)
        if plot is not None:
            from ddspkit.plot import plot_transfer

            plot_transfer(result, plot, audio, title=f"{Path(input_path).name} -> {self.name}")
        return result


    def render_midi(self, midi_path: str | Path, *, part_selection: list[str] | None = None,
                    max_voices: int = 8, expression=None, reverb: bool = True,
                    sample_rate_hz: int = 44100):
        """Play a MIDI file (see :mod:`ddspkit.midi`); returns a RenderResult."""
        from ddspkit.midi import render_midi_file

        return render_midi_file(self.instrument, self.info.statistics, midi_path, part_selection,
                                max_voices, expression, reverb, sample_rate_hz)


def load_model(name_or_path: str | Path, device: str | None = None) -> Model:
    """Load a model by name (user folder, then bundled zoo) or by path."""
    return Model(_load_model(name_or_path, device or default_device()))


def train(folder: str | Path, name: str, recipe: Recipe | str = DEFAULT_RECIPE,
          steps: int | None = None, device: str | torch.device | None = None,
          **options) -> Model:
    """Prepare ``folder`` and train (or resume) the instrument ``name``; return the model."""
    data: PreparedDataset = prepare(folder)
    result = _train(data, name, recipe, n_steps=steps, device=device,
                    source=str(Path(folder).resolve()), **options)
    return load_model(result.model_path)


__all__ = ["Model", "load_model", "train", "prepare", "list_models", "TransferResult"]
