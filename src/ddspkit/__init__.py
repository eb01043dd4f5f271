"""ddspkit: train and play DDSP neural synthesizers (DDSP-VST compatible).

See :mod:`ddspkit.api` for the Python API: ``load_model``, ``train``, ``prepare``. The names
below load on first use (PEP 562), so ``import ddspkit.config`` or ``ddspkit --help`` does
not pay for torch and the whole library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ddspkit._version import __version__

_API_NAMES = ("Model", "TransferResult", "list_models", "load_model", "prepare", "train",
              "transcribe", "transcribe_file")

__all__ = ["Model", "TransferResult", "list_models", "load_model", "prepare", "train",
           "transcribe", "transcribe_file", "__version__"]

if TYPE_CHECKING:
    from ddspkit.api import (
        Model,
        TransferResult,
        list_models,
        load_model,
        prepare,
        train,
        transcribe,
        transcribe_file,
    )


def __getattr__(name: str):
    if name in _API_NAMES:
        from ddspkit import api

        return getattr(api, name)
    raise AttributeError(f"module 'ddspkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
