"""The command line: one-line errors with a non-zero exit and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def ddspkit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ddspkit.cli", *args], capture_output=True, text=True, cwd=cwd,
        env=os.environ.copy(), timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_input_file(tmp_path):
    result = ddspkit("transfer", str(tmp_path / "nothing.wav"), "-m", "Cello", "-o", "out.wav")
    assert_one_line_error(result, "nothing.wav", "no such file")


def test_missing_model(tmp_path):
    sf.write(tmp_path / "in.wav", np.zeros(16000, np.float32), 16000)
    result = ddspkit("transfer", str(tmp_path / "in.wav"), "-m", "Theremin", "-o", "out.wav")
    assert_one_line_error(result, "Theremin")


def test_invalid_model_file(tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(os.urandom(64))
    sf.write(tmp_path / "in.wav", np.zeros(16000, np.float32), 16000)
    result = ddspkit("transfer", str(tmp_path / "in.wav"), "-m", str(bad), "-o", "out.wav")
    assert_one_line_error(result, "broken.safetensors")
    assert not (tmp_path / "out.wav").exists()


def test_corrupt_input_audio(tmp_path):
    (tmp_path / "in.wav").write_bytes(b"RIFF1234WAVEfmt garbage")
    result = ddspkit("transfer", str(tmp_path / "in.wav"), "-m", "Cello", "-o", "out.wav")
    assert_one_line_error(result, "in.wav", "cannot read audio")


def test_folder_with_under_a_minute_stops_clearly(tmp_path):
    t = np.arange(16000 * 20) / 16000
    sf.write(tmp_path / "short.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    result = ddspkit("train", str(tmp_path), "--name", "Tiny")
    assert_one_line_error(result, str(tmp_path), "usable audio", "at least 1 minute")


def test_empty_folder_and_missing_folder(tmp_path):
    assert_one_line_error(ddspkit("prepare", str(tmp_path)), "no audio files")
    assert_one_line_error(ddspkit("prepare", str(tmp_path / "nope")), "no such folder")


def test_models_lists_the_four_bundled_instruments():
    result = ddspkit("models")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[1] for line in result.stdout.splitlines()
              if "bundled" in line and len(line.split()) > 2}
    assert {"Cello", "Violin", "Flute", "Trumpet"} <= listed, result.stdout


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["transfer", "--help"]])
def test_help(args):
    result = ddspkit(*args)
    assert result.returncode == 0 and "Usage" in result.stdout
