"""One export for every face: format -> suffix, where the file goes, install, the user's lines."""

from __future__ import annotations

import pytest

from ddspkit.errors import UserError
from ddspkit.io.export import (
    EXPORT_SUFFIXES,
    ExportLabels,
    default_vst_output,
    export_model,
    export_suffix,
)
from ddspkit.io.models import load_model


@pytest.fixture(scope="module")
def cello():
    return load_model("Cello")


@pytest.mark.parametrize(("fmt", "suffix"), [("vst", ".tflite"), ("VST", ".tflite"), ("tflite", ".tflite"),
                                             ("onnx", ".onnx"), ("TorchScript", ".pt")])
def test_each_format_has_its_suffix(fmt, suffix):
    assert export_suffix(fmt) == suffix
    assert EXPORT_SUFFIXES[fmt.lower()] == suffix


def test_a_bad_format_or_installing_another_format_is_a_one_line_error(cello, tmp_path):
    with pytest.raises(UserError) as bad:
        export_model(cello, "wav", tmp_path / "Cello.wav")
    assert str(bad.value) == "--format 'wav': choose vst, onnx or torchscript"
    with pytest.raises(UserError) as install:
        export_model(cello, "onnx", install=True, plugin_dir=tmp_path / "plugin")
    assert str(install.value) == "--install is for --format vst"
    labels = ExportLabels(format="export as", install="'install'", vst="the DDSP-VST plugin")
    with pytest.raises(UserError, match=r"^'install' is for the DDSP-VST plugin$"):
        export_suffix("torchscript", install=True, labels=labels)
    assert not list(tmp_path.iterdir())  # nothing written


def test_vst_goes_to_the_current_folder_by_default(cello, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = export_model(cello, "vst")
    assert result.path == tmp_path.joinpath("Cello.tflite").relative_to(tmp_path)
    assert (tmp_path / "Cello.tflite").is_file() and result.format == "vst" and not result.installed
    assert result.check is not None and result.check.ok
    [line] = result.lines
    assert line.startswith("Cello.tflite: DDSP-VST model, ") and line.endswith("; passes the plugin's checks")
    assert f"export_time {result.check.metadata['export_time']}" in line


def test_install_writes_into_the_plugin_folder_and_says_so(cello, tmp_path, monkeypatch):
    plugin = tmp_path / "Documents" / "Magenta" / "DDSP" / "Models"
    monkeypatch.setenv("DDSPKIT_VST_MODELS_DIR", str(plugin))  # the default plugin folder
    result = export_model(cello, "vst", tmp_path / "elsewhere.tflite", install=True)
    assert result.installed and result.path == plugin / "Cello.tflite" and result.path.is_file()
    assert not (tmp_path / "elsewhere.tflite").exists()  # installing decides where it goes
    assert result.lines[0].startswith(f"{plugin / 'Cello.tflite'}: DDSP-VST model")
    assert result.lines[1] == (f"installed into the plugin's model folder {plugin}: press the plugin's "
                               "refresh button and pick it from the model list")
    other = tmp_path / "other plugin folder"
    assert export_model(cello, "tflite", install=True, plugin_dir=other).path == other / "Cello.tflite"


def test_a_decoder_step_export_says_how_close_it_is(cello, tmp_path):
    result = export_model(cello, "torchscript", tmp_path / "step.pt")
    assert result.path == tmp_path / "step.pt" and result.path.stat().st_size > 1_000_000
    assert result.format == "torchscript" and result.max_difference < 1e-4 and result.check is None
    assert result.lines == [f"{tmp_path / 'step.pt'}: torchscript decoder step (f0_scaled, pw_scaled, "
                            "state) -> (amplitude, harmonics, noise, state); matches PyTorch within "
                            f"{result.max_difference:.1e}"]


def test_the_default_vst_output_is_beside_a_users_model_file(cello, tmp_path):
    assert default_vst_output(cello.info).name == "Cello.tflite"  # bundled: the current folder
    assert not default_vst_output(cello.info).is_absolute()
    from dataclasses import replace

    mine = replace(cello.info, path=tmp_path / "Mine.safetensors", source="user", name="Mine")
    assert default_vst_output(mine) == tmp_path / "Mine.tflite"
