"""The one loaded-model type: every format loads as it, and the Python API's model is it."""

from __future__ import annotations

import ddspkit
from conftest import FIXTURES
from ddspkit.io.model import Model
from ddspkit.io.models import load_model


def test_every_format_loads_as_the_one_model_type():
    cello = load_model("Cello")
    notebook = load_model(FIXTURES / "CelloNotebook.tflite")
    for model in (cello, notebook):
        assert type(model) is Model and model.name == model.info.name
        assert not model.instrument.training  # ready to render
    assert repr(cello) == f"Model('Cello', path='{cello.info.path}')"
    assert len({cello, notebook, cello}) == 2  # hashable, and the same only when it is the same


def test_the_api_model_is_that_type_with_the_users_methods():
    cello = ddspkit.load_model("Cello", "cpu")
    assert isinstance(cello, Model) and type(cello) is ddspkit.Model
    assert cello.name == "Cello" and cello.info.source == "bundled"
    assert repr(cello) == f"Model('Cello', path='{cello.info.path}')"
    for method in ("transfer", "transfer_polyphonic", "transfer_file", "render_midi", "export_vst"):
        assert callable(getattr(cello, method))
