"""A learned profile's attacks and releases are heard as the profile says, through the model."""

from __future__ import annotations

import mido
import numpy as np
import pytest

import ddspkit
from ddspkit.analysis.expression import attack_and_release_s
from ddspkit.analysis.profile import Distribution, ExpressionProfile
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.midi import Expression, Part
from ddspkit.midi.curves import EnvelopeResponse
from ddspkit.render.calibration import calibrated, measure_response, model_response
from ddspkit.render.midi import render_parts

START_S, END_S = 0.3, 1.1


@pytest.fixture(scope="module")
def violin():
    return ddspkit.load_model("Violin", "cpu")


def heard_times(model, expression: Expression, pitch: int) -> tuple[float, float]:
    """(attack_s, release_s) a listener hears of one note the model plays with ``expression``."""
    part = Part("note", 40, events=[(START_S, mido.Message("note_on", note=pitch, velocity=70)),
                                    (END_S, mido.Message("note_off", note=pitch))])
    audio = render_parts(model.instrument, model.info.statistics, [part], expression=expression,
                         reverb=False, sample_rate_hz=SAMPLE_RATE_HZ, tail_s=0.5).audio
    return attack_and_release_s(audio, START_S, END_S, pitch)


def profile_with(attack_s: float, release_s: float) -> ExpressionProfile:
    return ExpressionProfile(attack_s=Distribution([attack_s] * 5, True, 100),
                             release_s=Distribution([release_s] * 5, True, 100),
                             vibrato_share=0.0, scoop_cents=Distribution([0.0] * 5, True, 100))


@pytest.mark.parametrize(("attack_s", "release_s"), [(0.15, 0.12), (0.08, 0.05)])
def test_a_calibrated_profile_is_heard_with_its_own_attack_and_release(violin, attack_s, release_s):
    pitch = int(round(violin.info.statistics.pitch_quantiles_midi[50])) + 2  # not the test note's
    profile = profile_with(attack_s, release_s)
    heard_attack_s, heard_release_s = heard_times(violin, Expression(profile=profile), pitch)
    assert heard_attack_s == pytest.approx(attack_s, rel=0.2)
    assert heard_release_s == pytest.approx(release_s, rel=0.25)
    # played as bare ramps (a faithful model's), the model cuts them short
    faithful = Expression(profile=profile, response=EnvelopeResponse((0.0, 1.0), (0.0, 0.8), (0.0, 0.8)))
    _, uncalibrated_release_s = heard_times(violin, faithful, pitch)
    assert uncalibrated_release_s < 0.8 * release_s


def test_the_response_is_measured_once_per_model_and_plain_is_left_alone(violin):
    response = model_response(violin.instrument, violin.info.statistics)
    assert model_response(violin.instrument, violin.info.statistics) is response
    assert response == measure_response(violin.instrument, violin.info.statistics)  # reproducible
    # the model shortens short ramps: a heard time needs a longer control ramp
    assert response.release_control_s(0.1) > 0.1 / 0.8
    assert np.all(np.diff(response.heard_attack_s) >= 0) and np.all(np.diff(response.heard_release_s) >= 0)
    plain = Expression(attack_s=0.1)
    assert calibrated(plain, violin.instrument, violin.info.statistics) is plain
    learned = calibrated(Expression(profile=ExpressionProfile()), violin.instrument, violin.info.statistics)
    assert learned.response is response


def test_a_response_round_trips_through_json_and_bad_tables_are_refused():
    response = EnvelopeResponse((0.03, 0.1, 0.2), (0.02, 0.06, 0.15), (0.01, 0.05, 0.16))
    assert EnvelopeResponse.from_dict(response.to_dict()) == response
    assert response.attack_control_s(0.06) == pytest.approx(0.1)
    assert response.release_control_s(1.0) == pytest.approx(0.2)  # held at the table's end
    with pytest.raises(ValueError, match="ascending"):
        EnvelopeResponse.from_dict({**response.to_dict(), "heard_release_s": [0.1, 0.05, 0.2]})
    with pytest.raises(ValueError, match="one length"):
        EnvelopeResponse.from_dict({**response.to_dict(), "control_s": [0.1]})
