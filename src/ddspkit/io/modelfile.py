"""One file per instrument: safetensors weights with JSON metadata, never a pickle.

The safetensors header's metadata holds ``format`` ("ddspkit.model"), ``format_version``,
``weights_sha256`` (a digest of every tensor, so that a file damaged in transit is refused
rather than played) and ``ddspkit``: a JSON object with the model's name, its
:class:`ModelConfig`, its :class:`DatasetStatistics` and its provenance (data, recipe, steps,
versions). Loading refuses damaged files and weights that are not finite.
Models are addressed by path, or by name in the user's model folder or the bundled zoo.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ddspkit import paths
from ddspkit.analysis.statistics import DatasetStatistics, played_range_midi
from ddspkit.audio import atomic_write
from ddspkit.config import ModelConfig
from ddspkit.dsp.core import midi_to_hz, note_name
from ddspkit.errors import UserError
from ddspkit.model import Instrument

FORMAT = "ddspkit.model"
FORMAT_VERSION = "1"
MODEL_SUFFIX = ".safetensors"
VST_SUFFIX = ".tflite"  # DDSP-VST plugin models, run through a TFLite interpreter


@dataclass
class ModelInfo:
    name: str
    config: ModelConfig
    statistics: DatasetStatistics | None  # None: a model without data statistics
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    source: str = "file"  # "user", "bundled" or "file"


@dataclass
class LoadedModel:
    instrument: Instrument
    info: ModelInfo


def save_model(path: str | Path, instrument: Instrument, info: ModelInfo,
               half: bool = False) -> Path:
    """Write the instrument's weights and metadata to ``path`` atomically.

    ``half`` stores weights as float16 (half the size; loading casts back to float32).
    """
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in instrument.state_dict().items()}
    if info.statistics is None:
        raise ValueError("a ddspkit model file needs dataset statistics")
    meta = {
        "name": info.name,
        "config": info.config.to_dict(),
        "statistics": info.statistics.to_dict(),
        "provenance": info.provenance,
    }
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "ddspkit": json.dumps(meta),
              "weights_sha256": weights_digest(tensors)}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))


def weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name and bytes, as stored (sorted by name)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _damage(exc: Exception) -> str:
    """safetensors' reason, in a user's words where it is a known kind of damage."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not fully covered" in reason or "incomplete" in reason.lower():
        return f"the file is cut short or damaged ({reason})"
    return f"damaged, or not a ddspkit model file ({reason})"


def read_info(path: Path) -> ModelInfo:
    """Read a model file's metadata only. Raises UserError if it is not a ddspkit model."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: {_damage(exc)}") from None
    if header.get("format") != FORMAT:
        raise UserError(f"{path}: not a ddspkit model file (no '{FORMAT}' metadata)")
    try:
        meta = json.loads(header["ddspkit"])
        return ModelInfo(
            name=meta["name"],
            config=ModelConfig.from_dict(meta["config"]),
            statistics=DatasetStatistics.from_dict(meta["statistics"]),
            provenance=meta.get("provenance", {}),
            path=path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: model metadata is invalid ({exc})") from None


def bundled_dir() -> Path:
    return Path(str(resources.files("ddspkit") / "assets"))


def _candidates() -> list[tuple[Path, str]]:
    found = []
    for folder, source in ((paths.models_dir(), "user"), (bundled_dir(), "bundled")):
        if folder.is_dir():
            found += [(p, source) for suffix in (MODEL_SUFFIX, VST_SUFFIX)
                      for p in sorted(folder.glob(f"*{suffix}"))]
    return found


def resolve_model(name_or_path: str | Path) -> tuple[Path, str]:
    """A model's file and source: a path, else a name in the user folder, else bundled."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix or "/" in text or "\\" in text:
        if not path.is_file():
            raise UserError(f"{path}: no such model file")
        return path, "file"
    for candidate, source in _candidates():
        if candidate.stem.lower() == text.lower():
            return candidate, source
    names = sorted({p.stem for p, _ in _candidates()})
    hint = f" (available: {', '.join(names)})" if names else ""
    raise UserError(f"no model named '{text}'{hint}; 'ddspkit models' lists them")


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model by name or path, in float32, in eval mode. Raises UserError."""
    path, source = resolve_model(name_or_path)
    if path.suffix.lower() == VST_SUFFIX:
        from ddspkit.io.ddsp_vst.runtime import load_vst_model

        loaded = load_vst_model(path)
        loaded.info.source = source
        return LoadedModel(loaded.instrument.to(device).eval(), loaded.info)
    info = read_info(path)
    info.source = source
    instrument = Instrument(info.config)
    try:
        with safe_open(str(path), framework="pt") as handle:
            stored = {k: handle.get_tensor(k) for k in handle.keys()}
            expected_digest = (handle.metadata() or {}).get("weights_sha256")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise UserError(f"{path}: {_damage(exc)}") from None
    if expected_digest is not None and weights_digest(stored) != expected_digest:
        raise UserError(f"{path}: the weights are damaged (their checksum differs from the one "
                        "saved with them); copy or download the file again")
    state = {k: v.float() for k, v in stored.items()}
    n_bad = sum(int((~torch.isfinite(v)).sum()) for v in state.values())
    if n_bad:
        n_all = sum(v.numel() for v in state.values())
        raise UserError(f"{path}: {n_bad} of {n_all} weights are NaN or infinite (a training that "
                        "diverged?); retrain, or resume from an earlier checkpoint")
    try:
        instrument.load_state_dict(state)
    except RuntimeError as exc:
        raise UserError(f"{path}: weights do not match the model ({str(exc).splitlines()[0]})") from None
    return LoadedModel(instrument.to(device).eval(), info)


def list_models() -> list[ModelInfo]:
    """Every readable model in the user folder and the bundled zoo (user first).

    A ``.tflite`` beside the ``.safetensors`` of the same name is that model's DDSP-VST
    export (``Model.export_vst`` writes it there), not another instrument: it is not listed.
    """
    infos = []
    for path, source in _candidates():
        if path.suffix.lower() == VST_SUFFIX and path.with_suffix(MODEL_SUFFIX).is_file():
            continue
        info = _read_any(path)
        if info is None:
            continue
        info.source = source
        infos.append(info)
    return infos


def check_name(name: str, label: str = "name") -> str:
    """A new instrument's name, stripped; UserError unless it is letters, digits, '-', '_'
    and spaces (it becomes a file name). ``label`` names the setting in the message
    ('--name' on the command line, 'MODEL_NAME' in the notebook)."""
    name = name.strip()
    if not name or not name.replace("-", "").replace("_", "").replace(" ", "").isalnum():
        raise UserError(f"{label} '{name}': use letters, digits, '-', '_' or spaces")
    return name


def trained_summary(info: ModelInfo) -> str:
    """How a model came to be, in a few words: its steps, start and minutes of audio, or its
    format (e.g. '1000 steps from Cello on 11 min of audio')."""
    p = info.provenance
    if "steps" not in p:
        return p.get("format", "?")
    start = (p.get("start") or {}).get("model")
    from_start = f" from {start}" if start else ""
    return f"{p['steps']} steps{from_start} on {p.get('data', {}).get('usable_minutes', 0):.0f} min of audio"


def pitch_range(info: ModelInfo) -> str:
    """The range a model was trained on: 2nd to 98th percentile of its data's pitch, e.g.
    'F2-F4 (88-349 Hz)' ('?' without statistics)."""
    if info.statistics is None:
        return "?"
    low_hz, high_hz = (float(midi_to_hz(m)) for m in played_range_midi(info.statistics))
    return f"{note_name(low_hz)}-{note_name(high_hz)} ({low_hz:.0f}-{high_hz:.0f} Hz)"


def user_model_path(name: str) -> Path:
    return paths.models_dir() / f"{name}{MODEL_SUFFIX}"


# -- the user's models by name: bundled names are reserved, renames and deletes ---------------

def bundled_model(name: str) -> ModelInfo | None:
    """The bundled model called ``name`` (case-insensitive), by its bundled file: a user model
    of the same name never stands in for it. None if no bundled model has that name."""
    for path, source in _candidates():
        if source == "bundled" and path.stem.lower() == name.strip().lower():
            info = _read_any(path)
            if info is not None:
                info.source = "bundled"
                return info
    return None


def bundled_models() -> list[ModelInfo]:
    """Every readable bundled model, by its bundled file (never a user model of its name)."""
    return [info for info in list_models() if info.source == "bundled"]


def user_model_files(name: str) -> list[Path]:
    """The files in the user's model folder that hold the model ``name`` (case-insensitive):
    its ``.safetensors``, its ``.tflite`` (an import, or the ``.safetensors``' export)."""
    folder = paths.models_dir()
    if not folder.is_dir():
        return []
    return sorted(p for suffix in (MODEL_SUFFIX, VST_SUFFIX) for p in folder.glob(f"*{suffix}")
                  if p.stem.lower() == name.strip().lower())


def check_new_model_name(name: str, replace: bool = False, label: str = "name",
                         how_to_replace: str = "--overwrite", typed: bool = True) -> str:
    """A name for a new user model: valid (:func:`check_name`; a name not ``typed`` but taken
    from an existing file's name only needs to be one), never a bundled model's name (a user
    model must not shadow one), and not an existing user model's unless ``replace``
    (``how_to_replace`` says how to ask for that). Raises UserError."""
    name = check_name(name, label) if typed else name.strip()
    if bundled_model(name) is not None:
        raise UserError(f"{label} '{name}': a bundled model has this name; choose another "
                        "(your models cannot take a bundled model's name)")
    existing = user_model_files(name)
    if existing and not replace:
        raise UserError(f"{label} '{name}': you already have a model of this name "
                        f"({existing[0]}); choose another name, rename or delete that model, "
                        f"or use {how_to_replace} to replace it")
    return name


def _read_any(path: Path) -> ModelInfo | None:
    try:
        if path.suffix.lower() == VST_SUFFIX:
            from ddspkit.io.ddsp_vst.runtime import read_vst_info

            return read_vst_info(path)
        return read_info(path)
    except UserError:
        return None


def _existing_user_model(name: str) -> list[Path]:
    found = user_model_files(name)
    if not found:
        if bundled_model(name) is not None:
            raise UserError(f"'{name}' is a bundled model: only your own models can be renamed "
                            "or deleted")
        raise UserError(f"you have no model named '{name}'; 'ddspkit models' lists them")
    return found


def rename_user_model(old: str, new: str) -> list[Path]:
    """Rename the user model ``old`` to ``new``: its files (and the name stored in a
    ``.safetensors``), its training run folder and its kept recordings, so that Resume goes
    on under the new name. Returns the renamed model files. Raises UserError."""
    files = _existing_user_model(old)
    new = check_new_model_name(new, label="new name", how_to_replace="another name")
    targets = [f.with_name(f"{new}{f.suffix}") for f in files]
    for folder in (paths.runs_dir(), paths.home() / "recordings"):
        source, target = folder / files[0].stem, folder / new
        if source.is_dir() and target.exists():
            raise UserError(f"{target} exists already: move it away first")
    for source, target in zip(files, targets, strict=True):
        if source.suffix == MODEL_SUFFIX:
            _rewrite_name(source, target, new)
            source.unlink()
        else:
            source.rename(target)
    for folder in (paths.runs_dir(), paths.home() / "recordings"):
        if (folder / files[0].stem).is_dir():
            (folder / files[0].stem).rename(folder / new)
    return targets


def _rewrite_name(source: Path, target: Path, name: str) -> None:
    """Copy a model file to ``target`` with ``name`` as its stored name (weights as they are)."""
    with safe_open(str(source), framework="pt") as handle:
        header = dict(handle.metadata() or {})
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    meta = json.loads(header["ddspkit"])
    meta["name"] = name
    header["ddspkit"] = json.dumps(meta)
    atomic_write(target, lambda tmp: save_file(tensors, str(tmp), metadata=header))


def delete_user_model(name: str) -> list[Path]:
    """Delete the user model ``name``'s files (its ``.safetensors`` and ``.tflite``). Its
    training run folder and kept recordings stay (a new training of the name resumes from
    them; ``--restart`` starts over). Returns the deleted files. Raises UserError."""
    files = _existing_user_model(name)
    for path in files:
        path.unlink()
    return files
