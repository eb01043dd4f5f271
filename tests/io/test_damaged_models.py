"""Damaged model files: one line naming the file and the problem, a non-zero exit, no output.

Models travel between people and downloads get cut short; a diverged training leaves NaN
weights. Every reader refuses such files clearly, and training survives a NaN loss.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from test_cli import assert_one_line_error, ddspkit

from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.errors import UserError
from ddspkit.io.ddsp_vst.check import check_vst
from ddspkit.io.ddsp_vst.graph import export_tflite_bytes
from ddspkit.io.ddsp_vst.plugin import export_vst
from ddspkit.io.modelfile import save_model
from ddspkit.io.models import load_model
from ddspkit.render.signals import sung_phrase


def flip_bytes(data: bytes, first: int, last: int, count: int, seed: int) -> bytes:
    damaged = bytearray(data)
    for i in random.Random(seed).sample(range(first, last), count):
        damaged[i] ^= 0xFF
    return bytes(damaged)


@pytest.fixture(scope="module")
def good_tflite() -> bytes:
    cello = load_model("Cello")
    return export_tflite_bytes(cello.instrument.decoder, cello.info.statistics, "Cello")


def nan_tflite() -> bytes:
    cello = load_model("Cello")
    with torch.no_grad():
        cello.instrument.decoder.out_dense.weight[3, :10] = float("nan")
    return export_tflite_bytes(cello.instrument.decoder, cello.info.statistics, "Cello")


TFLITE_DAMAGE = {
    "truncated": lambda good: good[:3_000_000],
    "flipped structure": lambda good: flip_bytes(good, 64, 4000, 20, seed=0),
    "flipped weights": lambda good: flip_bytes(good, 100_000, 7_000_000, 5, seed=1),
    "random bytes": lambda good: os.urandom(200_000),
    "NaN weights": lambda good: nan_tflite(),
}


@pytest.fixture
def voice(tmp_path):
    path = tmp_path / "voice.wav"
    sf.write(path, sung_phrase()[:SAMPLE_RATE_HZ], SAMPLE_RATE_HZ)
    return path


@pytest.mark.parametrize("damage", list(TFLITE_DAMAGE))
def test_damaged_tflite_gives_one_line_from_every_command(damage, good_tflite, tmp_path, voice):
    model = tmp_path / "models" / "Damaged [copy].tflite"  # alone in its folder
    model.parent.mkdir()
    model.write_bytes(TFLITE_DAMAGE[damage](good_tflite))
    for args in (["check-vst", str(model)], ["import", str(model)],
                 ["transfer", str(voice), "-m", str(model), "-o", str(tmp_path / "out.wav")],
                 ["export", str(model), "-o", str(tmp_path / "again.tflite")]):
        assert_one_line_error(ddspkit(*args), "Damaged [copy].tflite")
    assert not (tmp_path / "out.wav").exists() and not (tmp_path / "again.tflite").exists()


def test_good_export_runs_in_tflite_and_passes(good_tflite):
    report = check_vst(good_tflite)
    assert report.ok, report.problems
    assert report.ran.startswith("ran 200 frames"), report.ran


def test_a_crashing_runtime_is_reported_not_fatal(good_tflite, monkeypatch):
    real_run = subprocess.run

    def crash(command, **kwargs):  # the child dies as a segmentation fault would end it
        return real_run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), "
                         "signal.SIGSEGV)"], **kwargs)

    monkeypatch.setattr(subprocess, "run", crash)
    report = check_vst(good_tflite)
    assert not report.ok
    assert report.problems == ["the TFLite runtime crashed running the model (signal 11): the "
                               "file is damaged"]


def test_export_refuses_a_model_whose_outputs_are_not_finite(tmp_path):
    cello = load_model("Cello")
    with torch.no_grad():  # finite weights, but far too large: the layers overflow
        cello.instrument.decoder.f0_stack[0].weight.mul_(1e38)
    with pytest.raises(UserError, match="nothing written"):
        export_vst(cello, tmp_path / "Huge.tflite")
    assert not (tmp_path / "Huge.tflite").exists()


def damaged_safetensors(kind: str, tmp_path) -> bytes:
    cello = load_model("Cello")
    if kind == "NaN weights":
        with torch.no_grad():
            cello.instrument.decoder.gru.weight_hh_l0[0, :5] = float("nan")
    path = save_model(tmp_path / "source.safetensors", cello.instrument, cello.info)
    good = path.read_bytes()
    return {"truncated": good[: len(good) // 2],
            "flipped weights": flip_bytes(good, len(good) // 2, len(good), 5, seed=2),
            "random bytes": os.urandom(100_000),
            "NaN weights": good}[kind]


@pytest.mark.parametrize("kind", ["truncated", "flipped weights", "random bytes", "NaN weights"])
def test_damaged_safetensors_gives_one_line(kind, tmp_path, voice):
    model = tmp_path / "Cello [2].safetensors"
    model.write_bytes(damaged_safetensors(kind, tmp_path))
    for args in (["transfer", str(voice), "-m", str(model), "-o", str(tmp_path / "out.wav")],
                 ["export", str(model), "-o", str(tmp_path / "x.tflite")]):
        assert_one_line_error(ddspkit(*args), "Cello [2].safetensors")
    assert not (tmp_path / "out.wav").exists() and not (tmp_path / "x.tflite").exists()


def test_loading_names_why_a_model_is_refused(tmp_path):
    assert "NaN or infinite" in ddspkit_error(damaged_safetensors("NaN weights", tmp_path), tmp_path)
    assert "checksum" in ddspkit_error(damaged_safetensors("flipped weights", tmp_path), tmp_path)
    assert "cut short" in ddspkit_error(damaged_safetensors("truncated", tmp_path), tmp_path)


def ddspkit_error(data: bytes, tmp_path) -> str:
    from ddspkit.errors import UserError

    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    with pytest.raises(UserError) as caught:
        load_model(path)
    return str(caught.value)


# --- training through a NaN loss ---------------------------------------------------------

def nan_at(calls_that_fail):
    """A loss that is NaN on the given calls (1-based), real otherwise."""
    from ddspkit.training import trainer as training

    real = training.multiscale_spectral_loss
    count = {"n": 0}

    def loss(predicted, target):
        count["n"] += 1
        value = real(predicted, target)
        return value * float("nan") if count["n"] in calls_that_fail else value

    return loss


@pytest.mark.slow
def test_nan_loss_rolls_back_with_a_lower_learning_rate(sung_dataset, monkeypatch):
    import ddspkit
    from ddspkit.training import trainer as training
    from ddspkit.training.observer import TrainingObserver

    class Notes(TrainingObserver):
        def on_message(self, line: str) -> None:
            messages.append(line)

    monkeypatch.setattr(training, "multiscale_spectral_loss", nan_at({5, 6}))
    messages = []
    result = training.train(ddspkit.prepare(sung_dataset), "Wobbly", n_steps=8, checkpoint_every=3,
                            observer=Notes(), start_from="scratch")
    assert result.step == 8
    assert len(messages) == 2 and "back to step 3" in messages[0] and "x0.25" in messages[1]
    loaded = load_model(result.model_path)  # the weights stayed finite
    assert loaded.info.provenance["rollbacks"]["learning_rate_scale"] == 0.25
    assert all(torch.isfinite(p).all() for p in loaded.instrument.parameters())


@pytest.mark.slow
def test_training_that_keeps_diverging_stops_with_one_line(sung_dataset, tmp_path):
    code = ("import sys\nfrom ddspkit.training import trainer as training\n"
            "real = training.multiscale_spectral_loss\n"
            "training.multiscale_spectral_loss = lambda a, b: real(a, b) * float('nan')\n"
            f"sys.argv = ['ddspkit', 'train', {str(sung_dataset)!r}, '--name', 'Diverges', "
            "'--steps', '6', '--from', 'scratch']\nfrom ddspkit.cli import main\nmain()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "run the same command" in errors[0], result.stderr
    assert np.sum(["back to step 0" in line for line in result.stderr.splitlines()]) == 3
