"""A profile learned end to end from recordings of known expression recovers it (issue 19).

Synthetic recordings (16 kHz, a tone of up to 8 harmonics: see test_expression.render) of a
player whose every note carries the same expression, give or take a little: notes of 0.6-2 s
on varied pitches, most after a silence, some slurred from the previous one, phrases at
varied levels over a faint noise floor. The learner (:func:`profile_from_recordings`: the
pitch tracker, note segmentation, measurement) hears them with no score, and its profile's
medians are the truth's within 10 %.

The truth in the learner's terms (:class:`ddspkit.analysis.expression.NoteExpression`):
vibrato depth is the sine's amplitude (half the peak-to-peak extent); the vibrato starts
abruptly ``onset_s`` into the note, where it reaches half its depth at once; attacks and
releases are linear ramps of ``attack_ramp_s`` and ``release_ramp_s``, whose 10 % to 90 %
times (attack_s, release_s) are 0.8 of the ramps.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
from test_expression import Played, render

from ddspkit.analysis.profile import ExpressionProfile, profile_from_recordings
from ddspkit.config import SAMPLE_RATE_HZ

RAMP_10_TO_90 = 0.8  # of a linear ramp's duration
TOLERANCE = 0.1  # of the truth


@dataclass(frozen=True)
class Player:
    """Each note's expression, varied from note to note by ``spread`` (relative, 1 sigma)."""

    vibrato_rate_hz: float
    vibrato_depth_cents: float
    vibrato_onset_s: float
    attack_ramp_s: float
    release_ramp_s: float
    spread: float = 0.03


ISSUE_EXAMPLE = Player(6.0, 30.0, 0.25, 0.075, 0.15)  # attack_s 60 ms, release_s 120 ms
# another player: a slower, wider, later vibrato, sharp attacks and long releases
OTHER = Player(5.0, 45.0, 0.4, 0.025, 0.3)


def play(player: Player, n_notes: int, seed: int) -> tuple[list[Played], float]:
    """(notes, total length in s): pitches stepping within two octaves, a third of the notes
    slurred from the previous one (a 50-150 ms glide), the others after 0.2-0.5 s of silence."""
    rng = np.random.default_rng(seed)

    def varied(value: float) -> float:
        return value * (1.0 + player.spread * rng.standard_normal())

    notes: list[Played] = []
    pitch, t = 60, 0.3
    for i in range(n_notes):
        pitch = int(np.clip(pitch + rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]), 45, 79))
        slurred = i > 0 and not notes[-1].slurred and rng.random() < 0.35
        start_s = notes[-1].end_s if slurred else t
        notes.append(Played(
            pitch, start_s, start_s + rng.uniform(0.6, 2.0), attack_s=varied(player.attack_ramp_s),
            release_s=varied(player.release_ramp_s), slurred=slurred,
            glide_s=rng.uniform(0.05, 0.15) if slurred else 0.0,
            vibrato_hz=varied(player.vibrato_rate_hz), vibrato_cents=varied(player.vibrato_depth_cents),
            vibrato_start_s=varied(player.vibrato_onset_s)))
        t = notes[-1].end_s + notes[-1].release_s + rng.uniform(0.2, 0.5)
    return notes, t + 0.3


def recording(notes: list[Played], total_s: float, seed: int) -> np.ndarray:
    """[T] 16 kHz audio of ``notes``: each phrase (notes joined by slurs) 0-8 dB below the
    loudest, over white noise at -70 dBFS."""
    rng = np.random.default_rng(seed)
    audio = render(notes, total_s).astype(np.float64)
    # the gain changes half-way through each silence, where the audio is silent
    phrase_starts = [n.start_s for n in notes if not n.slurred]
    changes_s = [(previous.end_s + previous.release_s + n.start_s) / 2
                 for previous, n in zip(notes[:-1], notes[1:], strict=True) if not n.slurred]
    gains = 10.0 ** (-rng.uniform(0.0, 8.0, len(phrase_starts)) / 20)
    changes = np.round(np.array(changes_s) * SAMPLE_RATE_HZ).astype(int)
    audio *= gains[np.searchsorted(changes, np.arange(len(audio)), side="right")]
    audio += rng.normal(0.0, 10.0 ** (-70 / 20), len(audio))
    return audio.astype(np.float32)


def truth(notes: list[Played]) -> dict[str, float]:
    """The medians of what was played, per aspect, over the notes that show it."""
    after_silence = [n for n in notes if not n.slurred]
    before_silence = [n for n, following in zip(notes, [*notes[1:], None], strict=True)
                      if following is None or not following.slurred]
    return {
        "vibrato_rate_hz": float(np.median([n.vibrato_hz for n in notes])),
        "vibrato_depth_cents": float(np.median([n.vibrato_cents for n in notes])),
        "vibrato_onset_s": float(np.median([n.vibrato_start_s for n in notes])),
        "attack_s": RAMP_10_TO_90 * float(np.median([n.attack_s for n in after_silence])),
        "release_s": RAMP_10_TO_90 * float(np.median([n.release_s for n in before_silence])),
    }


@functools.cache
def learned(player: Player) -> tuple[ExpressionProfile, list[Played]]:
    """(the profile learned from two recordings of ``player``, 48 notes in all, about 85 s;
    the notes played)."""
    takes = [play(player, 24, seed) for seed in (1, 2)]
    audio = [recording(notes, total_s, seed) for seed, (notes, total_s) in enumerate(takes)]
    return profile_from_recordings(audio, "synthetic player"), [n for notes, _ in takes for n in notes]


@pytest.mark.parametrize("player", [ISSUE_EXAMPLE, OTHER], ids=["issue-example", "other"])
@pytest.mark.parametrize("aspect", ["vibrato_rate_hz", "vibrato_depth_cents", "vibrato_onset_s",
                                    "attack_s", "release_s"])
def test_the_learned_profile_recovers_the_player_within_ten_percent(player, aspect):
    profile, notes = learned(player)
    distribution, played = getattr(profile, aspect), truth(notes)[aspect]
    assert distribution.learned, f"{aspect}: {distribution.n_notes} notes showed it"
    assert distribution.median == pytest.approx(played, rel=TOLERANCE), (
        f"{aspect}: learned {distribution.median:.4g}, played {played:.4g}")


@pytest.mark.parametrize("player", [ISSUE_EXAMPLE, OTHER], ids=["issue-example", "other"])
def test_each_note_is_heard_once_slurred_or_not(player):
    profile, notes = learned(player)
    n_slurred = sum(n.slurred for n in notes)
    assert profile.vibrato_rate_hz.n_notes == len(notes)  # every note, and every one has vibrato
    assert profile.vibrato_share == 1.0
    assert profile.attack_s.n_notes == len(notes) - n_slurred  # attacks: after a silence
    assert profile.glide_s.n_notes == n_slurred  # glides: into the slurred ones
