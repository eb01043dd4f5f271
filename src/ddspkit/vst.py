"""Magenta DDSP-VST plugin models (.tflite): export, validation and import.

The plugin (v1.1.0, TFLite 2.9.1, builtin ops only) loads one ``.tflite`` per instrument from
``~/Documents/Magenta/DDSP/Models`` (searched recursively) and checks it strictly:

- exactly 3 inputs and 4 outputs, float32, matched by tensor **name** and byte size:
  ``call_f0_scaled:0`` [1], ``call_pw_scaled:0`` [1], ``call_state:0`` [512];
  ``StatefulPartitionedCall:0`` amplitude [1], ``:1`` harmonic distribution [60],
  ``:2`` noise magnitudes [65], ``:3`` new GRU state [512]; one invoke per 20 ms frame;
- only builtin ops in versions TFLite 2.9.1 knows (an unknown op can crash the host);
- an uncompressed zip with ``metadata.json`` appended after the flatbuffer, whose
  ``export_time`` must be unique per model (a DAW session finds its model again by it);
- a first byte that is a small non-zero ASCII value (the plugin reads files as text).

The export writes the flatbuffer directly (:mod:`ddspkit.tflite_writer`), so TensorFlow is
never needed: one decoder step with the GRU cell unrolled into builtin ops at version 1.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ddspkit import __version__
from ddspkit.audio import atomic_write
from ddspkit.config import F0_RANGE_MIDI, POWER_FRAME_SAMPLES, ModelConfig
from ddspkit.effects import NoReverb
from ddspkit.errors import UserError
from ddspkit.model import Controls, Decoder, Instrument
from ddspkit.modelfile import LoadedModel, ModelInfo
from ddspkit.stats import DatasetStatistics
from ddspkit.tflite_probe import interpreter_class
from ddspkit.tflite_reader import DamagedModel, TFLiteModel, check_constants, read_tflite
from ddspkit.tflite_writer import BuiltinOptions, Op, TensorType, TFLiteGraph, options, schema

INPUTS = {"call_f0_scaled:0": 1, "call_pw_scaled:0": 1, "call_state:0": 512}
OUTPUTS = {"StatefulPartitionedCall:0": 1, "StatefulPartitionedCall:1": 60,
           "StatefulPartitionedCall:2": 65, "StatefulPartitionedCall:3": 512}
VST_EXTRA_HINT = "pip install 'ddspkit[vst]' (ai-edge-litert)"
REQUIRED_METADATA = {"mean_min_pitch_note_hz": float, "mean_max_pitch_note_hz": float,
                     "mean_min_power_note": float, "mean_max_power_note": float,
                     "version": str, "export_time": str}


def _builtin(module: str, name: str):
    return getattr(schema(module), name)


def _keep_dims():
    return options(_builtin("ReducerOptions", "ReducerOptionsStart"),
                   _builtin("ReducerOptions", "ReducerOptionsEnd"),
                   (_builtin("ReducerOptions", "ReducerOptionsAddKeepDims"), True))


def _fc_options():
    return options(_builtin("FullyConnectedOptions", "FullyConnectedOptionsStart"),
                   _builtin("FullyConnectedOptions", "FullyConnectedOptionsEnd"))


class _DecoderGraphBuilder:
    """Emits one decoder step as builtin ops, mirroring :class:`ddspkit.model.Decoder`."""

    def __init__(self, decoder: Decoder) -> None:
        self.g = TFLiteGraph()
        self.w = {k: v.detach().cpu().float().numpy() for k, v in decoder.state_dict().items()}
        self.config = decoder.config
        self.n = 0

    def name(self, label: str) -> str:
        self.n += 1
        return f"ddspkit/{label}_{self.n}"

    def op(self, code: int, inputs: list[int], shape, label: str, **kw) -> int:
        return self.g.op(code, inputs, [shape], self.name(label), **kw)[0]

    def const(self, label: str, value) -> int:
        return self.g.constant(self.name(label), value)

    def binary(self, code: int, a: int, b: int, label: str) -> int:
        shape = np.broadcast_shapes(self.g.shape(a), self.g.shape(b))
        return self.op(code, [a, b], shape, label)

    def dense(self, x: int, weight: np.ndarray, bias: np.ndarray, label: str) -> int:
        w, b = self.const(f"{label}/kernel", weight), self.const(f"{label}/bias", bias)
        return self.op(Op.FULLY_CONNECTED, [x, w, b], (1, weight.shape[0]), label,
                       options_type=BuiltinOptions.FullyConnectedOptions, options=_fc_options())

    def layer_norm(self, x: int, gamma: np.ndarray, beta: np.ndarray, eps: float) -> int:
        axis = self.const("ln/axis", np.array([1], np.int32))
        keep = _keep_dims()
        mean = self.op(Op.MEAN, [x, axis], (1, 1), "ln/mean",
                       options_type=BuiltinOptions.ReducerOptions, options=keep)
        centred = self.binary(Op.SUB, x, mean, "ln/centred")
        square = self.binary(Op.MUL, centred, centred, "ln/square")
        var = self.op(Op.MEAN, [square, axis], (1, 1), "ln/var",
                      options_type=BuiltinOptions.ReducerOptions, options=keep)
        inv = self.op(Op.RSQRT, [self.binary(Op.ADD, var, self.const("ln/eps", [eps]), "ln/var_eps")],
                      (1, 1), "ln/rsqrt")
        normed = self.binary(Op.MUL, centred, inv, "ln/normed")
        scaled = self.binary(Op.MUL, normed, self.const("ln/gamma", gamma[None]), "ln/scaled")
        return self.binary(Op.ADD, scaled, self.const("ln/beta", beta[None]), "ln/out")

    def leaky_relu(self, x: int, alpha: float) -> int:
        opts = options(_builtin("LeakyReluOptions", "LeakyReluOptionsStart"),
                       _builtin("LeakyReluOptions", "LeakyReluOptionsEnd"),
                       (_builtin("LeakyReluOptions", "LeakyReluOptionsAddAlpha"), alpha))
        return self.op(Op.LEAKY_RELU, [x], self.g.shape(x), "leaky_relu",
                       options_type=BuiltinOptions.LeakyReluOptions, options=opts)

    def fc_stack(self, x: int, prefix: str) -> int:
        h = self.dense(x, self.w[f"{prefix}.0.weight"], self.w[f"{prefix}.0.bias"], prefix)
        h = self.layer_norm(h, self.w[f"{prefix}.1.weight"], self.w[f"{prefix}.1.bias"], 1e-3)
        return self.leaky_relu(h, 0.2)

    def reshape(self, x: int, shape: tuple[int, ...], label: str) -> int:
        target = self.const(f"{label}/shape", np.array(shape, np.int32))
        return self.op(Op.RESHAPE, [x, target], shape, label)

    def concat(self, parts: list[int], label: str) -> int:
        width = sum(self.g.shape(p)[1] for p in parts)
        opts = options(_builtin("ConcatenationOptions", "ConcatenationOptionsStart"),
                       _builtin("ConcatenationOptions", "ConcatenationOptionsEnd"),
                       (_builtin("ConcatenationOptions", "ConcatenationOptionsAddAxis"), 1))
        return self.op(Op.CONCATENATION, parts, (1, width), label,
                       options_type=BuiltinOptions.ConcatenationOptions, options=opts)

    def exp_sigmoid(self, x: int, label: str) -> int:
        """2 * sigmoid(x) ** ln(10) + 1e-7, as core.exp_sigmoid."""
        s = self.op(Op.LOGISTIC, [x], self.g.shape(x), f"{label}/sigmoid")
        p = self.binary(Op.POW, s, self.const(f"{label}/ln10", [math.log(10.0)]), f"{label}/pow")
        p = self.binary(Op.MUL, p, self.const(f"{label}/two", [2.0]), f"{label}/scale")
        return self.binary(Op.ADD, p, self.const(f"{label}/floor", [1e-7]), f"{label}/out")

    def build(self) -> TFLiteGraph:
        g, w, cfg = self.g, self.w, self.config
        f0_in, pw_in = g.input("call_f0_scaled:0", [1]), g.input("call_pw_scaled:0", [1])
        state_in = g.input("call_state:0", [cfg.gru_units])
        f0 = self.reshape(f0_in, (1, 1), "f0_2d")
        pw = self.reshape(pw_in, (1, 1), "pw_2d")
        h = self.reshape(state_in, (1, cfg.gru_units), "state_2d")
        pw_feat, f0_feat = self.fc_stack(pw, "pw_stack"), self.fc_stack(f0, "f0_stack")
        x = self.concat([pw_feat, f0_feat], "gru_input")
        # PyTorch GRU, gates stacked [r, z, n]; one dense per gate keeps every op simple.
        units = cfg.gru_units
        gates = {}
        for i, gate in enumerate("rzn"):
            rows = slice(i * units, (i + 1) * units)
            gates[f"i{gate}"] = self.dense(x, w["gru.weight_ih_l0"][rows], w["gru.bias_ih_l0"][rows],
                                           f"gru/input_{gate}")
            gates[f"h{gate}"] = self.dense(h, w["gru.weight_hh_l0"][rows], w["gru.bias_hh_l0"][rows],
                                           f"gru/state_{gate}")
        r = self.op(Op.LOGISTIC, [self.binary(Op.ADD, gates["ir"], gates["hr"], "gru/r_sum")],
                    (1, units), "gru/r")
        z = self.op(Op.LOGISTIC, [self.binary(Op.ADD, gates["iz"], gates["hz"], "gru/z_sum")],
                    (1, units), "gru/z")
        n_pre = self.binary(Op.ADD, gates["in"], self.binary(Op.MUL, r, gates["hn"], "gru/r_hn"),
                            "gru/n_sum")
        n = self.op(Op.TANH, [n_pre], (1, units), "gru/n")
        # h' = (1 - z) * n + z * h = n + z * (h - n)
        new_h = self.binary(Op.ADD, n, self.binary(Op.MUL, z, self.binary(Op.SUB, h, n, "gru/h_n"),
                                                   "gru/z_h_n"), "gru/new_state")
        hidden = self.fc_stack(self.concat([pw_feat, f0_feat, new_h], "out_input"), "out_stack")
        k_h = cfg.n_harmonics
        weight, bias = w["out_dense.weight"], w["out_dense.bias"]
        amp_raw = self.dense(hidden, weight[:1], bias[:1], "amplitude")
        hd_raw = self.dense(hidden, weight[1 : 1 + k_h], bias[1 : 1 + k_h], "harmonics")
        noise_raw = self.dense(hidden, weight[1 + k_h :], bias[1 + k_h :], "noise")
        amplitude = self.exp_sigmoid(amp_raw, "amplitude")
        noise = self.exp_sigmoid(
            self.binary(Op.SUB, noise_raw, self.const("noise/bias", [5.0]), "noise/shift"), "noise")
        # Harmonics at or above Nyquist are zeroed, f0 decoded from f0_scaled, then normalised.
        ln2_12 = math.log(2.0) / 12.0
        exponent = self.binary(Op.ADD, self.binary(Op.MUL, f0, self.const(
            "f0/scale", [F0_RANGE_MIDI * ln2_12]), "f0/midi_scaled"), self.const(
            "f0/offset", [-69.0 * ln2_12]), "f0/exponent")
        f0_hz = self.binary(Op.MUL, self.op(Op.EXP, [exponent], (1, 1), "f0/exp"),
                            self.const("f0/a4", [440.0]), "f0/hz")
        freqs = self.binary(Op.MUL, f0_hz, self.const(
            "harmonics/numbers", np.arange(1, k_h + 1, dtype=np.float32)[None]), "harmonics/hz")
        below = self.g.op(Op.LESS, [freqs, self.const("harmonics/nyquist", [cfg.sample_rate_hz / 2])],
                          [(1, k_h)], self.name("harmonics/below"), out_dtype=TensorType.BOOL)[0]
        mask = self.op(Op.CAST, [below], (1, k_h), "harmonics/mask")
        hd = self.binary(Op.MUL, self.exp_sigmoid(hd_raw, "harmonics"), mask, "harmonics/masked")
        axis = self.const("harmonics/axis", np.array([1], np.int32))
        keep = _keep_dims()
        total = self.op(Op.SUM, [hd, axis], (1, 1), "harmonics/sum",
                        options_type=BuiltinOptions.ReducerOptions, options=keep)
        total = self.binary(Op.MAXIMUM, total, self.const("harmonics/eps", [1e-7]), "harmonics/safe")
        hd = self.binary(Op.DIV, hd, total, "harmonics/normalised")
        outputs = [self.reshape(amplitude, (1,), "out_amplitude"),
                   self.reshape(hd, (k_h,), "out_harmonics"),
                   self.reshape(noise, (cfg.n_noise_bands,), "out_noise"),
                   self.reshape(new_h, (units,), "out_state")]
        for index, name in zip(outputs, OUTPUTS, strict=True):
            g.rename(index, name)
        g.outputs = outputs
        return g


def plugin_metadata(statistics: DatasetStatistics, name: str,
                    export_time: str | None = None) -> dict:
    """The ``metadata.json`` the plugin reads, plus the keys ddsp also wrote."""
    return {
        "name": name,
        "mean_min_pitch_note_hz": float(statistics.mean_min_pitch_note_hz),
        "mean_max_pitch_note_hz": float(statistics.mean_max_pitch_note_hz),
        "mean_min_power_note": float(statistics.mean_min_power_note),
        "mean_max_power_note": float(statistics.mean_max_power_note),
        "version": f"ddspkit {__version__}",
        # Microseconds make the identity unique even for exports in the same second.
        "export_time": export_time or datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "num_harmonics": 60, "num_noise_amps": 65, "frame_rate": 50,
        "frame_size": POWER_FRAME_SAMPLES, "sample_rate": 16000,
        "ddspkit_statistics": statistics.to_dict(),
    }


def append_metadata_zip(model_bytes: bytes, metadata: dict) -> bytes:
    """Append a stored (uncompressed) zip holding ``metadata.json``, as tflite_support did.

    ``metadata`` gains the flatbuffer's length and SHA-256, so that any damage to a ddspkit
    export is found (the plugin ignores keys it does not know).
    """
    metadata = {**metadata, "ddspkit_flatbuffer_bytes": len(model_bytes),
                "ddspkit_flatbuffer_sha256": hashlib.sha256(model_bytes).hexdigest()}
    buffer = io.BytesIO(model_bytes)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, mode="a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata, indent=2))
    return buffer.getvalue()


def export_tflite_bytes(decoder: Decoder, statistics: DatasetStatistics, name: str,
                        export_time: str | None = None) -> bytes:
    graph = _DecoderGraphBuilder(decoder).build()
    graph.add_metadata("min_runtime_version", b"1.14.0\x00")
    flatbuffer = graph.to_bytes(description=f"ddspkit {__version__} DDSP-VST decoder: {name}")
    return append_metadata_zip(flatbuffer, plugin_metadata(statistics, name, export_time))


@dataclass
class CheckReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    ops: list[str] = field(default_factory=list)
    ran: str = "not run"  # what running the model in TFLite showed (see run_check)

    @property
    def ok(self) -> bool:
        return not self.problems


# Builtin ops and the highest version TFLite 2.9.1's BuiltinOpResolver registers (from its
# kernels/register.cc), for the ops a DDSP decoder can contain; anything else is refused.
KNOWN_OPS_2_9: dict[str, int] = {
    "ADD": 4, "SUB": 5, "MUL": 5, "DIV": 2, "POW": 1, "EXP": 1, "LOG": 1, "RSQRT": 2, "SQRT": 1,
    "SQUARE": 1, "SQUARED_DIFFERENCE": 2, "MEAN": 3, "SUM": 2, "MAXIMUM": 4, "MINIMUM": 4,
    "FULLY_CONNECTED": 9, "BATCH_MATMUL": 4, "LOGISTIC": 3, "TANH": 3, "LEAKY_RELU": 2,
    "RELU": 3, "CONCATENATION": 3, "RESHAPE": 1, "SQUEEZE": 2, "EXPAND_DIMS": 1, "SPLIT": 4,
    "SPLIT_V": 2, "STRIDED_SLICE": 6, "SLICE": 5, "GATHER": 5, "PACK": 3, "UNPACK": 4,
    "TRANSPOSE": 5, "LESS": 2, "LESS_EQUAL": 2, "GREATER": 2, "GREATER_EQUAL": 2, "EQUAL": 3,
    "NOT_EQUAL": 3, "SELECT": 2, "SELECT_V2": 1, "CAST": 4, "WHILE": 1, "FILL": 3, "SHAPE": 1,
    "ZEROS_LIKE": 1, "NEG": 1, "ABS": 4, "LOGICAL_AND": 1, "LOGICAL_OR": 1, "LOGICAL_NOT": 1,
    "QUANTIZE": 3, "DEQUANTIZE": 5, "SOFTMAX": 3, "TILE": 3, "BROADCAST_TO": 3,
}


def _op_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator

    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}


def check_vst(data: bytes, path: Path | str = "<memory>",
              other_export_times: dict[str, str] | None = None, run: bool = True) -> CheckReport:
    """Apply the DDSP-VST plugin's loading rules to a .tflite file's bytes.

    The flatbuffer is verified as the plugin's ``VerifyAndBuildFromBuffer`` does (a damaged
    file gives one problem and nothing else is checked), then its tensors, ops and metadata.
    With ``run``, the model also runs for some frames in a child process (:func:`run_check`).
    ``other_export_times`` maps other models' names to their ``export_time`` (the plugin's
    model folder); a clash is reported, since the plugin would confuse the two models.
    """
    report = CheckReport(Path(path))
    problems = report.problems
    if not data:
        problems.append("the file is empty")
        return report
    try:
        model = read_tflite(data)
    except DamagedModel as exc:  # nothing else can be checked: one problem says it all
        problems.append(str(exc))
        return report
    if not (0 < data[0] < 0x80):
        problems.append(f"first byte is 0x{data[0]:02x}: the plugin reads models as text and "
                        "needs a small non-zero ASCII value there")
    if _checksum_mismatch(data):
        problems.append("the model's bytes differ from what ddspkit exported (checksum "
                        "mismatch): the file is damaged; export or download it again")
        return report
    problems += check_constants(model)
    _check_signature(model, problems)
    _check_ops(model, report)
    report.metadata = _check_metadata(data, problems)
    export_time = report.metadata.get("export_time")
    for other, other_time in (other_export_times or {}).items():
        if export_time and other_time == export_time:
            problems.append(f"export_time {export_time} is also {other}'s: the plugin would "
                            "confuse the two models in a saved DAW session")
    if run and not problems:
        report.ran = run_check(data, problems)
    return report


def _check_signature(model: TFLiteModel, problems: list[str]) -> None:
    """Exactly the plugin's 3 inputs and 4 outputs, by name and size, float32."""
    graph = model.subgraphs[0]
    for kind, indices, expected in (("input", graph.inputs, INPUTS), ("output", graph.outputs, OUTPUTS)):
        if len(indices) != len(expected):
            problems.append(f"{len(indices)} {kind}s, the plugin needs exactly {len(expected)}")
        seen = set()
        for index in indices:
            tensor = graph.tensors[index]
            name, size = tensor.name, int(np.prod(tensor.shape)) if tensor.shape else 1
            if name not in expected:
                problems.append(f"{kind} '{name}' is not one of {', '.join(expected)}")
            elif name in seen:
                problems.append(f"{kind} '{name}' appears twice")
            elif size != expected[name]:
                problems.append(f"{kind} '{name}' holds {size} values, the plugin needs {expected[name]}")
            if tensor.type != TensorType.FLOAT32:
                problems.append(f"{kind} '{name}' is not float32")
            seen.add(name)
        for name in set(expected) - seen:
            problems.append(f"missing {kind} '{name}'")


def _check_ops(model: TFLiteModel, report: CheckReport) -> None:
    """Only builtin ops, in versions the plugin's TFLite 2.9.1 registers."""
    names = _op_names()
    for code in model.operator_codes:
        op = names.get(code.builtin_code, f"#{code.builtin_code}")
        report.ops.append(f"{op} v{code.version}")
        if op == "CUSTOM" or code.custom_code:
            report.problems.append(f"custom op '{code.custom_code}' (Flex/Select-TF and custom "
                                   "ops are not in the plugin's builtin resolver)")
        elif op not in KNOWN_OPS_2_9:
            report.problems.append(f"op {op} is not known to the plugin's TFLite 2.9.1")
        elif code.version > KNOWN_OPS_2_9[op]:
            report.problems.append(f"op {op} version {code.version} is newer than TFLite 2.9.1 "
                                   f"supports (up to {KNOWN_OPS_2_9[op]})")


# What a DDSP-VST decoder can output: exp_sigmoid bounds amplitude and noise to (0, 2], the
# harmonic distribution sums to 1 (0 when every harmonic is above Nyquist), and a GRU's state
# is a blend of tanh values, within [-1, 1]. A small tolerance covers float rounding.
OUTPUT_BOUNDS = {"amplitude": (0.0, 2.0), "noise": (0.0, 2.0), "harmonics": (0.0, 1.0),
                 "state": (-1.0, 1.0)}
PROBE_TIMEOUT_S = 120


def run_check(data: bytes, problems: list[str]) -> str:
    """Run the model for some frames in a child process; add problems, return what was done.

    A crash of the TFLite runtime (a damaged file can make it dereference garbage) ends the
    child, not this process, and is reported as a problem. Without a TFLite runtime nothing
    runs and the returned note says how to get one.
    """
    import subprocess
    import sys

    from ddspkit import tflite_probe

    command = [sys.executable, "-I", tflite_probe.__file__]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        problems.append(f"running {tflite_probe.PROBE_FRAMES} frames took over "
                        f"{PROBE_TIMEOUT_S} s: the model hangs the TFLite runtime")
        return "timed out"
    if done.returncode == tflite_probe.EXIT_NO_RUNTIME:
        return f"not run: no TFLite runtime ({VST_EXTRA_HINT})"
    if done.returncode < 0:
        problems.append(f"the TFLite runtime crashed running the model (signal {-done.returncode}): "
                        "the file is damaged")
        return "crashed"
    try:
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = done.stderr.decode(errors="replace").strip().splitlines()
        problems.append(f"the TFLite runtime failed (exit {done.returncode}"
                        f"{': ' + tail[-1] if tail else ''})")
        return "failed"
    if "error" in result:
        problems.append(f"the TFLite runtime refuses the model: {result['error']}")
        return "refused"
    if result["nonfinite"]:
        problems.append(f"its outputs hold {result['nonfinite']} NaN or infinite values over "
                        f"{result['frames']} frames: it would play silence or noise")
    for key, (low, high) in OUTPUT_BOUNDS.items():
        got_low, got_high = result[key]
        if got_low < low - 1e-4 or got_high > high + 1e-4:
            problems.append(f"its {key} output ranges {got_low:.3g}..{got_high:.3g}, outside "
                            f"{low:g}..{high:g}: not a working DDSP-VST decoder")
    sums_low, sums_high = result["harmonic_sums"]
    if sums_high > 1.0 + 1e-3:
        problems.append(f"its harmonic distribution sums to up to {sums_high:.3g}, not 1")
    return f"ran {result['frames']} frames in TFLite: outputs finite and in range"


def _check_metadata(data: bytes, problems: list[str]) -> dict:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        info = archive.getinfo("metadata.json")
    except (zipfile.BadZipFile, KeyError):
        problems.append("no metadata zip with metadata.json after the flatbuffer")
        return {}
    if info.compress_type != zipfile.ZIP_STORED:
        problems.append("metadata.json is compressed; the plugin needs a stored (uncompressed) zip")
    try:
        metadata = json.loads(archive.read(info))
    except (ValueError, zipfile.BadZipFile) as exc:  # bad JSON, or a CRC error: damage
        problems.append(f"metadata.json is damaged or not JSON ({exc})")
        return {}
    for key, kind in REQUIRED_METADATA.items():
        value = metadata.get(key)
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
        if not ok:
            problems.append(f"metadata.json: '{key}' must be a {kind.__name__}, got {value!r}")
    if metadata.get("export_time") == "":
        problems.append("metadata.json: 'export_time' is empty")
    return metadata


def _checksum_mismatch(data: bytes) -> bool:
    """True when a ddspkit export's flatbuffer no longer has the SHA-256 it was written with."""
    metadata = read_vst_metadata(data)
    n_bytes, digest = metadata.get("ddspkit_flatbuffer_bytes"), metadata.get("ddspkit_flatbuffer_sha256")
    return (isinstance(n_bytes, int) and isinstance(digest, str)
            and hashlib.sha256(data[:n_bytes]).hexdigest() != digest)


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
        f0 = f0_scaled[0].detach().cpu().numpy().astype(np.float32)
        pw = pw_scaled[0].detach().cpu().numpy().astype(np.float32)
        h = (np.zeros(self.config.gru_units, np.float32) if state is None
             else state[0].detach().cpu().numpy().astype(np.float32))
        amps, dists, noises = [], [], []
        for i in range(len(f0)):
            it.set_tensor(self.inputs["call_f0_scaled:0"], f0[i : i + 1])
            it.set_tensor(self.inputs["call_pw_scaled:0"], pw[i : i + 1])
            it.set_tensor(self.inputs["call_state:0"], h)
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


def read_vst_metadata(data: bytes) -> dict:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return json.loads(archive.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        return {}


def statistics_from_metadata(metadata: dict) -> DatasetStatistics | None:
    """Full statistics from a ddspkit export; else a guess from the plugin's range box."""
    if "ddspkit_statistics" in metadata:
        return DatasetStatistics.from_dict(metadata["ddspkit_statistics"])
    keys = ("mean_min_pitch_note_hz", "mean_max_pitch_note_hz", "mean_min_power_note",
            "mean_max_power_note")
    if all(isinstance(metadata.get(k), int | float) for k in keys):
        return DatasetStatistics.from_range_box(*(float(metadata[k]) for k in keys))
    return None


def decoder_weights(data: bytes, config: ModelConfig, path: Path | str = "<memory>"
                    ) -> dict[str, torch.Tensor]:
    """The decoder's weights read back from a ddspkit export, as a Decoder state dict.

    ddspkit's exports keep every weight as a named constant (``ddspkit/<label>_<n>``, n in
    the order written), so they are found by label: the three FC stacks (dense, then layer
    norm), the GRU's six per-gate denses and the three output denses. Files from other
    exporters (Magenta's notebook) store them otherwise: UserError. ``data`` must already
    have passed :func:`check_vst`.
    """
    import re

    graph = read_tflite(data)
    found: list[tuple[int, str, np.ndarray]] = []
    for tensor in graph.subgraphs[0].tensors:
        match = re.fullmatch(r"ddspkit/(.+)_(\d+)", tensor.name)
        values = graph.constant(tensor) if match else None
        if values is not None:
            found.append((int(match[2]), match[1], values.reshape(tensor.shape).astype(np.float32)))
    found.sort()
    state: dict[str, list[np.ndarray]] = {}
    stack = None  # the FC stack whose layer norm comes next
    out_rows = ("amplitude", "harmonics", "noise")  # out_dense's rows, written in this order
    seen_out: set[str] = set()
    for _, label, value in found:
        prefix, _, kind = label.rpartition("/")
        if prefix in ("pw_stack", "f0_stack", "out_stack") and kind in ("kernel", "bias"):
            stack = prefix
            key = f"decoder.{prefix}.0.{'weight' if kind == 'kernel' else 'bias'}"
        elif label in ("ln/gamma", "ln/beta") and stack is not None:
            key = f"decoder.{stack}.1.{'weight' if kind == 'gamma' else 'bias'}"
            value = value.reshape(-1)
        elif prefix.startswith("gru/") and kind in ("kernel", "bias"):
            side = "ih" if prefix.startswith("gru/input_") else "hh"
            key = f"decoder.gru.{'weight' if kind == 'kernel' else 'bias'}_{side}_l0"
        elif prefix in out_rows and kind in ("kernel", "bias") and label not in seen_out:
            seen_out.add(label)  # the first of each: "noise/bias" later names the -5 shift too
            key = f"decoder.out_dense.{'weight' if kind == 'kernel' else 'bias'}"
        else:
            continue
        state.setdefault(key, []).append(value)
    expected = Decoder(config).state_dict()
    weights = {f"decoder.{k}": v for k, v in expected.items()}
    restored = {k: torch.from_numpy(np.concatenate(parts)) for k, parts in state.items()}
    if restored.keys() != weights.keys() or any(
            restored[k].shape != weights[k].shape for k in weights):
        raise UserError(f"{path}: its weights cannot be read back (not a ddspkit export); "
                        "start from a .safetensors model instead")
    return restored


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


def load_vst_model(path: Path) -> LoadedModel:
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
    return LoadedModel(instrument, info)


def plugin_models_dir() -> Path:
    """Where the plugin looks for user models: ``Documents/Magenta/DDSP/Models`` in the
    user's home (macOS and Windows alike), or ``$DDSPKIT_VST_MODELS_DIR``."""
    override = os.environ.get("DDSPKIT_VST_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    return Path.home() / "Documents" / "Magenta" / "DDSP" / "Models"


def export_times_in(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """``export_time`` of every .tflite under ``folder`` (recursively), by file name."""
    times = {}
    if folder.is_dir():
        for other in folder.rglob("*.tflite"):
            if skip is not None and other.resolve() == skip.resolve():
                continue
            stamp = read_vst_metadata(other.read_bytes()).get("export_time")
            if stamp:
                times[other.name] = stamp
    return times


def import_vst(file: Path, name: str | None = None, replace: bool = False,
               how_to_replace: str = "--overwrite") -> tuple[Path, ModelInfo]:
    """Check a ``.tflite`` (running it in a child process) and copy it into the user's models
    as ``<name or file stem>.tflite``. The name must not be a bundled model's, nor one of the
    user's models unless ``replace`` (whose files are then removed: the import takes the name).
    Returns (the copy's path, its info). Raises UserError."""
    from ddspkit import paths
    from ddspkit.modelfile import check_new_model_name, user_model_files

    file = Path(file)
    if not file.is_file():
        raise UserError(f"{file}: no such file")
    name = check_new_model_name(name or file.stem, replace, how_to_replace=how_to_replace,
                                typed=name is not None)
    info = read_vst_info(file, run=True)
    target = paths.models_dir() / f"{name}.tflite"
    replaced = [p for p in user_model_files(name) if p != target]
    atomic_write(target, lambda tmp: tmp.write_bytes(file.read_bytes()))
    for old in replaced:  # the import takes the name: a model of it would hide or shadow it
        old.unlink(missing_ok=True)
    return target, info


def export_vst(loaded: LoadedModel, output: Path) -> tuple[Path, CheckReport]:
    """Write ``output`` (.tflite) for the plugin, atomically, after validating it."""
    if loaded.info.statistics is None:
        raise UserError(f"{loaded.info.name}: the model has no dataset statistics to export")
    data = export_tflite_bytes(loaded.instrument.decoder, loaded.info.statistics, loaded.info.name)
    report = check_vst(data, output, export_times_in(output.parent, skip=output))
    if not report.ok:  # never write a file the plugin would reject or play as noise
        raise UserError(f"{loaded.info.name}: the export fails the plugin's checks, nothing "
                        f"written: {'; '.join(report.problems)}")
    atomic_write(output, lambda tmp: tmp.write_bytes(data))
    return output, report


def zip_for_plugin(tflite_path: Path, zip_path: Path | None = None) -> Path:
    """Zip a DDSP-VST ``.tflite`` for download as ``<name>.zip`` holding ``<name>/<name>.tflite``.

    The layout of the old notebook's download: unzipped into the plugin's model folder, the
    ``<name>`` folder is found there (v1.1.0 searches it recursively), and the bare ``.tflite``
    works as well. The file is checked against the plugin's rules first (without running it:
    the export did), so a damaged file is never packed. Written atomically; returns the path.
    """
    tflite_path = Path(tflite_path)
    try:
        data = tflite_path.read_bytes()
    except OSError as exc:
        raise UserError(f"{tflite_path}: cannot read ({exc.strerror})") from None
    report = check_vst(data, tflite_path, run=False)
    if not report.ok:
        raise UserError(f"{tflite_path}: not a usable DDSP-VST model, not zipped: {report.problems[0]}")
    zip_path = Path(zip_path) if zip_path is not None else tflite_path.with_suffix(".zip")
    name = tflite_path.stem

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}/{name}.tflite", data)

    return atomic_write(zip_path, write)
