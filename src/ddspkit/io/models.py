"""The user's models and the bundled ones, by name, in every format ddspkit reads.

A name is looked up in the user's model folder, then among the bundled models; a path is
taken as it is. Each format is one row of :data:`FORMATS` (suffix -> info reader, loader):
ddspkit's own ``.safetensors`` (:mod:`ddspkit.io.modelfile`) and DDSP-VST's ``.tflite``
(:mod:`ddspkit.io.ddsp_vst.runtime`); nothing else here knows a format. User models can
never take a bundled model's name, so a bundled model is never shadowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from ddspkit import paths
from ddspkit.audio import atomic_write
from ddspkit.errors import UserError
from ddspkit.io.ddsp_vst.runtime import load_vst_model, read_vst_info
from ddspkit.io.model import Model, ModelInfo
from ddspkit.io.modelfile import MODEL_SUFFIX, load_safetensors, read_info, rewrite_name
from ddspkit.io.profiles import read_profile

VST_SUFFIX = ".tflite"  # DDSP-VST plugin models, run through a TFLite interpreter


@dataclass(frozen=True)
class ModelFormat:
    read_info: Callable[[Path], ModelInfo]  # metadata only; UserError if unusable
    load: Callable[[Path], Model]  # on the CPU; UserError if unusable


FORMATS = {MODEL_SUFFIX: ModelFormat(read_info, load_safetensors),
           VST_SUFFIX: ModelFormat(read_vst_info, load_vst_model)}


def _format(path: Path) -> ModelFormat:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UserError(f"{path}: not a model file (ddspkit reads {', '.join(FORMATS)})") from None


def bundled_dir() -> Path:
    return Path(str(resources.files("ddspkit") / "assets"))


def _candidates() -> list[tuple[Path, str]]:
    found = []
    for folder, source in ((paths.models_dir(), "user"), (bundled_dir(), "bundled")):
        if folder.is_dir():
            found += [(p, source) for suffix in FORMATS
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


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> Model:
    """Load a model by name or path, in float32, in eval mode, in any format. Raises UserError.

    The Python API's :func:`ddspkit.api.load_model` is this, on the best device by default,
    with the API's methods on the model."""
    path, source = resolve_model(name_or_path)
    loaded = _format(path).load(path)
    _set_source(loaded.info, path, source)
    loaded.instrument.to(device).eval()
    return loaded


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
        _set_source(info, path, source)
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


def user_model_path(name: str) -> Path:
    return paths.models_dir() / f"{name}{MODEL_SUFFIX}"


def import_vst(file: Path, name: str | None = None, replace: bool = False,
               how_to_replace: str = "--overwrite") -> tuple[Path, ModelInfo]:
    """Check a ``.tflite`` (running it in a child process) and copy it into the user's models
    as ``<name or file stem>.tflite``. The name must not be a bundled model's, nor one of the
    user's models unless ``replace`` (whose files are then removed: the import takes the name).
    Returns (the copy's path, its info). Raises UserError."""
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


# -- the user's models by name: bundled names are reserved, renames and deletes ---------------

def bundled_model(name: str) -> ModelInfo | None:
    """The bundled model called ``name`` (case-insensitive), by its bundled file: a user model
    of the same name never stands in for it. None if no bundled model has that name."""
    for path, source in _candidates():
        if source == "bundled" and path.stem.lower() == name.strip().lower():
            info = _read_any(path)
            if info is not None:
                _set_source(info, path, "bundled")
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


def _set_source(info: ModelInfo, path: Path, source: str) -> None:
    """Where the model came from; a bundled model's expression profile ships beside it
    (``assets/profiles/<Name>.json``, learned by scripts/learn_profiles.py from its own
    training data: a few KB that a rebuild of the profiles changes without rewriting the
    weights' files)."""
    info.source = source
    profile_file = bundled_dir() / "profiles" / f"{path.stem}.json"
    bundled_file = path.resolve().parent == bundled_dir().resolve()  # by name or by its path
    if bundled_file and info.expression_profile is None and profile_file.is_file():
        info.expression_profile = read_profile(profile_file)


def _read_any(path: Path) -> ModelInfo | None:
    try:
        return _format(path).read_info(path)
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
    for folder in (paths.runs_dir(), paths.recordings_dir()):
        source, target = folder / files[0].stem, folder / new
        if source.is_dir() and target.exists():
            raise UserError(f"{target} exists already: move it away first")
    for source, target in zip(files, targets, strict=True):
        if source.suffix == MODEL_SUFFIX:
            rewrite_name(source, target, new)
            source.unlink()
        else:
            source.rename(target)
    for folder in (paths.runs_dir(), paths.recordings_dir()):
        if (folder / files[0].stem).is_dir():
            (folder / files[0].stem).rename(folder / new)
    return targets


def delete_user_model(name: str) -> list[Path]:
    """Delete the user model ``name``'s files (its ``.safetensors`` and ``.tflite``). Its
    training run folder and kept recordings stay (a new training of the name resumes from
    them; ``--restart`` starts over). Returns the deleted files. Raises UserError."""
    files = _existing_user_model(name)
    for path in files:
        path.unlink()
    return files
