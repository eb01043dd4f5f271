"""The plugin's model folder: export into it, import from it, zip for it."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ddspkit.audio import atomic_write
from ddspkit.errors import UserError
from ddspkit.io.ddsp_vst.check import CheckReport, check_vst
from ddspkit.io.ddsp_vst.graph import export_tflite_bytes
from ddspkit.io.ddsp_vst.metadata import read_vst_metadata
from ddspkit.io.model import Model


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


def export_vst(model: Model, output: Path) -> tuple[Path, CheckReport]:
    """Write ``output`` (.tflite) for the plugin, atomically, after validating it."""
    if model.info.statistics is None:
        raise UserError(f"{model.info.name}: the model has no dataset statistics to export")
    data = export_tflite_bytes(model.instrument.decoder, model.info.statistics, model.info.name)
    report = check_vst(data, output, export_times_in(output.parent, skip=output))
    if not report.ok:  # never write a file the plugin would reject or play as noise
        raise UserError(f"{model.info.name}: the export fails the plugin's checks, nothing "
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
