"""Expression profiles: distributions learned from per-note measurements, drawn per note."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ddspkit.analysis.profile import (
    LITERATURE,
    MIN_NOTES,
    Distribution,
    ExpressionProfile,
    learn_profile,
)
from ddspkit.midi import Expression, Note


def measured_notes(n: int, rng: np.random.Generator, vibrato_share: float = 0.75):
    """Per-note measurements of a player with 6 Hz, 30-cent vibrato from 0.25 s, 60 ms attacks."""
    notes = []
    for i in range(n):
        vibrant = i < vibrato_share * n
        notes.append(SimpleNamespace(
            vibrato_rate_hz=rng.normal(6.0, 0.2) if vibrant else np.nan,
            vibrato_depth_cents=rng.normal(30.0, 3.0) if vibrant else rng.uniform(0, 3),
            vibrato_onset_s=rng.normal(0.25, 0.02) if vibrant else np.nan,
            attack_s=rng.normal(0.06, 0.005), release_s=rng.normal(0.2, 0.01),
            scoop_cents=rng.normal(-10, 2), glide_s=np.nan))
    return notes


def test_a_profile_is_learned_where_the_data_shows_it_and_from_the_literature_elsewhere():
    profile = learn_profile(measured_notes(200, np.random.default_rng(0)))
    assert profile.vibrato_rate_hz.median == pytest.approx(6.0, abs=0.1)
    assert profile.vibrato_depth_cents.median == pytest.approx(30.0, rel=0.1)
    assert profile.vibrato_onset_s.median == pytest.approx(0.25, rel=0.1)
    assert profile.attack_s.median == pytest.approx(0.06, rel=0.1)
    assert profile.vibrato_share == pytest.approx(0.75, abs=0.01)
    # no slurred notes: the glide is the literature's, and the profile says so
    assert not profile.glide_s.learned and profile.glide_s.quantiles == LITERATURE["glide_s"].quantiles
    assert set(profile.learned_aspects) == set(ExpressionProfile.ASPECTS) - {"glide_s"}


def test_thin_data_falls_back_to_the_literature():
    profile = learn_profile(measured_notes(MIN_NOTES - 1, np.random.default_rng(1)))
    assert profile.learned_aspects == []
    assert profile.attack_s.n_notes == MIN_NOTES - 1


def test_a_distribution_draws_its_quantiles():
    d = Distribution.of(np.arange(101.0), LITERATURE["attack_s"])
    assert d.learned and d.draw(0.5) == pytest.approx(50.0)
    assert d.draw(0.0) == pytest.approx(5.0) and d.draw(1.0) == pytest.approx(95.0)  # held beyond q05/q95
    assert np.all(np.diff([d.draw(u) for u in np.linspace(0, 1, 21)]) >= 0)


def test_a_profile_survives_json_and_a_bad_one_is_refused():
    profile = learn_profile(measured_notes(60, np.random.default_rng(2)))
    again = ExpressionProfile.from_dict(profile.to_dict())
    assert again == profile
    bad = profile.to_dict()
    bad["attack_s"]["quantiles"] = [0.1, float("nan"), 0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match="attack_s"):
        ExpressionProfile.from_dict(bad)


def test_each_note_draws_its_own_shape_reproducibly_and_explicit_options_win():
    profile = learn_profile(measured_notes(200, np.random.default_rng(3)))
    plain = Expression()
    note, other = Note(60, 1.0, 2.0, 90), Note(62, 2.0, 3.0, 90)
    assert plain.for_note(note, 0) is plain  # no profile: every note alike, as before
    learned = Expression(profile=profile)
    first, again, second = learned.for_note(note, 0), learned.for_note(note, 0), learned.for_note(other, 0)
    assert first == again  # reproducible
    assert first != second and first != learned.for_note(note, 1)  # no two notes alike
    shapes = [learned.for_note(Note(60, t, t + 1, 90), 0) for t in np.arange(200) * 0.5]
    rates = [s.vibrato_rate_hz for s in shapes]
    assert np.median(rates) == pytest.approx(6.0, abs=0.15)
    assert np.mean([s.vibrato_depth_cents > 0 for s in shapes]) == pytest.approx(0.75, abs=0.1)
    fixed = Expression(attack_s=0.2, profile=profile, fixed=frozenset({"attack_s"}))
    assert fixed.for_note(note, 0).attack_s == 0.2


def test_notes_take_the_profiles_median_shape_unless_asked_to_draw_theirs():
    profile = learn_profile(measured_notes(200, np.random.default_rng(3)))
    notes = [Note(60, t, t + 1, 90) for t in np.arange(50) * 0.5]
    typical = [Expression(profile=profile).for_note(n, 0) for n in notes]
    assert {s.attack_s for s in typical} == {profile.attack_s.median / 0.8}
    assert {s.release_s for s in typical} == {profile.release_s.median / 0.8}
    assert len({s.vibrato_rate_hz for s in typical}) > 10  # the vibrato is still each note's own
    drawn = [Expression(profile=profile, drawn_shapes=True).for_note(n, 0) for n in notes]
    assert len({s.attack_s for s in drawn}) > 10
