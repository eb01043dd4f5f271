"""The plugin's loading rules applied to a ``.tflite``: structure, signature, ops, metadata,
and a run of the model in a child process (:mod:`ddspkit.io.ddsp_vst.probe`).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ddspkit.io.ddsp_vst.contract import (
    INPUTS,
    KNOWN_OPS_2_9,
    OUTPUT_BOUNDS,
    OUTPUTS,
    REQUIRED_METADATA,
    VST_EXTRA_HINT,
)
from ddspkit.io.ddsp_vst.metadata import checksum_mismatch
from ddspkit.io.tflite.reader import DamagedModel, TFLiteModel, check_constants, read_tflite
from ddspkit.io.tflite.writer import TensorType


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
    if checksum_mismatch(data):
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


PROBE_TIMEOUT_S = 120


def run_check(data: bytes, problems: list[str]) -> str:
    """Run the model for some frames in a child process; add problems, return what was done.

    A crash of the TFLite runtime (a damaged file can make it dereference garbage) ends the
    child, not this process, and is reported as a problem. Without a TFLite runtime nothing
    runs and the returned note says how to get one.
    """
    import subprocess
    import sys

    from ddspkit.io.ddsp_vst import probe as tflite_probe

    # Isolated (-I: no environment variables, no user site), yet importing this very
    # ddspkit, installed or not: the probe shares the contract's names with this process.
    package_root = str(Path(__file__).resolve().parents[3])  # the folder holding ddspkit/
    command = [sys.executable, "-I", "-c",
               f"import sys; sys.path.insert(0, {package_root!r}); "
               "from ddspkit.io.ddsp_vst.probe import main; sys.exit(main())"]
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


