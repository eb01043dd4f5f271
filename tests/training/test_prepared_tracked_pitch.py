"""Preparing a recording keeps the tracker's own pitch beside the model's features, so that
the trainer learns the player's expression profile without running the pitch tracker again."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from test_profile_recovery import ISSUE_EXAMPLE, play, recording

from ddspkit.analysis.features import extract_features
from ddspkit.analysis.profile import measure_recording, profile_from_recordings
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.training.data import _cache_path, prepare_file


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    """A 35 s recording with slurred notes (glides the model's features play as steps)."""
    notes, total_s = play(ISSUE_EXAMPLE, 20, seed=3)
    path = tmp_path_factory.mktemp("take") / "take.wav"
    sf.write(path, recording(notes, total_s, seed=3), SAMPLE_RATE_HZ, subtype="FLOAT")
    return path


def test_a_prepared_file_keeps_the_tracked_pitch_and_its_cache_too(take, tmp_path):
    fresh = prepare_file(take, tmp_path)
    sharpened, tracked = extract_features(fresh.audio), extract_features(fresh.audio, sharpen=False)
    for got, expected in ((fresh.features, sharpened), (fresh.tracked_features(), tracked)):
        np.testing.assert_array_equal(got.f0_hz, expected.f0_hz)
        np.testing.assert_array_equal(got.f0_confidence, expected.f0_confidence)
        np.testing.assert_array_equal(got.power_db, expected.power_db)
    assert (sharpened.f0_hz != tracked.f0_hz).any()  # the two differ at note changes
    cached = prepare_file(take, tmp_path)
    np.testing.assert_array_equal(cached.f0_tracked_hz, fresh.f0_tracked_hz)


def test_a_cache_from_before_has_no_tracked_pitch_and_the_profile_is_the_same_either_way(take, tmp_path):
    prepared = prepare_file(take, tmp_path)
    entry = _cache_path(take, tmp_path)
    with np.load(entry) as data:
        old = {name: data[name] for name in data.files if name != "f0_tracked_hz"}
    np.savez(entry, **old)
    assert prepare_file(take, tmp_path).tracked_features() is None
    from_features = profile_from_recordings([prepared.audio], "take", [prepared.tracked_features()])
    from_audio = profile_from_recordings([prepared.audio], "take", [None])
    assert from_features.to_dict() == from_audio.to_dict()
    assert from_features.learned_aspects  # 20 notes: something was measured
    with pytest.raises(ValueError, match="frames"):
        measure_recording(prepared.audio[:-SAMPLE_RATE_HZ], prepared.tracked_features())
