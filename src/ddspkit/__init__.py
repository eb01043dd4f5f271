"""ddspkit: train and play DDSP neural synthesizers (DDSP-VST compatible).

See :mod:`ddspkit.api` for the Python API: ``load_model``, ``train``, ``prepare``.
"""

__version__ = "0.1.0"

from ddspkit.api import (  # noqa: E402
    Model,
    TransferResult,
    list_models,
    load_model,
    prepare,
    train,
    transcribe,
    transcribe_file,
)

__all__ = ["Model", "TransferResult", "list_models", "load_model", "prepare", "train",
           "transcribe", "transcribe_file", "__version__"]
