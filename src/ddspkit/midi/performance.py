"""Live MIDI -> notes, voices and per-frame controls, with ``render``'s rules.

A MIDI channel is a part, as a track is in a file. Notes are allocated to voices as
``midi.allocate_voices`` allocates them (the nearest free voice, a new one while under the
limit, else the oldest note is cut), the sustain pedal holds released notes until it goes
up (as ``midi.parts`` does), and each frame's pitch and power come from the same
``midi.note_frame_values`` and ``midi.dynamic_power_db`` that render a file. Everything a
frame uses happened at or before its time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ddspkit.config import FRAME_RATE_HZ
from ddspkit.core import midi_to_hz
from ddspkit.midi import (
    Expression,
    Note,
    dynamic_power_db,
    first_frame_at_or_after,
    note_frame_values,
    voice_seed,
)
from ddspkit.stats import DatasetStatistics

PEDAL_CC, VOLUME_CC, EXPRESSION_CC = 64, 7, 11
DEFAULT_BEND_RANGE = 2.0


@dataclass
class LiveVoice:
    """One voice of a part: its notes so far (the last one's ``end_s`` is inf while it sounds),
    its noise seed, and its row in the VoiceBank (-1 until its first frame)."""

    seed: int
    notes: list[Note] = field(default_factory=list)
    row: int = -1
    held_by_pedal: bool = False

    def ended_by(self, time_s: float) -> bool:
        return self.notes[-1].end_s <= time_s + 1e-6


class PartState:
    """Controllers, pedal, bend and voices of one MIDI channel."""

    def __init__(self, part_index: int, max_voices: int) -> None:
        self.part_index, self.max_voices = part_index, max_voices
        self.voices: list[LiveVoice] = []
        self.volume, self.expression = 100, 127  # CC7, CC11 defaults, as render's
        self.pedal_down = False
        self.bend_semitones = 0.0
        self.bend_range = DEFAULT_BEND_RANGE
        self._rpn = {101: None, 100: None}

    def apply(self, time_s: float, message) -> None:
        kind = message.type
        if kind == "note_on" and message.velocity > 0:
            self._note_on(time_s, message.note, message.velocity)
        elif kind in ("note_on", "note_off"):
            self._note_off(time_s, message.note)
        elif kind == "control_change":
            self._control(time_s, message.control, message.value)
        elif kind == "pitchwheel":
            self.bend_semitones = message.pitch / 8192.0 * self.bend_range

    def _note_on(self, time_s: float, pitch: int, velocity: int) -> None:
        note = Note(int(pitch), time_s, np.inf, max(1, int(velocity)))
        free = [v for v in self.voices if v.ended_by(time_s)]
        if free:
            voice = min(free, key=lambda v: abs(v.notes[-1].pitch - pitch))
        elif len(self.voices) < self.max_voices:
            voice = LiveVoice(voice_seed(self.part_index, len(self.voices)))
            self.voices.append(voice)
        else:  # steal the voice holding the oldest note: that note ends now
            voice = min(self.voices, key=lambda v: v.notes[-1].start_s)
            self._end(voice, time_s)
        voice.notes.append(note)
        del voice.notes[:-3]  # a frame needs its note and the one before; a live set never ends
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
        elif number in self._rpn:
            self._rpn[number] = value
        elif number == 6 and self._rpn[101] == 0 and self._rpn[100] == 0:
            self.bend_range = float(value)  # RPN 0: pitch-bend range in semitones

    @staticmethod
    def _end(voice: LiveVoice, time_s: float) -> None:
        last = voice.notes[-1]
        voice.notes[-1] = Note(last.pitch, last.start_s, max(last.start_s, time_s), last.velocity)
        voice.held_by_pedal = False

    def frame_values(self, frame_index: int, statistics: DatasetStatistics | None,
                     expression: Expression):
        """(voice, f0_hz, power_db) at frame ``frame_index`` of every voice that has begun."""
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
