"""DDSP-VST models in Python: the ``.tflite`` decoder run frame by frame in a TFLite
interpreter, as the plugin runs it, behind :class:`ddspkit.model.Decoder`'s interface.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ddspkit.config import ModelConfig
from ddspkit.dsp.effects import NoReverb
from ddspkit.errors import UserError
from ddspkit.io.ddsp_vst.check import check_vst
from ddspkit.io.ddsp_vst.contract import INPUTS, OUTPUTS, VST_EXTRA_HINT
from ddspkit.io.ddsp_vst.metadata import statistics_from_metadata
from ddspkit.io.ddsp_vst.probe import interpreter_class
from ddspkit.io.model import Model, ModelInfo
from ddspkit.model import Controls, Instrument


def _interpreter_class():
    interpreter = interpreter_class()
    if interpreter is None:
        raise UserError(f"running .tflite models needs a TFLite runtime: {VST_EXTRA_HINT}")
    return interpreter


class TFLiteDecoder(torch.nn.Module):
    """A DDSP-VST ``.tflite`` model behind :class:`ddspkit.model.Decoder`'s interface.

    Runs the file one 20 ms frame at a time with the GRU state fed back, exactly as the plugin
    does, so a model behaves in Python as it does in the DAW. Batch size 1.
    """

    def __init__(self, data: bytes, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        try:
            self.interpreter = _interpreter_class()(model_content=data, num_threads=1)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(f"the TFLite runtime refuses the model ({reason})") from None
        self.inputs = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self.outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}

    def forward(self, f0_scaled: torch.Tensor, pw_scaled: torch.Tensor,
                state: torch.Tensor | None = None) -> tuple[Controls, torch.Tensor]:
        """[1, F] scaled inputs (and [1, 512] state) -> controls [1, F, ...] and new state."""
        if f0_scaled.shape[0] != 1:
            raise ValueError("a .tflite decoder runs one sequence at a time")
        it, names = self.interpreter, list(OUTPUTS)
        f0_name, pw_name, state_name = INPUTS
        f0 = f0_scaled[0].detach().cpu().numpy().astype(np.float32)
        pw = pw_scaled[0].detach().cpu().numpy().astype(np.float32)
        h = (np.zeros(self.config.gru_units, np.float32) if state is None
             else state[0].detach().cpu().numpy().astype(np.float32))
        amps, dists, noises = [], [], []
        for i in range(len(f0)):
            it.set_tensor(self.inputs[f0_name], f0[i : i + 1])
            it.set_tensor(self.inputs[pw_name], pw[i : i + 1])
            it.set_tensor(self.inputs[state_name], h)
            it.invoke()
            amps.append(it.get_tensor(self.outputs[names[0]]).copy())
            dists.append(it.get_tensor(self.outputs[names[1]]).copy())
            noises.append(it.get_tensor(self.outputs[names[2]]).copy())
            h = it.get_tensor(self.outputs[names[3]]).copy()
        device = f0_scaled.device

        def stack(rows: list[np.ndarray], width: int) -> torch.Tensor:
            return torch.from_numpy(np.stack(rows).reshape(1, len(rows), width)).to(device)

        controls = Controls(stack(amps, 1), stack(dists, self.config.n_harmonics),
                            stack(noises, self.config.n_noise_bands))
        return controls, torch.from_numpy(h)[None].to(device)


def read_vst_info(path: Path, run: bool = False) -> ModelInfo:
    """A ``.tflite`` model's name, statistics and provenance. Raises UserError if invalid.

    ``run``: also run the model for some frames in a child process (:func:`run_check`)
    before trusting it to an interpreter in this one.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    report = check_vst(data, path, run=run)
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more problem(s))" if len(report.problems) > 1 else ""
        raise UserError(f"{path}: not a usable DDSP-VST model: {report.problems[0]}{more}")
    meta = report.metadata
    provenance = {k: meta[k] for k in ("version", "export_time") if k in meta}
    provenance["format"] = "DDSP-VST .tflite"
    provenance["statistics"] = ("ddspkit's dataset statistics" if "ddspkit_statistics" in meta
                                else "statistics guessed from the range box")
    return ModelInfo(Path(path).stem, ModelConfig(), statistics_from_metadata(meta), provenance,
                     Path(path), "file")


def load_vst_model(path: Path) -> Model:
    """A DDSP-VST ``.tflite`` as an instrument: its decoder runs in TFLite, ddspkit synthesizes.

    The plugin has no learned room, so neither has the instrument. Files without ddspkit's
    statistics get auto-adjust statistics guessed from the plugin's range box.
    """
    info = read_vst_info(path, run=True)
    instrument = Instrument(info.config)
    try:
        instrument.decoder = TFLiteDecoder(Path(path).read_bytes(), info.config)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    instrument.reverb = NoReverb()
    return Model(instrument, info)


