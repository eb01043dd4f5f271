"""A model exported for another host, the same way from every face: DDSP-VST's plugin
(``.tflite``, :mod:`ddspkit.io.ddsp_vst.plugin`) or one decoder step as ONNX or TorchScript
(:mod:`ddspkit.io.steps`); the format's file suffix, installing into the plugin's model
folder, and the lines that tell the user what was written and checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ddspkit.errors import UserError
from ddspkit.io.ddsp_vst.check import CheckReport
from ddspkit.io.ddsp_vst.plugin import export_vst, plugin_models_dir
from ddspkit.io.model import Model, ModelInfo
from ddspkit.io.modelfile import MODEL_SUFFIX
from ddspkit.io.models import VST_SUFFIX
from ddspkit.io.steps import export_step_model

EXPORT_SUFFIXES = {"vst": VST_SUFFIX, "tflite": VST_SUFFIX, "onnx": ".onnx", "torchscript": ".pt"}


@dataclass(frozen=True)
class ExportLabels:
    """How a face names export's settings in its one-line errors (the command line's by default)."""

    format: str = "--format"  # the setting that picks the format
    install: str = "--install"  # the setting that installs into the plugin's model folder
    vst: str = "--format vst"  # the choice of DDSP-VST's format


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and checked."""

    path: Path  # the file written (in the plugin's model folder when installed)
    format: str  # "vst", "onnx" or "torchscript"
    lines: list[str]  # what was written and checked, for the user, one line each
    installed: bool = False  # written into the plugin's model folder
    check: CheckReport | None = None  # "vst": the plugin's checks, passed
    max_difference: float | None = None  # "onnx", "torchscript": worst output difference to PyTorch


def export_suffix(format: str, install: bool = False, labels: ExportLabels = ExportLabels()) -> str:
    """The file suffix of an export ``format`` (vst or tflite, onnx, torchscript; any case).
    Raises UserError for another format, or ``install`` with a format other than DDSP-VST's."""
    suffix = EXPORT_SUFFIXES.get(format.lower())
    if suffix is None:
        raise UserError(f"{labels.format} '{format}': choose vst, onnx or torchscript")
    if install and suffix != VST_SUFFIX:
        raise UserError(f"{labels.install} is for {labels.vst}")
    return suffix


def export_model(model: Model, format: str, output: str | Path | None = None, install: bool = False,
                 plugin_dir: str | Path | None = None,
                 labels: ExportLabels = ExportLabels()) -> ExportResult:
    """Export ``model`` as ``format`` (see :func:`export_suffix`), checked before it is kept.

    The file goes to ``output`` (default ``<name><suffix>`` in the current folder); with
    ``install``, to ``<name>.tflite`` in the plugin's model folder (``plugin_dir``, default
    :func:`plugin_models_dir`) instead. Raises UserError (``labels`` name the settings).
    """
    suffix = export_suffix(format, install, labels)
    name = model.info.name
    if install:
        output = Path(plugin_dir or plugin_models_dir()) / f"{name}{VST_SUFFIX}"
    output = Path(output) if output is not None else Path(f"{name}{suffix}")
    if suffix == VST_SUFFIX:
        path, report = export_vst(model, output)
        lines = [f"{path}: DDSP-VST model, {path.stat().st_size / 1e6:.1f} MB, "
                 f"{len(set(report.ops))} builtin op types, export_time "
                 f"{report.metadata['export_time']}; passes the plugin's checks"]
        if install:
            lines.append(f"installed into the plugin's model folder {path.parent}: press the "
                         "plugin's refresh button and pick it from the model list")
        return ExportResult(path, "vst", lines, install, check=report)
    fmt = format.lower()
    path, worst = export_step_model(model, output, fmt)
    lines = [f"{path}: {fmt} decoder step (f0_scaled, pw_scaled, state) -> (amplitude, harmonics, "
             f"noise, state); matches PyTorch within {worst:.1e}"]
    return ExportResult(path, fmt, lines, max_difference=worst)


def default_vst_output(info: ModelInfo) -> Path:
    """Where a model's DDSP-VST export goes unless told: beside a user's ``.safetensors``
    (``<name>.tflite``, which the model list then takes for that model's export), else
    ``<name>.tflite`` in the current folder."""
    path = info.path
    beside = info.source != "bundled" and path is not None and path.suffix == MODEL_SUFFIX
    return path.with_suffix(VST_SUFFIX) if beside else Path(f"{info.name}{VST_SUFFIX}")


__all__ = ["EXPORT_SUFFIXES", "ExportLabels", "ExportResult", "default_vst_output", "export_model",
           "export_suffix"]
