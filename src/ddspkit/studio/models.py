"""The instrument lists of every tab: bundled, trained and imported models, read afresh.

A choice's value is a key (``<source>:<file name>``), never a path: the page can only pick
among the models :func:`ddspkit.io.models.list_models` finds, and a user model that has
the name of a bundled one stays distinct from it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr

from ddspkit.api import Model, load_model
from ddspkit.errors import UserError
from ddspkit.io.model import ModelInfo
from ddspkit.io.models import list_models

DEFAULT_INSTRUMENT = "Cello"
_loaded: OrderedDict[tuple[str, int], Model] = OrderedDict()
_loaded_lock = threading.Lock()
MAX_LOADED = 4


def key_of(info: ModelInfo) -> str:
    return f"{info.source}:{info.path.name}"


def label_of(info: ModelInfo) -> str:
    kind = {"user": "yours", "bundled": "bundled"}.get(info.source, info.source)
    if info.path.suffix == ".tflite":
        kind += ", DDSP-VST"
    return f"{info.name} ({kind})"


def choices() -> list[tuple[str, str]]:
    """(label, key) for every model, yours first."""
    return [(label_of(info), key_of(info)) for info in list_models()]


def default_key(options: list[tuple[str, str]]) -> str | None:
    """The bundled Cello if present, else the first model."""
    keys = [key for _, key in options]
    preferred = f"bundled:{DEFAULT_INSTRUMENT}.safetensors"
    return preferred if preferred in keys else (keys[0] if keys else None)


def dropdown(label: str = "instrument", elem_id: str | None = None, **options) -> gr.Dropdown:
    """A dropdown of every model, the default chosen."""
    found = choices()
    return gr.Dropdown(choices=found, value=default_key(found), label=label, elem_id=elem_id,
                       **options)


def refreshed(current: str | None) -> gr.Dropdown:
    """The dropdown's new choices (a model trained or imported since appears), keeping the
    current pick when it still exists."""
    found = choices()
    keys = [key for _, key in found]
    return gr.Dropdown(choices=found, value=current if current in keys else default_key(found))


def info_for(key: str | None) -> ModelInfo:
    """The model a key names. Raises UserError if none is chosen or it is gone."""
    if not key:
        raise UserError("no instrument chosen")
    for info in list_models():
        if key_of(info) == key:
            return info
    raise UserError(f"the instrument '{key.split(':', 1)[-1]}' is no longer there (deleted or "
                    "renamed?); pick another")


def load(key: str | None) -> Model:
    """The model a key names, loaded once and kept while its file is unchanged."""
    info = info_for(key)
    path = Path(info.path)
    cache_key = (str(path), path.stat().st_mtime_ns)
    with _loaded_lock:
        if cache_key in _loaded:
            _loaded.move_to_end(cache_key)
            return _loaded[cache_key]
    model = load_model(path)
    with _loaded_lock:
        _loaded[cache_key] = model
        while len(_loaded) > MAX_LOADED:
            _loaded.popitem(last=False)
    return model
