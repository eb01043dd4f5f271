"""Shared fixtures: generated audio, a user-model folder isolated per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.render.signals import sung_phrase

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"  # small files made once (see its README)
# Test modules share helpers across layers (test_cli's runner, test_transcription's chorale):
# importable whichever file is run alone.
sys.path[:0] = [str(folder) for folder in sorted((REPO / "tests").iterdir())
                if folder.is_dir() and folder.name not in ("fixtures", "__pycache__")]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test sees an empty user data folder (bundled models stay visible)."""
    home = tmp_path_factory.mktemp("ddspkit-home")
    monkeypatch.setenv("DDSPKIT_HOME", str(home))
    return home


# A phrase no bundled model saw: (pitch_midi, start_s, end_s, velocity), rising and falling
# through a fifth with velocities 50-110; rendered by FluidSynth in several tests.
PHRASE = [(72, 0.0, 0.45, 70), (74, 0.5, 0.95, 80), (76, 1.0, 1.45, 90), (77, 1.5, 1.95, 100),
          (79, 2.0, 2.9, 110), (77, 3.0, 3.45, 90), (76, 3.5, 3.95, 75), (74, 4.0, 4.45, 60),
          (72, 4.5, 5.8, 50)]


# A bass line (C3-A3, 7 s) that each bundled instrument plays transposed into its range.
CELLO_LINE = [(48, 0.0, 0.7, 80), (50, 0.75, 1.45, 85), (52, 1.5, 2.2, 90), (53, 2.25, 3.4, 100),
              (55, 3.5, 4.2, 95), (57, 4.25, 4.95, 85), (55, 5.0, 5.7, 75), (53, 5.75, 7.0, 65)]

# Every bundled instrument: the General MIDI program its training data was rendered with
# (FluidR3) and the transposition that puts CELLO_LINE inside its training range.
ZOO = {"Cello": (42, 0), "Violin": (40, 19), "Flute": (73, 24), "Trumpet": (56, 19),
       "Saxophone": (65, 12), "Bassoon": (70, 0), "Clarinet": (71, 17), "Melodica": (22, 17),
       "Sitar": (104, 12), "Trombone": (57, 0), "Tuba": (58, -9), "Vowels": (52, 7)}


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
