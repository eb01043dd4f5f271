"""The one MIDI performance machine: voices, stealing, pedal, RPN bend range, event order.

Render and the live synth both play parts through ``PartPerformance``; these tests pin its
rules on messages alone (no model).
"""

from __future__ import annotations

import mido
import numpy as np
import pretty_midi
import pytest

from ddspkit.analysis.profile import Distribution, ExpressionProfile
from ddspkit.midi import Expression, Note, Part, PartPerformance, event_order, parts, read_midi
from ddspkit.midi.curves import CONTROL_LEAD_FRAMES, SILENT_LOUDNESS_DB
from ddspkit.midi.score import in_performance_order


def on(note: int, velocity: int = 90) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity)


def off(note: int) -> mido.Message:
    return mido.Message("note_off", note=note)


def cc(number: int, value: int) -> mido.Message:
    return mido.Message("control_change", control=number, value=value)


def rpn_bend_range(semitones: int) -> list[mido.Message]:
    return [cc(101, 0), cc(100, 0), cc(6, semitones)]


def voices_of(performance: PartPerformance) -> list[list[tuple[int, float, float]]]:
    return [[(n.pitch, n.start_s, n.end_s) for n in v.notes] for v in performance.voices]


def test_a_chord_takes_one_voice_per_note_and_a_line_one_voice():
    chord = [(0.0, on(p)) for p in (64, 60, 55, 48)] + [(2.0, off(p)) for p in (48, 55, 60, 64)]
    assert [len(v) for v in voices_of(PartPerformance.play(in_performance_order(chord), 8))] == [1, 1, 1, 1]
    line = [(0.0, on(60)), (1.0, off(60)), (1.0, on(62)), (2.0, off(62)), (2.0, on(64)), (3.0, off(64))]
    played = PartPerformance.play(in_performance_order(line), 8)
    assert voices_of(played) == [[(60, 0.0, 1.0), (62, 1.0, 2.0), (64, 2.0, 3.0)]]


def test_past_the_voice_limit_the_oldest_note_is_stolen():
    events = [(0.0, on(48)), (0.5, on(55)), (0.7, on(60)), (0.9, on(64)), (1.0, on(67))]
    events += [(2.0, off(p)) for p in (48, 55, 60, 64, 67)]
    played = PartPerformance.play(in_performance_order(events), max_voices=4)
    assert len(played.voices) == 4
    by_pitch = {n.pitch: n for v in played.voices for n in v.notes}
    assert by_pitch[48].end_s == 1.0  # the oldest note gave its voice to the new one
    assert [n.pitch for n in played.voices[0].notes] == [48, 67]
    assert all(by_pitch[p].end_s == 2.0 for p in (55, 60, 64, 67))


def test_a_new_note_takes_the_free_voice_nearest_in_pitch():
    events = [(0.0, on(72)), (0.0, on(48)), (1.0, off(72)), (1.0, off(48)), (1.0, on(50)), (2.0, off(50))]
    played = PartPerformance.play(in_performance_order(events), 8)
    bass = next(v for v in played.voices if v.notes[0].pitch == 48)
    assert [n.pitch for n in bass.notes] == [48, 50]


def test_the_sustain_pedal_holds_released_keys_until_it_goes_up():
    events = [(0.0, cc(64, 127)), (0.0, on(60)), (0.5, off(60)), (2.0, cc(64, 0)), (3.0, on(62)),
              (3.5, off(62))]
    played = PartPerformance.play(in_performance_order(events), 8)
    notes = sorted((n for v in played.voices for n in v.notes), key=lambda n: n.start_s)
    assert [(n.pitch, n.end_s) for n in notes] == [(60, 2.0), (62, 3.5)]


def test_a_pedal_still_down_at_the_end_releases_at_the_end():
    played = PartPerformance.play([(0.0, cc(64, 127)), (0.0, on(60)), (0.5, off(60))], 8, end_s=4.0)
    assert played.voices[0].notes[0].end_s == 4.0


def test_at_one_instant_controllers_then_note_offs_then_note_ons_from_the_top():
    messages = [on(60), off(55), cc(64, 0), on(67)]
    assert sorted(messages, key=event_order) == [messages[2], messages[1], messages[3], messages[0]]
    # A pedal lifted at the instant a key is released: the key is not held.
    events = in_performance_order([(0.0, cc(64, 127)), (0.0, on(60)), (1.0, off(60)), (1.0, cc(64, 0))])
    assert PartPerformance.play(events, 8).voices[0].notes[0].end_s == 1.0


def test_the_bend_range_applies_from_the_moment_it_is_set():
    events = [(0.0, on(60)), (0.5, mido.Message("pitchwheel", pitch=4096))]
    events += [(1.0 + 0.001 * i, m) for i, m in enumerate(rpn_bend_range(12))]
    events += [(1.5, mido.Message("pitchwheel", pitch=-8192)), (2.0, off(60))]
    played = PartPerformance.play(events, 8)
    at = dict(played.bend_history)
    assert at[0.5] == pytest.approx(1.0)  # half the default 2 semitones
    assert at[1.002] == pytest.approx(6.0)  # the wheel still at half, now of 12 semitones
    assert at[1.5] == pytest.approx(-12.0)


def test_rpn_cents_and_other_rpns_do_not_touch_the_bend_range():
    performance = PartPerformance()
    for m in [*rpn_bend_range(3), cc(38, 50)]:
        performance.apply(0.0, m)
    assert performance.bend_range_semitones == pytest.approx(3.5)
    for m in [cc(101, 0), cc(100, 2), cc(6, 24)]:  # RPN 2: coarse tuning, not the bend range
        performance.apply(0.1, m)
    assert performance.bend_range_semitones == pytest.approx(3.5)


def test_controller_defaults_and_a_live_frame_follow_cc7_and_cc11():
    performance = PartPerformance()
    defaults = (performance.volume, performance.expression_cc, performance.bend_range_semitones)
    assert defaults == (100, 127, 2.0)
    performance.apply(0.0, on(69, 127))
    voice = performance.voices[0]
    f0, loud = performance.voice_values(voice, np.array([8000]), 8000, None)
    performance.apply(0.5, cc(11, 40))
    _, soft = performance.voice_values(voice, np.array([9600]), 9600, None)
    assert soft[0] < loud[0] - 6
    assert f0[0] == pytest.approx(440.0, rel=1e-6)


def test_a_note_on_a_silent_voice_starts_a_phrase_at_its_own_sample():
    """The frame grid of a voice starts at the note-on (16 kHz samples), not at the next 20 ms."""
    played = PartPerformance.play(in_performance_order([(0.1234, on(60)), (0.5, off(60))]), 8)
    phrase = played.voices[0].phrases[0]
    assert phrase.start == round(0.1234 * 16000)
    # it ends on its own grid, after the release (0.25 s) and the decoder's fade-out
    assert (phrase.end - phrase.start) % 320 == 0
    assert 0.5 + 0.25 < phrase.end / 16000 < 0.5 + 0.25 + 0.1 + 0.02
    f0, power = played.phrase_curves(played.voices[0], 0, None)
    assert len(f0) == CONTROL_LEAD_FRAMES + 1 + (phrase.end - phrase.start) // 320
    # the first priming frame is silent: the note is heard from its start
    assert power[0] == SILENT_LOUDNESS_DB
    assert (power[CONTROL_LEAD_FRAMES: CONTROL_LEAD_FRAMES + 10] > -60).all()
    assert power[-1] == SILENT_LOUDNESS_DB


def test_power_leads_the_sound_by_the_decoders_answer_time_and_pitch_does_not():
    expression = Expression(attack_s=0.2, portamento_s=0.1)
    events = [(0.0, on(60)), (0.5, off(60)), (0.5, on(62)), (1.0, off(62))]
    played = PartPerformance.play(in_performance_order(events), 8, expression=expression)
    voice = played.voices[0]
    assert len(voice.phrases) == 1  # slurred: one phrase, one voice
    f0, power = played.phrase_curves(voice, 0, None)
    heard = slice(CONTROL_LEAD_FRAMES, None)
    sound_s = np.arange(len(f0) - CONTROL_LEAD_FRAMES) / 50
    # the frame sounding at 0.1 s has the level of 0.1 s + lead into the 0.2 s attack, re the
    # peak, which sounds at 0.2 s - lead
    peak = int(round((0.2 - CONTROL_LEAD_FRAMES / 50) * 50))
    level = 10 ** ((power[heard][5] - power[heard][peak]) / 20)
    assert level == pytest.approx((0.1 + CONTROL_LEAD_FRAMES / 50) / 0.2, abs=1e-3)
    # the glide to 62 starts once the note-on is known (at 0.5 s, the grid is on it) and
    # reaches the note after the portamento, with no lead
    midi = 12 * np.log2(f0[heard] / 440.0) + 69
    assert midi[sound_s == 0.5][0] == pytest.approx(60, abs=1e-4)
    assert midi[sound_s == 0.56][0] == pytest.approx(60 + 2 * 0.6, abs=1e-3)
    assert midi[sound_s == 0.62][0] == pytest.approx(62, abs=1e-4)


def test_a_new_note_prefers_a_silent_voice_to_one_still_releasing():
    expression = Expression(release_s=0.25)
    events = [(0.0, on(60)), (0.2, off(60)), (0.3, on(62)), (0.5, off(62)), (2.0, on(64)), (2.2, off(64))]
    played = PartPerformance.play(in_performance_order(events), 8, expression=expression)
    # 62 comes while 60 still releases: a second voice, which starts its own phrase on time
    assert voices_of(played)[1][0][:2] == (62, 0.3)
    assert played.voices[1].phrases[0].start == round(0.3 * 16000)
    # 64 finds both silent: the nearest in pitch, in a new phrase
    assert [len(v.phrases) for v in played.voices] == [1, 2]
    # with one voice, 62 joins the releasing phrase of 60 (no new grid)
    single = PartPerformance.play(in_performance_order(events), 1, expression=expression)
    assert [p.start for p in single.voices[0].phrases] == [0, round(2.0 * 16000)]


def test_live_keeps_only_the_last_notes_of_a_voice():
    performance = PartPerformance(max_voices=1)
    for i in range(50):
        performance.apply(i * 0.1, on(60 + i % 5))
        performance.apply(i * 0.1 + 0.05, off(60 + i % 5))
    assert len(performance.voices[0].notes) <= 3


def test_a_file_part_is_read_through_the_performance(tmp_path):
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0, name="keys")
    inst.notes = [pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=0.5),
                  pretty_midi.Note(velocity=80, pitch=64, start=1.0, end=1.5)]
    inst.control_changes = [pretty_midi.ControlChange(64, 127, 0.25), pretty_midi.ControlChange(64, 0, 0.75),
                            pretty_midi.ControlChange(101, 0, 0.9), pretty_midi.ControlChange(100, 0, 0.91),
                            pretty_midi.ControlChange(6, 7, 0.92)]
    inst.pitch_bends = [pretty_midi.PitchBend(8191, 0.1), pretty_midi.PitchBend(8191, 1.2)]
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "a.mid"))
    part = parts(read_midi(tmp_path / "a.mid"))[0]
    assert [(n.pitch, n.start_s, n.end_s) for n in part.notes] == [(60, 0.0, 0.75), (64, 1.0, 1.5)]
    bends = dict(part.pitch_bends)
    assert bends[0.1] == pytest.approx(2.0, abs=1e-3)  # before the RPN: the default range
    assert bends[1.2] == pytest.approx(7.0, abs=1e-3)  # after it: 7 semitones
    assert part.controls[64] == [(0.25, 127), (0.75, 0)]


def test_a_part_from_notes_plays_those_notes():
    notes = [Note(60, 0.0, 1.0, 90), Note(67, 0.5, 1.5, 70)]
    part = Part.from_notes("t", notes)
    assert [(n.pitch, n.start_s, n.end_s, n.velocity) for n in part.notes] == \
        [(60, 0.0, 1.0, 90), (67, 0.5, 1.5, 70)]
    assert np.isfinite([n.end_s for n in part.notes]).all()


def test_a_melody_moving_on_cuts_the_last_notes_release_and_a_chord_does_not():
    expression = Expression(release_s=0.5)
    melody = [(0.0, on(60)), (0.4, off(60)), (0.5, on(62)), (0.9, off(62))]
    played = PartPerformance.play(in_performance_order(melody), 8, expression=expression)
    first = played.voices[0]
    assert first.chokes == {0.0: 0.5}  # 62 began on another voice while 60 still rang
    assert first.phrases[0].end / 16000 < 0.5 + 0.06 + 0.1 + 0.02  # silent soon after, not at 0.4 + 0.5
    f0, power = played.phrase_curves(first, 0, None)
    sound_s = (first.phrases[0].start + (np.arange(len(power)) - CONTROL_LEAD_FRAMES) * 320) / 16000
    assert (power[sound_s >= 0.5 + 0.06] == SILENT_LOUDNESS_DB).all()
    # a held note under the new one: a chord, whose other notes ring on
    chord = [(0.0, on(60)), (0.0, on(48)), (0.4, off(60)), (0.5, on(64)), (0.9, off(64)), (0.9, off(48))]
    held = PartPerformance.play(in_performance_order(chord), 8, expression=expression)
    assert all(not v.chokes for v in held.voices)


def test_a_learned_profiles_note_rings_its_release_out_under_the_next_one():
    profile = ExpressionProfile(release_s=Distribution([0.4] * 5, True, 100))
    melody = [(0.0, on(60)), (0.4, off(60)), (0.5, on(62)), (0.9, off(62))]
    played = PartPerformance.play(in_performance_order(melody), 8, expression=Expression(profile=profile))
    first = played.voices[0]
    assert not first.chokes  # as the recordings' notes do: the release a profile heard is heard
    f0, power = played.phrase_curves(first, 0, None)
    sound_s = (first.phrases[0].start + (np.arange(len(power)) - CONTROL_LEAD_FRAMES) * 320) / 16000
    assert (power[(sound_s > 0.5 + 0.06) & (sound_s < 0.6)] > SILENT_LOUDNESS_DB).all()


def test_a_learned_profiles_attack_rises_in_power_and_its_note_holds_its_level():
    """Plain: amplitude rises linearly (-6 dB half-way) and decays to 0.8; a profile's note:
    power rises linearly (-3 dB half-way, the same 10 -> 90 % time) and holds."""
    from ddspkit.midi.curves import note_frame_values

    note = Note(60, 0.0, 2.0, 100)
    t_s = np.array([0.1, 0.2, 1.5]) - CONTROL_LEAD_FRAMES * 320 / 16000  # envelope times 0.1, 0.2, 1.5
    profile = ExpressionProfile(attack_s=Distribution([0.16] * 5, True, 100))
    learned = Expression(profile=profile).for_note(note, 0)
    assert learned.attack_s == pytest.approx(0.2)  # no response: heard 0.16 s / 0.8
    _, plain_db = note_frame_values(note, None, t_s, t_s, Expression(attack_s=0.2))
    _, learned_db = note_frame_values(note, None, t_s, t_s, learned)
    np.testing.assert_allclose(plain_db, [-6.02, 0.0, 20 * np.log10(0.8)], atol=0.05)
    np.testing.assert_allclose(learned_db, [-3.01, 0.0, 0.0], atol=0.05)
