"""DDSP-VST export, validation and import; ONNX and TorchScript exports."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

import ddspkit
from conftest import FIXTURES
from ddspkit.io.ddsp_vst.check import check_vst
from ddspkit.io.ddsp_vst.contract import OUTPUTS
from ddspkit.io.ddsp_vst.graph import export_tflite_bytes
from ddspkit.io.ddsp_vst.metadata import append_metadata_zip
from ddspkit.io.ddsp_vst.plugin import export_times_in
from ddspkit.io.ddsp_vst.runtime import TFLiteDecoder
from ddspkit.io.models import load_model
from ddspkit.io.steps import export_step_model, reference_outputs, run_steps
from ddspkit.io.tflite.writer import Op, TFLiteGraph


@pytest.fixture(scope="module")
def cello():
    return load_model("Cello")


@pytest.fixture(scope="module")
def exported(cello) -> bytes:
    return export_tflite_bytes(cello.instrument.decoder, cello.info.statistics, "Cello")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ddspkit.cli", *args], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=300)


def test_export_meets_every_plugin_rule(exported):
    report = check_vst(exported)
    assert report.ok, report.problems
    assert 0 < exported[0] < 0x80  # the plugin reads the file through a text API
    assert all(op.endswith("v1") for op in report.ops) and "WHILE v1" not in report.ops
    meta = report.metadata
    assert 100 < meta["mean_min_pitch_note_hz"] < meta["mean_max_pitch_note_hz"] < 400
    assert meta["mean_min_power_note"] < meta["mean_max_power_note"] < 0
    info = zipfile.ZipFile(io.BytesIO(exported)).getinfo("metadata.json")
    assert info.compress_type == zipfile.ZIP_STORED


def test_tflite_matches_pytorch_over_500_frames_with_state_fed_back(cello, exported):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=exported)
    it.allocate_tensors()
    ins = {d["name"]: d["index"] for d in it.get_input_details()}
    outs = [{d["name"]: d["index"] for d in it.get_output_details()}[n] for n in OUTPUTS]

    def step(f0, pw, state):
        it.set_tensor(ins["call_f0_scaled:0"], f0)
        it.set_tensor(ins["call_pw_scaled:0"], pw)
        it.set_tensor(ins["call_state:0"], state)
        it.invoke()
        return [it.get_tensor(i).copy() for i in outs]

    got, expected = run_steps(step), reference_outputs(cello.instrument.decoder)
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape and a.shape[0] == 500
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    assert expected[0].max() > 10 * expected[0].min()  # the ramp really moves the amplitude


@pytest.mark.parametrize("noise_shift_label", ["noise/shift", "noise/bias"])  # now, and before 0.2
def test_weights_read_back_from_new_and_older_exports(cello, monkeypatch, noise_shift_label):
    from ddspkit.io.ddsp_vst import graph

    monkeypatch.setattr(graph, "NOISE_SHIFT_LABEL", noise_shift_label)
    data = graph.export_tflite_bytes(cello.instrument.decoder, cello.info.statistics, "Cello")
    restored = graph.decoder_weights(data, cello.info.config)
    original = cello.instrument.state_dict()
    assert restored.keys() and all(torch.equal(restored[k], original[k]) for k in restored)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_onnx_and_torchscript_match_pytorch(cello, tmp_path, fmt):
    path, worst = export_step_model(cello, tmp_path / f"Cello.{fmt}", fmt)
    assert path.stat().st_size > 1_000_000 and worst < 1e-4


def test_round_trip_export_import_transfer_gives_the_same_audio(tmp_path):
    out = cli("export", "Cello", "-o", str(tmp_path / "Cello.tflite"))
    assert out.returncode == 0, out.stderr
    imported = cli("import", str(tmp_path / "Cello.tflite"), "--name", "CelloVST")
    assert imported.returncode == 0, imported.stderr
    from ddspkit.render.signals import sung_phrase

    voice = sung_phrase(sample_rate_hz=22050)
    original = ddspkit.load_model("Cello").transfer(voice, 22050, reverb=False)
    round_trip = ddspkit.load_model("CelloVST").transfer(voice, 22050)
    assert round_trip.adjustment.octave_shift == original.adjustment.octave_shift
    np.testing.assert_allclose(round_trip.audio, original.audio, atol=1e-5)


def test_install_puts_model_in_plugin_folder_with_unique_export_times(tmp_path):
    plugin = tmp_path / "Documents" / "Magenta" / "DDSP" / "Models"
    first = cli("export", "Cello", "--install", "--plugin-dir", str(plugin))
    assert first.returncode == 0, first.stderr
    assert "installed" in first.stdout
    copy = plugin / "sub" / "Cello-copy.tflite"
    copy.parent.mkdir()
    copy.write_bytes((plugin / "Cello.tflite").read_bytes())
    second = cli("export", "Cello", "--install", "--plugin-dir", str(plugin))
    assert second.returncode == 0, second.stderr
    times = export_times_in(plugin)
    assert len(set(times.values())) == 2  # the new export differs from the old copy


def _toy_model(state_size: int = 512, names: dict[str, str] | None = None,
               custom: str = "", pad: int = 0) -> bytes:
    """A tiny graph with the plugin's interface, to feed the validator bad variants.

    ``pad`` bytes after the file identifier move the root table (every other offset is
    relative), so the root offset, and the file's first byte, grow: a valid flatbuffer whose
    first byte the plugin's text loader would mangle."""
    names = names or {}
    g = TFLiteGraph()
    f0 = g.input(names.get("call_f0_scaled:0", "call_f0_scaled:0"), [1])
    pw = g.input("call_pw_scaled:0", [1])
    state = g.input("call_state:0", [state_size])
    amp = g.op(Op.ADD, [f0, pw], [(1,)], "amp")[0]
    hd = g.op(Op.ADD, [g.constant("h", np.zeros(60, np.float32)), f0], [(60,)], "hd")[0]
    noise = g.op(Op.ADD, [g.constant("n", np.zeros(65, np.float32)), pw], [(65,)], "noise")[0]
    code = Op.CUSTOM if custom else Op.ADD
    new_state = g.op(code, [state, f0], [(state_size,)], "state", custom_code=custom)[0]
    g.outputs = [amp, hd, noise, new_state]
    for index, name in zip(g.outputs, OUTPUTS, strict=True):
        g.rename(index, name)
    meta = {"mean_min_pitch_note_hz": 100.0, "mean_max_pitch_note_hz": 400.0,
            "mean_min_power_note": -50.0, "mean_max_power_note": -10.0, "version": "t",
            "export_time": "2024-01-01T00:00:00"}
    flatbuffer = g.to_bytes()
    if pad:
        root = int.from_bytes(flatbuffer[:4], "little") + pad
        flatbuffer = root.to_bytes(4, "little") + flatbuffer[4:8] + bytes(pad) + flatbuffer[8:]
    return append_metadata_zip(flatbuffer, meta)


def test_toy_model_is_valid():
    assert check_vst(_toy_model(), run=False).ok  # its "state" grows: it is not run


@pytest.mark.parametrize(("data", "fragment"), [
    (_toy_model(names={"call_f0_scaled:0": "f0:0"}), "input 'f0:0' is not one of"),
    (_toy_model(state_size=256), "holds 256 values, the plugin needs 512"),
    (_toy_model(custom="FlexAudioSpectrogram"), "custom op 'FlexAudioSpectrogram'"),
    (_toy_model()[:-180], "no metadata zip"),
    (_toy_model(pad=104), "first byte is 0x84"),
    (b"not a model at all", "not a TFLite flatbuffer"),
])
def test_validator_rejects_what_the_plugin_rejects(data, fragment):
    report = check_vst(data, run=False)
    assert not report.ok
    assert any(fragment in p for p in report.problems), report.problems


def test_validator_rejects_compressed_metadata_and_duplicate_export_time():
    flatbuffer = _toy_model()
    start = flatbuffer.rfind(b"PK\x03\x04")
    buffer = io.BytesIO(flatbuffer[:start])
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", '{"export_time": "x", "version": "1"}' + " " * 200)
    compressed = check_vst(buffer.getvalue(), run=False)
    assert any("compressed" in p for p in compressed.problems)
    clash = check_vst(_toy_model(), other_export_times={"Other.tflite": "2024-01-01T00:00:00"},
                          run=False)
    assert any("also Other.tflite's" in p for p in clash.problems)


def test_check_vst_cli_and_bad_import_are_one_line_errors(tmp_path):
    bad = tmp_path / "Broken.tflite"
    bad.write_bytes(_toy_model(state_size=256))
    result = cli("check-vst", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "holds 256 values" in result.stderr
    imported = cli("import", str(bad))
    assert imported.returncode == 1 and "Traceback" not in imported.stderr
    lines = [line for line in imported.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Broken.tflite" in lines[0]


def test_tflite_decoder_rejects_batches(exported):
    from ddspkit.config import ModelConfig

    decoder = TFLiteDecoder(exported, ModelConfig())
    with pytest.raises(ValueError):
        decoder(torch.zeros(2, 3), torch.zeros(2, 3))


NOTEBOOK_FIXTURE = FIXTURES / "CelloNotebook.tflite"


def test_notebook_style_tflite_imports_and_renders_like_the_original():
    """A .tflite made by TensorFlow's converter from a SavedModel, as Magenta's notebook made
    them (WHILE-loop Keras GRU, Select-TF allowed, only the plugin's metadata keys): see
    scripts/make_reference_tflite.py. It holds the bundled Cello's weights."""
    data = NOTEBOOK_FIXTURE.read_bytes()
    report = check_vst(data, NOTEBOOK_FIXTURE)
    assert report.ok, report.problems
    assert "WHILE v1" in report.ops and "ddspkit_statistics" not in report.metadata
    imported = ddspkit.load_model(NOTEBOOK_FIXTURE)
    assert imported.name == "CelloNotebook" and imported.info.statistics is not None
    from ddspkit.render.signals import sung_phrase

    voice = sung_phrase(sample_rate_hz=16000)
    expected = ddspkit.load_model("Cello").transfer(voice, 16000, auto_adjust=False,
                                                    pitch_shift_semitones=-12, reverb=False)
    got = imported.transfer(voice, 16000, auto_adjust=False, pitch_shift_semitones=-12)
    np.testing.assert_allclose(got.audio, expected.audio, atol=1e-4)
    # Auto-adjust works from the range box alone: a high voice goes down into the cello's range.
    high_voice = sung_phrase(transpose=7, sample_rate_hz=16000)
    assert imported.transfer(high_voice, 16000).adjustment.octave_shift == -1


def test_notebook_style_tflite_through_the_cli(tmp_path):
    assert cli("check-vst", str(NOTEBOOK_FIXTURE)).returncode == 0
    result = cli("import", str(NOTEBOOK_FIXTURE), "--name", "OldCello")
    assert result.returncode == 0, result.stderr
    assert "range box" in result.stdout
    import soundfile as sf

    from ddspkit.render.signals import sung_phrase

    sf.write(tmp_path / "in.wav", sung_phrase(), 16000)
    out = cli("transfer", str(tmp_path / "in.wav"), "-m", "OldCello", "-o", str(tmp_path / "o.wav"))
    assert out.returncode == 0, out.stderr
    assert sf.info(str(tmp_path / "o.wav")).frames == sf.info(str(tmp_path / "in.wav")).frames
