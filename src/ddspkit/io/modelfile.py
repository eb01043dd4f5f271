"""One file per instrument: safetensors weights with JSON metadata, never a pickle.

The safetensors header's metadata holds ``format`` ("ddspkit.model"), ``format_version``,
``weights_sha256`` (a digest of every tensor, so that a file damaged in transit is refused
rather than played) and ``ddspkit``: a JSON object with the model's name, its
:class:`ModelConfig`, its :class:`DatasetStatistics` and its provenance (data, recipe, steps,
versions). Loading refuses damaged files and weights that are not finite.
Finding models by name, and the other formats, is :mod:`ddspkit.io.models`' job.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ddspkit.analysis.profile import ExpressionProfile
from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.audio import atomic_write
from ddspkit.config import ModelConfig
from ddspkit.errors import UserError
from ddspkit.io.model import Model, ModelInfo
from ddspkit.model import Instrument

FORMAT = "ddspkit.model"
FORMAT_VERSION = "1"
MODEL_SUFFIX = ".safetensors"


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
    if info.expression_profile is not None:
        meta["expression_profile"] = info.expression_profile.to_dict()
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
            expression_profile=(ExpressionProfile.from_dict(meta["expression_profile"])
                                if "expression_profile" in meta else None),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: model metadata is invalid ({exc})") from None


def load_safetensors(path: Path) -> Model:
    """A ddspkit model file's instrument (float32, on the CPU) and info. Raises UserError
    for a damaged file, weights whose checksum differs, or weights that are not finite."""
    info = read_info(path)
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
    return Model(instrument, info)


def rewrite_name(source: Path, target: Path, name: str) -> None:
    """Copy a model file to ``target`` with ``name`` as its stored name (weights as they are)."""
    with safe_open(str(source), framework="pt") as handle:
        header = dict(handle.metadata() or {})
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    meta = json.loads(header["ddspkit"])
    meta["name"] = name
    header["ddspkit"] = json.dumps(meta)
    atomic_write(target, lambda tmp: save_file(tensors, str(tmp), metadata=header))
