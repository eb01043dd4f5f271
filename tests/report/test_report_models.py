"""A model in a few words: how it was trained, its range, its loudness, its file."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from ddspkit.io.models import bundled_model
from ddspkit.report.models import file_text, loudness_range, pitch_range, trained_summary


def test_trained_summary_says_steps_start_and_minutes_or_the_format():
    cello = bundled_model("Cello")
    base = replace(cello, provenance={"steps": 1000, "start": {"model": "Cello"},
                                      "data": {"usable_minutes": 11.4}})
    assert trained_summary(base) == "1000 steps from Cello on 11 min of audio"
    scratch = replace(cello, provenance={"steps": 4000, "start": None})
    assert trained_summary(scratch) == "4000 steps on 0 min of audio"
    assert trained_summary(replace(cello, provenance={"format": "DDSP-VST .tflite"})) == "DDSP-VST .tflite"
    assert trained_summary(replace(cello, provenance={})) == "?"


def test_ranges_come_from_the_statistics():
    cello = bundled_model("Cello")
    assert re.fullmatch(r"[A-G]#?\d-[A-G]#?\d \(\d+-\d+ Hz\)", pitch_range(cello)), pitch_range(cello)
    assert re.fullmatch(r"-\d+ to -\d+ dB", loudness_range(cello)), loudness_range(cello)
    unknown = replace(cello, statistics=None)
    assert pitch_range(unknown) == loudness_range(unknown) == "?"


def test_a_bundled_model_shows_its_file_name_any_other_its_path():
    cello = bundled_model("Cello")
    assert file_text(cello) == "Cello.safetensors"
    mine = replace(cello, source="user", path=Path("/models/Mine.safetensors"))
    assert file_text(mine) == str(Path("/models/Mine.safetensors"))
