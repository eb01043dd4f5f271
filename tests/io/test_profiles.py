"""Expression profiles as files, and choosing learned, plain or a file."""

from __future__ import annotations

import pytest

from ddspkit.analysis.profile import ExpressionProfile
from ddspkit.errors import UserError
from ddspkit.io.profiles import choose_expression, read_profile, write_profile
from ddspkit.midi import Expression


def test_a_profile_file_round_trips_and_a_bad_one_names_the_file(tmp_path):
    profile = ExpressionProfile(vibrato_share=0.5, source="a test")
    path = write_profile(tmp_path / "player.json", profile)
    assert read_profile(path) == profile
    (tmp_path / "bad.json").write_text('{"attack_s": {"quantiles": [1, 2]}}')
    with pytest.raises(UserError, match="bad.json: not an expression profile"):
        read_profile(tmp_path / "bad.json")
    with pytest.raises(UserError, match="missing.json: no such expression profile"):
        read_profile(tmp_path / "missing.json")


def test_learned_plain_or_a_file_and_explicit_options_win(tmp_path):
    learned_from_data = ExpressionProfile(vibrato_share=0.3, source="recordings")
    assert choose_expression("plain", learned_from_data) == Expression()
    assert choose_expression("plain", None, attack_s=0.1) == Expression(attack_s=0.1)
    learned = choose_expression("learned", learned_from_data, attack_s=0.1)
    assert learned.profile is learned_from_data and learned.fixed == {"attack_s"}
    assert choose_expression("learned", None).profile == ExpressionProfile()  # the literature's
    other = write_profile(tmp_path / "other.json", ExpressionProfile(vibrato_share=0.9))
    assert choose_expression(str(other), learned_from_data).profile.vibrato_share == 0.9


def test_a_bundled_model_plays_its_own_learned_profile_by_name_or_by_path():
    from ddspkit.io.models import bundled_dir, load_model

    by_name = load_model("Violin").info.expression_profile
    by_path = load_model(bundled_dir() / "Violin.safetensors").info.expression_profile
    assert by_name is not None and by_name == by_path
    assert "Violin" in by_name.source and by_name.learned_aspects
