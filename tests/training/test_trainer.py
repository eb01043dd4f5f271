"""End-to-end: prepare -> train -> transfer on generated singing; resume after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

import ddspkit
from conftest import cents
from ddspkit import paths
from ddspkit.analysis.features import extract_features
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.render.signals import sung_phrase
from ddspkit.training.observer import TrainingObserver
from ddspkit.training.run import RunFolder
from ddspkit.training.trainer import TrainingInterrupted, train

pytestmark = pytest.mark.slow


def train_cli(folder, name, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ddspkit.cli", "train", str(folder), "--name", name, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )


def test_prepare_skips_corrupt_files_and_summarises(sung_dataset):
    data = ddspkit.prepare(sung_dataset)
    assert data.summary.n_files == 8
    assert len(data.summary.skipped) == 1 and "corrupt.wav" in data.summary.skipped[0]
    assert 1.0 < data.summary.total_minutes < 2.0
    assert data.summary.voiced_share > 0.9
    assert any("minutes of usable audio" in w for w in data.summary.warnings)  # under 10 min
    st = data.statistics
    assert 100 < st.mean_min_pitch_note_hz < st.mean_max_pitch_note_hz < 500
    assert -40 < st.mean_min_power_note < st.mean_max_power_note < 0
    # A second prepare reads the cache: same features, much faster.
    start = time.perf_counter()
    again = ddspkit.prepare(sung_dataset)
    assert time.perf_counter() - start < 2.0
    np.testing.assert_array_equal(again.files[0].features.f0_hz, data.files[0].features.f0_hz)


def test_train_then_transfer_keeps_pitch_level_and_length(sung_dataset, tmp_path):
    model = ddspkit.train(sung_dataset, name="Singer", steps=30, checkpoint_every=15)
    assert model.info.provenance["steps"] == 30
    assert (paths.runs_dir() / "Singer" / "tensorboard").is_dir()
    assert len(list((paths.runs_dir() / "Singer" / "tensorboard").iterdir())) >= 1
    assert model.name in [m.name for m in ddspkit.list_models()]
    # the model file carries the expression of its recordings: the sung phrase's vibrato
    profile = ddspkit.load_model("Singer", "cpu").info.expression_profile
    assert profile is not None and profile.source.endswith("training recordings")
    assert 4.5 < profile.vibrato_rate_hz.median < 7.5 or not profile.vibrato_rate_hz.learned

    # A phrase in another key and at 44.1 kHz: the output keeps its rate, length and melody.
    voice = sung_phrase(transpose=-4, seed=99, sample_rate_hz=44100)
    result = model.transfer(voice, 44100)
    assert result.sample_rate_hz == 44100 and len(result.audio) == len(voice)
    assert np.isfinite(result.audio).all() and np.abs(result.audio).max() <= 1.0
    out_16k = ddspkit.audio.resample(result.audio, 44100, SAMPLE_RATE_HZ)
    in_feats, out_feats = result.input_features, extract_features(out_16k)
    both = in_feats.voiced & out_feats.voiced
    assert both.mean() > 0.5
    shift = result.adjustment.pitch_shift_semitones
    error = cents(out_feats.f0_hz[both], in_feats.f0_hz[both] * 2 ** (shift / 12))
    assert abs(np.median(error)) < 20
    # After 30 steps the level is in the data's range (within 10 dB of the input's).
    active = in_feats.power_db > -50
    level_gap = np.median(out_feats.power_db[active]) - np.median(in_feats.power_db[active])
    assert abs(level_gap) < 10


@pytest.mark.parametrize("start", ["Cello", "scratch"], ids=["fine-tuning", "from-scratch"])
def test_kill_9_then_same_command_resumes_exactly(sung_dataset, tmp_path, monkeypatch, start):
    args = ("--steps", "8", "--checkpoint-every", "2", "--from", start)
    # Uninterrupted reference run.
    monkeypatch.setenv("DDSPKIT_HOME", str(tmp_path / "a"))
    ref = train_cli(sung_dataset, "Resume", *args)
    assert ref.wait(timeout=600) == 0, ref.stderr.read()
    # Interrupted run: kill -9 once a checkpoint exists, then run the same command again.
    monkeypatch.setenv("DDSPKIT_HOME", str(tmp_path / "b"))
    history = tmp_path / "b" / "runs" / "Resume" / "history.jsonl"
    proc = train_cli(sung_dataset, "Resume", *args)
    deadline = time.time() + 600
    while not (history.exists() and history.read_text().count("\n") >= 2):
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    checkpoint = tmp_path / "b" / "runs" / "Resume" / "checkpoint.pt"
    assert checkpoint.exists()
    torch.load(checkpoint, weights_only=True)  # whole, even if the kill hit a save
    # What a kill during a save leaves (planted, so the sweep is tested every run).
    (checkpoint.parent / ".checkpoint.pt.k9left.pt").write_bytes(b"partial")
    resumed = train_cli(sung_dataset, "Resume", *args)
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    assert "resuming" in stdout
    # A temporary left by a kill during a save is swept by the next run.
    leftovers = [p for d in (checkpoint.parent, tmp_path / "b" / "models") for p in d.iterdir()
                 if p.name.startswith(".")]
    assert not leftovers
    a = load_file(str(tmp_path / "a" / "models" / "Resume.safetensors"))
    b = load_file(str(tmp_path / "b" / "models" / "Resume.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-5, err_msg=key)
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in history.read_text().splitlines()]
    assert steps[-1] == 8


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_saves_checkpoint_and_model(sung_dataset, tmp_path, monkeypatch, signum):
    """Ctrl-C (or a scheduler's SIGTERM) stops between steps, whenever it lands."""
    monkeypatch.setenv("DDSPKIT_HOME", str(tmp_path))
    history = tmp_path / "runs" / "Break" / "history.jsonl"
    proc = train_cli(sung_dataset, "Break", "--steps", "400", "--checkpoint-every", "2")
    deadline = time.time() + 600
    while not history.exists():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Run the same command to resume" in stderr and "Traceback" not in stderr
    assert (tmp_path / "models" / "Break.safetensors").exists()
    assert (tmp_path / "runs" / "Break" / "checkpoint.pt").exists()


def test_wrong_recipe_or_start_on_resume_is_a_clear_error(sung_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("DDSPKIT_HOME", str(tmp_path))
    first = train_cli(sung_dataset, "Mixed", "--steps", "2", "--from", "Cello")
    assert first.wait(timeout=600) == 0
    for other in (("--recipe", "reference"), ("--from", "Flute"), ("--from", "scratch")):
        second = train_cli(sung_dataset, "Mixed", "--steps", "2", "--from", "Cello", *other)
        _, stderr = second.communicate(timeout=600)
        assert second.returncode == 1 and "--restart" in stderr and "Traceback" not in stderr
    # The same start by another name, or none given, resumes: it records where it began.
    again = train_cli(sung_dataset, "Mixed", "--steps", "3", "--from", "cello")
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert "resuming" in stdout and "the run started from Cello" in stderr


def test_nan_samples_in_training_data_never_reach_the_model(tmp_path):
    folder = tmp_path / "nan"
    folder.mkdir()
    for i in range(7):
        audio = sung_phrase(transpose=-i, seed=i)
        audio[1000:1100] = np.nan
        sf.write(folder / f"t{i}.wav", audio, SAMPLE_RATE_HZ, subtype="FLOAT")
    data = ddspkit.prepare(folder)
    assert any("NaN/Inf" in w for w in data.summary.warnings)
    assert all(np.isfinite(f.audio).all() for f in data.files)
    model = ddspkit.train(folder, name="NaNSafe", steps=3)
    assert np.isfinite(model.info.provenance["validation_loss"])


class Recorder(TrainingObserver):
    """Writes down what a run tells its observer; asks it to stop after ``stop_after`` steps."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[tuple] = []
        self.stop_after = stop_after

    def on_candidate(self, model: str, index: int, count: int) -> None:
        self.events.append(("candidate", model))

    def on_start(self, start, recipe) -> None:
        self.events.append(("start", start.describe(), recipe.name, recipe.n_steps))

    def on_step(self, step: int, total_steps: int, loss: float) -> None:
        self.events.append(("step", step, total_steps))

    def on_checkpoint(self, preview) -> None:
        self.events.append(("checkpoint", preview.step))

    def should_stop(self) -> bool:
        steps = [e for e in self.events if e[0] == "step"]
        return self.stop_after is not None and len(steps) >= self.stop_after


def test_the_observer_hears_the_run_in_order_and_can_stop_it(sung_dataset):
    data = ddspkit.prepare(sung_dataset)
    first = Recorder(stop_after=3)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(data, "Heard", n_steps=10, checkpoint_every=2, start_from="scratch", observer=first)
    assert stopped.value.step == 3 and RunFolder.named("Heard").can_resume
    assert first.events == [("start", "from random weights", "fast", 10), ("step", 1, 10),
                            ("step", 2, 10), ("checkpoint", 2), ("step", 3, 10)]
    again = Recorder()
    train(data, "Heard", n_steps=4, observer=again)  # resumes: the run's own recipe and start
    assert again.events == [("start", "from random weights", "fast", 4), ("step", 4, 4),
                            ("checkpoint", 4)]
