"""Model files: safetensors + JSON, atomic, addressable by name or path, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from conftest import ZOO
from ddspkit import paths
from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.errors import UserError
from ddspkit.io.modelfile import ModelInfo, read_info, save_model
from ddspkit.io.models import list_models, load_model, user_model_path
from ddspkit.model import Instrument


def stats() -> DatasetStatistics:
    return DatasetStatistics.from_range_box(100.0, 400.0, -40.0, -10.0)


def render(instrument: Instrument) -> np.ndarray:
    n = 50
    f0 = torch.linspace(110, 330, n)
    return instrument.render(f0, torch.full((n,), -20.0), (n - 1) * 320).numpy()


def test_save_load_round_trip_by_name_and_path():
    torch.manual_seed(0)
    original = Instrument().eval()
    path = save_model(user_model_path("Viola"), original,
                      ModelInfo("Viola", original.config, stats(), {"steps": 7}))
    by_name = load_model("viola")  # names are case-insensitive
    by_path = load_model(path)
    assert by_name.info.name == "Viola" and by_name.info.source == "user"
    assert by_path.info.provenance["steps"] == 7
    np.testing.assert_array_equal(render(original), render(by_name.instrument))
    assert by_name.info.statistics.mean_min_pitch_note_hz == pytest.approx(100.0)
    assert "Viola" in [info.name for info in list_models()]


def test_half_precision_file_is_half_the_size_and_close():
    torch.manual_seed(0)
    original = Instrument().eval()
    full = save_model(paths.home() / "full.safetensors", original,
                      ModelInfo("X", original.config, stats()))
    half = save_model(paths.home() / "half.safetensors", original,
                      ModelInfo("X", original.config, stats()), half=True)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    a, b = render(original), render(load_model(half).instrument)
    assert np.max(np.abs(a - b)) < 0.01 * np.max(np.abs(a))


def test_model_file_holds_no_pickle_and_readable_json(tmp_path):
    original = Instrument()
    path = save_model(tmp_path / "m.safetensors", original, ModelInfo("M", original.config, stats()))
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    meta = json.loads(header["__metadata__"]["ddspkit"])
    assert meta["config"]["n_harmonics"] == 60 and meta["config"]["gru_units"] == 512
    assert b"\x80\x04" not in raw[:16]  # not a pickle stream
    assert not list(tmp_path.glob(".*"))  # no temporary left


def test_unknown_model_name_is_a_user_error():
    with pytest.raises(UserError, match="no model named 'Theremin'"):
        load_model("Theremin")


def test_missing_model_path_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such model file"):
        load_model(tmp_path / "nope.safetensors")


def test_garbage_file_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(UserError, match="bad.safetensors: damaged, or not a ddspkit model"):
        load_model(bad)


def test_foreign_safetensors_is_a_user_error(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other))
    with pytest.raises(UserError, match="not a ddspkit model"):
        read_info(other)


def test_mismatched_weights_are_a_user_error(tmp_path):
    original = Instrument()
    path = save_model(tmp_path / "m.safetensors", original, ModelInfo("M", original.config, stats()))
    raw = bytearray(path.read_bytes())
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    meta = header["__metadata__"]
    meta.pop("weights_sha256")  # as in files written before checksums
    tensors = {"decoder.out_dense.bias": torch.zeros(3)}
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(UserError, match="weights do not match"):
        load_model(path)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_bundled_model_records_how_to_rebuild_it(name):
    """Provenance: real-sample data anyone can regenerate, split by piece, and the command."""
    from ddspkit.io.models import load_model

    provenance = load_model(name).info.provenance
    data = provenance["data"]["recipe"]
    assert data["soundfont"] == "FluidR3_GM.sf2" and 0 <= data["program"] < 128
    pieces = {split: {p.split(" ")[0] for p in data["pieces"][split]} for split in ("train", "heldout")}
    assert pieces["train"] and pieces["heldout"] and not pieces["train"] & pieces["heldout"]
    assert provenance["rebuild"].startswith(f"scripts/build_model.sh {data['instrument']} {name}")
    assert not provenance["source"].startswith("/")  # no path of the machine that built it
    assert provenance["recipe"]["name"] == "fast"
    start = provenance.get("start", {}).get("model")
    if start is None:  # from random weights, as the first four were
        assert provenance["steps"] >= 4000
    else:  # fine-tuned from another bundled model, which the rebuild names
        assert provenance["rebuild"].endswith(f"--from {start}") and start in ZOO and start != name
        assert provenance["steps"] >= 500


def test_a_models_own_tflite_export_is_not_listed_as_another_instrument():
    import ddspkit

    cello = ddspkit.load_model("Cello")
    save_model(paths.models_dir() / "Mine.safetensors", cello.instrument,
               ModelInfo("Mine", cello.info.config, cello.info.statistics, {}))
    mine = ddspkit.load_model("Mine")
    path, report = mine.export_vst()
    assert path == paths.models_dir() / "Mine.tflite" and report.ok
    assert [info.name for info in list_models()].count("Mine") == 1
    assert ddspkit.load_model("Mine").info.path.suffix == ".safetensors"
