"""One MIDI part as it is played: the one state machine behind ``render``, the live synth and
the studio.

A part (a channel live, a track in a file) takes messages in time order and keeps what they
mean: which voice each note sounds on (the nearest free voice, a new one while under the
limit, else the voice holding the oldest note is cut), the sustain pedal (a released key is
held until the pedal goes up), CC7 volume and CC11 expression, and the pitch bend at the bend
range set by RPN 0 *when the bend is played* (the MIDI standard's rule: a range applies from
the moment it is set). Messages at one instant take effect in :func:`event_order`.

Live, the engine feeds messages as they come and asks :meth:`PartPerformance.frame_values`
for each 20 ms frame; offline, :meth:`PartPerformance.play` feeds a file's events and the
renderer reads the finished voices and histories. Everything a frame uses happened at or
before its time, so the two play alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.config import FRAME_RATE_HZ
from ddspkit.dsp.core import midi_to_hz
from ddspkit.midi.curves import Expression, dynamic_power_db, first_frame_at_or_after, note_frame_values
from ddspkit.midi.score import (
    BEND_WHEEL_CENTRE,
    DATA_ENTRY_LSB_CC,
    DATA_ENTRY_MSB_CC,
    DEFAULT_BEND_RANGE_SEMITONES,
    DEFAULT_EXPRESSION,
    DEFAULT_VOLUME,
    EXPRESSION_CC,
    PEDAL_CC,
    RPN_LSB_CC,
    RPN_MSB_CC,
    VOLUME_CC,
    Note,
)

NOTES_KEPT_LIVE = 3  # a frame needs its note and the one before; a live set never ends


def voice_seed(part_index: int, voice_index: int) -> int:
    """The noise seed of a voice: the same in ``render`` and in the streaming engine."""
    return 1000 * part_index + voice_index


@dataclass
class PerformedVoice:
    """One voice of a part: its notes so far (the last one's ``end_s`` is inf while its key or
    the pedal holds it), its noise seed, and its row in a streaming VoiceBank (-1 until its
    first frame)."""

    seed: int
    notes: list[Note] = field(default_factory=list)
    row: int = -1
    held_by_pedal: bool = False

    def ended_by(self, time_s: float) -> bool:
        return self.notes[-1].end_s <= time_s + 1e-6


class PartPerformance:
    """Voices, pedal, controllers and bend of one MIDI part.

    ``max_voices``: voices before the oldest note is stolen (None: never steal).
    ``keep_history``: keep every note of every voice and every bend and controller change
    (a file's performance, read afterwards); live, only the last notes of each voice are kept.
    """

    def __init__(self, part_index: int = 0, max_voices: int | None = 8, keep_history: bool = False) -> None:
        self.part_index, self.max_voices, self.keep_history = part_index, max_voices, keep_history
        self.voices: list[PerformedVoice] = []
        self.volume, self.expression = DEFAULT_VOLUME, DEFAULT_EXPRESSION
        self.pedal_down = False
        self.bend_wheel = 0  # -8192..8191
        self.bend_range_semitones = DEFAULT_BEND_RANGE_SEMITONES
        self._rpn: tuple[int | None, int | None] = (None, None)  # (CC101, CC100) selected
        self.bend_history: list[tuple[float, float]] = []  # (s, semitones), with keep_history
        self.control_history: dict[int, list[tuple[float, int]]] = {}  # cc -> [(s, value)]

    @classmethod
    def play(cls, events: Iterable[tuple[float, object]], max_voices: int | None,
             end_s: float | None = None, part_index: int = 0) -> PartPerformance:
        """A whole part: ``events`` (s, message) in performance order; keys or a pedal still
        down at ``end_s`` (default: the last event) are released then."""
        performance = cls(part_index, max_voices, keep_history=True)
        last_s = 0.0
        for time_s, message in events:
            performance.apply(time_s, message)
            last_s = time_s
        performance.release_all(last_s if end_s is None else max(end_s, last_s))
        return performance

    @property
    def bend_semitones(self) -> float:
        return self.bend_wheel / BEND_WHEEL_CENTRE * self.bend_range_semitones

    def apply(self, time_s: float, message) -> None:
        """Take one message (``mido`` or alike) at ``time_s``; messages come in time order."""
        kind = message.type
        if kind == "note_on" and message.velocity > 0:
            self._note_on(time_s, message.note, message.velocity)
        elif kind in ("note_on", "note_off"):
            self._note_off(time_s, message.note)
        elif kind == "control_change":
            self._control(time_s, message.control, message.value)
        elif kind == "pitchwheel":
            self.bend_wheel = int(message.pitch)
            self._bend_changed(time_s)

    def release_all(self, time_s: float) -> None:
        """Every sounding note ends at ``time_s`` (pedal up, keys released)."""
        self.pedal_down = False
        for voice in self.voices:
            if voice.notes and not np.isfinite(voice.notes[-1].end_s):
                self._end(voice, time_s)

    def _note_on(self, time_s: float, pitch: int, velocity: int) -> None:
        note = Note(int(pitch), time_s, np.inf, max(1, int(velocity)))
        free = [v for v in self.voices if v.ended_by(time_s)]
        if free:
            voice = min(free, key=lambda v: abs(v.notes[-1].pitch - pitch))
        elif self.max_voices is None or len(self.voices) < self.max_voices:
            voice = PerformedVoice(voice_seed(self.part_index, len(self.voices)))
            self.voices.append(voice)
        else:  # steal the voice holding the oldest note: that note ends now
            voice = min(self.voices, key=lambda v: v.notes[-1].start_s)
            self._end(voice, time_s)
        voice.notes.append(note)
        if not self.keep_history:
            del voice.notes[:-NOTES_KEPT_LIVE]
        voice.held_by_pedal = False

    def _note_off(self, time_s: float, pitch: int) -> None:
        for voice in self.voices:
            last = voice.notes[-1]
            if last.pitch == pitch and not np.isfinite(last.end_s) and not voice.held_by_pedal:
                if self.pedal_down:
                    voice.held_by_pedal = True
                else:
                    self._end(voice, time_s)
                return

    def _control(self, time_s: float, number: int, value: int) -> None:
        if self.keep_history:
            self.control_history.setdefault(number, []).append((time_s, int(value)))
        if number == PEDAL_CC:
            down = value >= 64
            if self.pedal_down and not down:
                for voice in self.voices:
                    if voice.held_by_pedal:
                        self._end(voice, time_s)
            self.pedal_down = down
        elif number == VOLUME_CC:
            self.volume = value
        elif number == EXPRESSION_CC:
            self.expression = value
        elif number == RPN_MSB_CC:
            self._rpn = (value, self._rpn[1])
        elif number == RPN_LSB_CC:
            self._rpn = (self._rpn[0], value)
        elif number in (DATA_ENTRY_MSB_CC, DATA_ENTRY_LSB_CC) and self._rpn == (0, 0):
            # RPN 0, pitch-bend sensitivity: the MSB in semitones (clearing the cents), the LSB in cents
            if number == DATA_ENTRY_MSB_CC:
                self.bend_range_semitones = float(value)
            else:
                self.bend_range_semitones = float(int(self.bend_range_semitones)) + value / 100.0
            self._bend_changed(time_s)

    def _bend_changed(self, time_s: float) -> None:
        if self.keep_history:
            self.bend_history.append((time_s, self.bend_semitones))

    @staticmethod
    def _end(voice: PerformedVoice, time_s: float) -> None:
        last = voice.notes[-1]
        voice.notes[-1] = Note(last.pitch, last.start_s, max(last.start_s, time_s), last.velocity)
        voice.held_by_pedal = False

    def frame_values(self, frame_index: int, statistics: DatasetStatistics | None,
                     expression: Expression) -> Iterator[tuple[PerformedVoice, float, float]]:
        """(voice, f0_hz, power_db) at frame ``frame_index`` of every voice that has begun,
        from the messages applied so far (those at or before the frame's time)."""
        frame_time_s = frame_index / FRAME_RATE_HZ
        for voice in self.voices:
            current = None
            for i in range(len(voice.notes) - 1, -1, -1):  # the latest note that has begun
                if first_frame_at_or_after(voice.notes[i].start_s) <= frame_index:
                    current = i
                    break
            if current is None:
                continue
            note = voice.notes[current]
            previous = voice.notes[current - 1] if current > 0 else None
            pitch, envelope_db = note_frame_values(note, previous, np.array([frame_time_s - note.start_s]),
                                                   expression)
            power_db = dynamic_power_db(np.array([note.velocity / 127.0]), envelope_db,
                                        np.array([self.expression]), np.array([self.volume]),
                                        statistics)
            f0_hz = float(midi_to_hz(pitch[0] + self.bend_semitones))
            yield voice, f0_hz, float(power_db[0])
