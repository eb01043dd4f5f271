"""How a model plays the envelope's ramps: the closed loop that makes a learned profile heard.

An expression profile describes what the recordings *sound* like (the attack and release a
listener hears, :mod:`ddspkit.analysis.expression`), but a note's controls are the model's
*input* power, and the decoder does not follow it faithfully: below a knee near the bottom of
its trained range it cuts to silence, and it smooths what it follows, so a 120 ms release
ramp is heard as a 65 ms one. :func:`measure_response` renders a test note through the model
for each of a few ramp lengths (one batch), measures the attack and release it plays exactly
as the recordings were measured, and gives the table
(:class:`ddspkit.midi.curves.EnvelopeResponse`) that :class:`ddspkit.midi.curves.Expression`
inverts: a profile's heard time -> the ramp that the model plays as that. It costs a few
tenths of a second per model, once (:func:`model_response` keeps it).
"""

from __future__ import annotations

import weakref
from dataclasses import replace

import numpy as np
import torch

from ddspkit.analysis.expression import attack_and_release_s
from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.midi.curves import (
    CONTROL_LEAD_FRAMES,
    LEARNED_ATTACK_CURVE,
    EnvelopeResponse,
    Expression,
    voice_frames,
)
from ddspkit.midi.performance import phrase_frame_times
from ddspkit.midi.score import Note
from ddspkit.model import Controls

# Control ramps tried (s): from faster than any model follows to slower than any profile asks.
CONTROL_S = (0.03, 0.05, 0.07, 0.09, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4)
TEST_NOTE_S = 0.8  # the slowest attack and the decay after it are over before the release
TAIL_S = 0.6  # after the note-off: the slowest release and the quiet after it
LEAD_IN_S = 0.2  # silence before the note, where the measurement looks for the quiet point
MEDIAN_VELOCITY = 64  # a level in the middle of the model's trained range

_responses: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def measure_response(instrument, statistics: DatasetStatistics | None) -> EnvelopeResponse:
    """The attack and release ``instrument`` plays for each control ramp of :data:`CONTROL_S`.

    Test notes at the model's median pitch and a middle level, each with attack and release
    ramps of one length, shaped as a profile's notes are (attack linear in power, no decay),
    are rendered in one batch (dry, as a phrase: primed decoder, power read
    :data:`~ddspkit.midi.curves.CONTROL_LEAD_FRAMES` ahead) and measured as the recordings
    are (:func:`ddspkit.analysis.expression.measure_notes` on the audio). A ramp whose time
    cannot be measured is left out; the heard times are made non-decreasing.
    """
    pitch = 60 if statistics is None else int(round(statistics.pitch_quantiles_midi[50]))
    note = Note(pitch, 0.0, TEST_NOTE_S, MEDIAN_VELOCITY)
    n_heard = int(np.ceil((TEST_NOTE_S + TAIL_S) * SAMPLE_RATE_HZ / HOP_SAMPLES))
    sound, known = phrase_frame_times(0, -CONTROL_LEAD_FRAMES, n_heard + 1)
    sound_s, known_s = sound / SAMPLE_RATE_HZ, known / SAMPLE_RATE_HZ
    n = len(sound)
    curves = [voice_frames([note], sound_s, known_s, np.zeros(n), np.full(n, 127.0), np.full(n, 100.0),
                           statistics, Expression(attack_s=ramp_s, release_s=ramp_s, sustain_level=1.0,
                                                  attack_curve=LEARNED_ATTACK_CURVE))
              for ramp_s in CONTROL_S]
    f0_hz = torch.from_numpy(np.stack([c[0] for c in curves])).to(instrument.device)
    power_db = torch.from_numpy(np.stack([c[1] for c in curves])).to(instrument.device)
    with torch.no_grad():
        controls, _ = instrument.controls(f0_hz, power_db)
        parts = (controls.amplitude, controls.harmonic_distribution, controls.noise_magnitudes)
        heard = Controls(*(c[:, CONTROL_LEAD_FRAMES:] for c in parts))
        audio, _ = instrument.synthesize(heard, f0_hz[:, CONTROL_LEAD_FRAMES:], n_heard * HOP_SAMPLES,
                                         torch.Generator(device=instrument.device).manual_seed(0))
    lead_in = np.zeros((len(CONTROL_S), int(LEAD_IN_S * SAMPLE_RATE_HZ)), np.float32)
    audio_16k = np.concatenate([lead_in, audio.cpu().numpy()], axis=1)
    rows = []
    for ramp_s, one_audio in zip(CONTROL_S, audio_16k, strict=True):
        attack_s, release_s = attack_and_release_s(one_audio, LEAD_IN_S, LEAD_IN_S + TEST_NOTE_S, pitch)
        if np.isfinite(attack_s) and np.isfinite(release_s):
            rows.append((ramp_s, attack_s, release_s))
    if len(rows) < 2:  # nothing measurable: the model taken as faithful
        faithful = tuple(0.8 * c for c in CONTROL_S)
        return EnvelopeResponse(CONTROL_S, faithful, faithful)
    control_s, attack_s, release_s = (np.array(column) for column in zip(*rows, strict=True))
    return EnvelopeResponse(tuple(float(v) for v in control_s),
                            tuple(float(v) for v in np.maximum.accumulate(attack_s)),
                            tuple(float(v) for v in np.maximum.accumulate(release_s)))


def model_response(instrument, statistics: DatasetStatistics | None) -> EnvelopeResponse:
    """:func:`measure_response`, measured once per instrument object and kept while it lives."""
    response = _responses.get(instrument)
    if response is None:
        response = _responses[instrument] = measure_response(instrument, statistics)
    return response


def calibrated(expression: Expression, instrument, statistics: DatasetStatistics | None) -> Expression:
    """``expression`` with ``instrument``'s response where it plays a profile and has none
    (a plain expression is returned as it is: its ramps are the user's, heard or not)."""
    if expression.profile is None or expression.response is not None:
        return expression
    return replace(expression, response=model_response(instrument, statistics))
