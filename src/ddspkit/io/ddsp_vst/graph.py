"""One DDSP-VST decoder step as a TFLite graph, and its weights read back.

The builder writes every weight as a named constant (``ddspkit/<label>_<n>``, n in the order
written) and :func:`decoder_weights` finds them by the same labels: the two halves of one
convention, kept side by side. The graph is :class:`ddspkit.model.Decoder` with the GRU cell
unrolled into builtin ops at version 1, written directly with the published schema
(:mod:`ddspkit.io.tflite.writer`), so TensorFlow is never needed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch

from ddspkit._version import __version__
from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.config import F0_RANGE_MIDI, ModelConfig
from ddspkit.errors import UserError
from ddspkit.io.ddsp_vst.contract import INPUTS, OUTPUTS
from ddspkit.io.ddsp_vst.metadata import append_metadata_zip, plugin_metadata
from ddspkit.io.tflite.reader import read_tflite
from ddspkit.io.tflite.writer import BuiltinOptions, Op, TensorType, TFLiteGraph, options, schema
from ddspkit.model import Decoder

NOISE_SHIFT_LABEL = "noise/shift"  # the -5 before the noise's exp_sigmoid ("noise/bias" before 0.2)


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
        f0_name, pw_name, state_name = INPUTS
        f0_in, pw_in = g.input(f0_name, [1]), g.input(pw_name, [1])
        state_in = g.input(state_name, [cfg.gru_units])
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
            self.binary(Op.SUB, noise_raw, self.const(NOISE_SHIFT_LABEL, [5.0]), "noise/shift"), "noise")
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


def export_tflite_bytes(decoder: Decoder, statistics: DatasetStatistics, name: str,
                        export_time: str | None = None) -> bytes:
    """A plugin-ready ``.tflite``: the decoder step's flatbuffer with its metadata zip appended."""
    graph = _DecoderGraphBuilder(decoder).build()
    graph.add_metadata("min_runtime_version", b"1.14.0\x00")
    flatbuffer = graph.to_bytes(description=f"ddspkit {__version__} DDSP-VST decoder: {name}")
    return append_metadata_zip(flatbuffer, plugin_metadata(statistics, name, export_time))


def decoder_weights(data: bytes, config: ModelConfig, path: Path | str = "<memory>"
                    ) -> dict[str, torch.Tensor]:
    """The decoder's weights read back from a ddspkit export, as a Decoder state dict.

    ddspkit's exports keep every weight as a named constant (``ddspkit/<label>_<n>``, n in
    the order written), so they are found by label: the three FC stacks (dense, then layer
    norm), the GRU's six per-gate denses and the three output denses. Files from other
    exporters (Magenta's notebook) store them otherwise: UserError. ``data`` must already
    have passed :func:`check_vst`.
    """
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
            # The first of each: exports before 0.2 named the -5 noise shift "noise/bias" too.
            seen_out.add(label)
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


