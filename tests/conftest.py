"""Shared fixtures: generated audio, a user-model folder isolated per test session."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.demo import sung_phrase


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test sees an empty user data folder (bundled models stay visible)."""
    home = tmp_path_factory.mktemp("ddspkit-home")
    monkeypatch.setenv("DDSPKIT_HOME", str(home))
    return home


def cents(measured_hz, reference_hz):
    return 1200.0 * np.log2(np.asarray(measured_hz) / np.asarray(reference_hz))


@pytest.fixture(scope="session")
def sung_dataset(tmp_path_factory):
    """About 80 s of generated singing in 8 takes (different keys), plus one corrupt file."""
    folder = tmp_path_factory.mktemp("sung")
    for i, transpose in enumerate([-12, -10, -8, -7, -5, -3, -2, 0]):
        sf.write(folder / f"take{i}.wav", sung_phrase(transpose=transpose, seed=i), SAMPLE_RATE_HZ)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    return folder
