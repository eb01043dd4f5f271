"""An audio file into a model in each mode: the checks, the warnings about the input, the files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ddspkit.errors import UserError
from ddspkit.io.models import load_model
from ddspkit.render.files import (
    TRANSFER_MODES,
    check_pitch_shift,
    check_transfer_mode,
    input_warnings,
    transfer_file,
)
from ddspkit.render.signals import sung_phrase


def test_modes_and_shifts_are_checked_in_the_callers_words():
    for mode in TRANSFER_MODES:
        check_transfer_mode(mode)
    with pytest.raises(UserError, match=r"^mode 'mono': choose one of monophonic, polyphonic, lead-line$"):
        check_transfer_mode("mono")
    with pytest.raises(UserError, match=r"^--mode mono: choose one of "):
        check_transfer_mode("mono", "--mode mono")
    check_pitch_shift("monophonic", 0.5)
    check_pitch_shift("polyphonic", -12.0)
    with pytest.raises(UserError, match=r"^pitch shift 0.5: polyphonic mode shifts whole semitones$"):
        check_pitch_shift("polyphonic", 0.5)
    with pytest.raises(UserError, match=r"^--pitch-shift 0.5: "):
        check_pitch_shift("polyphonic", 0.5, "--pitch-shift 0.5")


def test_input_warnings_name_damaged_and_silent_inputs(tmp_path):
    path = tmp_path / "take.wav"
    assert input_warnings(path, np.full(100, 0.1, np.float32), 0) == []
    assert input_warnings(path, np.zeros(100, np.float32), 3) == [
        "take.wav: 3 NaN or infinite sample(s) were replaced by silence (a damaged file?)",
        "take.wav: the input is silent (no sample above -60 dB), so the output is silent too"]
    assert len(input_warnings(path, np.full(100, 0.0009, np.float32), 0)) == 1  # below -60 dB


def test_a_file_is_written_at_the_inputs_rate_and_length_with_its_figure(tmp_path):
    voice = tmp_path / "voice.wav"
    sf.write(voice, sung_phrase(sample_rate_hz=22050)[:22050 * 2], 22050)
    output, plot = tmp_path / "out.wav", tmp_path / "out.png"
    result = transfer_file(load_model("Cello"), voice, output, plot=plot, reverb=False)
    audio, rate = sf.read(output)
    assert rate == 22050 and len(audio) == 22050 * 2 == len(result.audio)
    assert plot.stat().st_size > 10_000 and result.warnings == []
    with pytest.raises(UserError, match="mode 'chords'"):  # before the file is read
        transfer_file(load_model("Cello"), tmp_path / "missing.wav", output, mode="chords")
