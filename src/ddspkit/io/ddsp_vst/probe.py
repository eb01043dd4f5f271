"""Run a DDSP-VST ``.tflite`` model for some frames, in a child process.

A damaged or hostile model can crash the TFLite interpreter (a segmentation fault takes the
whole Python process with it), so :func:`ddspkit.io.ddsp_vst.check.run_check` runs
:func:`main` in a child process, with the model's bytes on stdin. It feeds a pitch glide and
a loudness ramp with the GRU state fed back, exactly as the plugin does, and prints one JSON
object describing the outputs; the parent judges them. Only numpy, the torch-free contract
and a TFLite runtime are imported, so it starts in a fraction of a second.

Exit codes: 0 ran (JSON on stdout), 3 the runtime refused the model (JSON ``error``),
4 no TFLite runtime is installed.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from ddspkit.io.ddsp_vst.contract import INPUTS, OUTPUTS

INPUT_NAMES = tuple(INPUTS)
OUTPUT_NAMES = tuple(OUTPUTS)
PROBE_FRAMES = 200
EXIT_REFUSED, EXIT_NO_RUNTIME = 3, 4


def glide_and_ramp(n_frames: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Scaled model inputs [F]: a pitch glide (40 -> 1000 Hz) and a loudness ramp (-80 -> 0 dB).

    ``f0_scaled = midi(f0_hz) / 127`` and ``pw_scaled = power_db / 80 + 1`` (config.py).
    """
    f0_hz = np.geomspace(40.0, 1000.0, n_frames)
    midi = 12.0 * np.log2(f0_hz / 440.0) + 69.0
    power_db = np.linspace(-80.0, 0.0, n_frames)
    return (midi / 127.0).astype(np.float32), (power_db / 80.0 + 1.0).astype(np.float32)


def interpreter_class():
    """ai-edge-litert's Interpreter, else the older tflite-runtime's; None if neither."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            return None
    return Interpreter


def run(data: bytes, n_frames: int = PROBE_FRAMES) -> dict:
    """Outputs' ranges over ``n_frames`` frames: counts of non-finite values, min and max."""
    interpreter = interpreter_class()(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    state = np.zeros(inputs[INPUT_NAMES[2]]["shape"], np.float32)
    f0, pw = glide_and_ramp(n_frames)
    rows: list[list[np.ndarray]] = [[], [], [], []]
    for i in range(n_frames):
        for name, value in zip(INPUT_NAMES, (f0[i : i + 1], pw[i : i + 1], state), strict=True):
            interpreter.set_tensor(inputs[name]["index"], value.reshape(inputs[name]["shape"]))
        interpreter.invoke()
        for row, name in zip(rows, OUTPUT_NAMES, strict=True):
            row.append(interpreter.get_tensor(outputs[name]).astype(np.float64).reshape(-1))
        state = rows[3][-1].astype(np.float32)
    amplitude, harmonics, noise, states = (np.stack(r) for r in rows)

    def span(x: np.ndarray) -> list[float]:
        finite = x[np.isfinite(x)]
        return [float(finite.min()), float(finite.max())] if finite.size else [0.0, 0.0]

    return {
        "frames": n_frames,
        "nonfinite": int(sum(np.count_nonzero(~np.isfinite(x))
                             for x in (amplitude, harmonics, noise, states))),
        "amplitude": span(amplitude), "noise": span(noise), "harmonics": span(harmonics),
        "harmonic_sums": span(harmonics.sum(axis=1)), "state": span(states),
    }


def main() -> int:
    if interpreter_class() is None:
        return EXIT_NO_RUNTIME
    data = sys.stdin.buffer.read()
    try:
        result = run(data)
    except (ValueError, RuntimeError, KeyError) as exc:  # the runtime's refusals
        print(json.dumps({"error": str(exc).strip().splitlines()[0] if str(exc) else
                          type(exc).__name__}))
        return EXIT_REFUSED
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
