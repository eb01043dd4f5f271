"""Exports for real-time hosts other than DDSP-VST: ONNX and TorchScript.

Both hold one decoder step with explicit state, the DDSP-VST signature:
``(f0_scaled [1], pw_scaled [1], state [512]) -> (amplitude [1], harmonic_distribution [60],
noise_magnitudes [65], new_state [512])``, outputs after the nonlinearities. A host calls it
every 20 ms and feeds ``new_state`` back. Each export is checked against the PyTorch decoder
on a pitch glide and a loudness ramp with the state fed back.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ddspkit.audio import atomic_write
from ddspkit.errors import UserError
from ddspkit.io.ddsp_vst.probe import glide_and_ramp
from ddspkit.io.model import Model
from ddspkit.model import Decoder

INPUT_NAMES = ["f0_scaled", "pw_scaled", "state"]
OUTPUT_NAMES = ["amplitude", "harmonic_distribution", "noise_magnitudes", "new_state"]


class DecoderStep(nn.Module):
    """One frame of the decoder with explicit state, unbatched as in the plugin."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, f0_scaled: torch.Tensor, pw_scaled: torch.Tensor, state: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        controls, new_state = self.decoder(f0_scaled.reshape(1, 1), pw_scaled.reshape(1, 1),
                                           state.reshape(1, -1))
        return (controls.amplitude.reshape(-1), controls.harmonic_distribution.reshape(-1),
                controls.noise_magnitudes.reshape(-1), new_state.reshape(-1))


def run_steps(step, n_frames: int = 500, units: int = 512) -> list[np.ndarray]:
    """Feed ``glide_and_ramp`` through ``step(f0, pw, state) -> 4 arrays``; stack the outputs."""
    f0, pw = glide_and_ramp(n_frames)
    state = np.zeros(units, np.float32)
    rows: list[list[np.ndarray]] = [[], [], []]
    for i in range(n_frames):
        amp, hd, noise, state = step(f0[i : i + 1], pw[i : i + 1], state)
        for row, value in zip(rows, (amp, hd, noise), strict=True):
            row.append(np.asarray(value, np.float32))
        state = np.asarray(state, np.float32)
    return [np.stack(r) for r in rows]


def reference_outputs(decoder: Decoder, n_frames: int = 500) -> list[np.ndarray]:
    step = DecoderStep(decoder).eval()

    def call(f0, pw, state):
        with torch.no_grad():
            return [t.numpy() for t in step(torch.from_numpy(f0), torch.from_numpy(pw),
                                            torch.from_numpy(state))]

    return run_steps(call, n_frames, decoder.config.gru_units)


def max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


def export_step_model(model: Model, output: Path, fmt: str) -> tuple[Path, float]:
    """Write an ONNX or TorchScript step model; returns (path, worst difference to PyTorch)."""
    decoder = model.instrument.decoder
    if not isinstance(decoder, Decoder):
        raise UserError(f"{model.info.name}: only ddspkit models export to {fmt} "
                        "(a .tflite model is already an export)")
    step = DecoderStep(decoder).eval()
    units = decoder.config.gru_units
    example = (torch.zeros(1), torch.zeros(1), torch.zeros(units))
    expected = reference_outputs(decoder)
    with warnings.catch_warnings():
        # torch 2.13 marks TorchScript deprecated and warns about exporting a GRU; the result
        # is checked numerically below, so the chatter would only confuse users.
        warnings.simplefilter("ignore")
        return _export(step, example, expected, output, fmt, units)


def _export(step: DecoderStep, example, expected: list[np.ndarray], output: Path, fmt: str,
            units: int) -> tuple[Path, float]:
    if fmt == "onnx":
        import onnxruntime

        try:
            import onnx  # noqa: F401  (torch's exporter needs it)
        except ImportError:
            raise UserError("ONNX export needs the onnx package: pip install 'ddspkit[onnx]'") from None

        def write(tmp: Path) -> None:
            torch.onnx.export(step, example, str(tmp), input_names=INPUT_NAMES,
                              output_names=OUTPUT_NAMES, opset_version=17, dynamo=False)

        atomic_write(output, write)
        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])

        def call(f0, pw, state):
            return session.run(None, {"f0_scaled": f0, "pw_scaled": pw, "state": state})
    elif fmt == "torchscript":
        scripted = torch.jit.trace(step, example)
        atomic_write(output, lambda tmp: scripted.save(str(tmp)))
        reloaded = torch.jit.load(str(output))

        def call(f0, pw, state):
            with torch.no_grad():
                return [t.numpy() for t in reloaded(torch.from_numpy(f0), torch.from_numpy(pw),
                                                    torch.from_numpy(state))]
    else:
        raise UserError(f"unknown export format '{fmt}'")
    worst = max_difference(run_steps(call, units=units), expected)
    if worst > 1e-4:
        output.unlink(missing_ok=True)
        raise RuntimeError(f"{fmt} export differs from PyTorch by {worst:.2e}")
    return output, worst
