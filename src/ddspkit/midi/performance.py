"""One MIDI part as it is played: the one state machine behind ``render``, the live synth and
the studio.

A part (a channel live, a track in a file) takes messages in time order and keeps what they
mean: which voice each note sounds on (:meth:`PartPerformance._choose_voice`), the sustain
pedal (a released key is held until the pedal goes up), CC7 volume and CC11 expression, and
the pitch bend at the bend range set by RPN 0 *when the bend is played* (the MIDI standard's
rule: a range applies from the moment it is set). Messages at one instant take effect in
:func:`event_order`.

When a voice is heard: a note that finds its voice silent starts a :class:`Phrase`, whose
frames are laid from the note-on's own sample (not from the next 20 ms of a global clock),
so its sound starts there. Later events in the phrase (note-offs, slurred or repeated notes,
bends, controllers) are taken by the phrase's next frame, computed one hop before it sounds.

Live, the engine feeds messages as they come and asks :meth:`PartPerformance.voice_values`
for each frame of each sounding voice; offline, :meth:`PartPerformance.play` feeds a file's
events and the renderer reads whole phrases with :meth:`PartPerformance.phrase_curves`.
A frame uses only what happened up to its known time, so the two play alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.midi.curves import (
    CONTROL_LEAD_FRAMES,
    CONTROL_LEAD_S,
    Expression,
    step_curve,
    voice_frames,
)
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
    on_model_grid,
)

NOTES_KEPT_LIVE = 3  # a frame needs its note and the one before; a live set never ends
PHRASE_TAIL_S = 0.1  # silent input after a release, so that the decoder's answer fades out


def to_model_samples(time_s: float) -> int:
    """A time on the model's grid (see :func:`ddspkit.midi.on_model_grid`) as a 16 kHz sample."""
    return round(float(time_s) * SAMPLE_RATE_HZ)


def voice_seed(part_index: int, voice_index: int) -> int:
    """The noise seed of a voice: the same in ``render`` and in the streaming engine."""
    return 1000 * part_index + voice_index


@dataclass
class Phrase:
    """A stretch of a voice's sound, from a note that found the voice silent to the silence
    after its last release. Its frames are at sound samples ``start + j * HOP_SAMPLES`` for
    j = -CONTROL_LEAD_FRAMES .. (end - start) / HOP_SAMPLES (16 kHz samples): the first
    frames, before ``start``, prime the decoder and are not heard (see
    :func:`phrase_frame_times`)."""

    start: int  # model sample of its first note-on: its sound starts there, not a frame later
    end: float = math.inf  # sound sample of its last frame; inf while a note holds or may come

    def grid_at_or_after(self, sample: int) -> int:
        """The first of this phrase's frame times at or after ``sample``."""
        return self.start + -(-(sample - self.start) // HOP_SAMPLES) * HOP_SAMPLES


def phrase_frame_times(start: int, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Sound and known samples of frames ``first .. stop - 1`` of a phrase starting at ``start``.

    A frame is known (computed, with the events up to then) one hop before its sound time,
    and never before the phrase's note-on: frames -CONTROL_LEAD_FRAMES .. 1 are all computed
    at the note-on.
    """
    sound = start + np.arange(first, stop, dtype=np.int64) * HOP_SAMPLES
    return sound, np.maximum(sound - HOP_SAMPLES, start)


@dataclass
class PerformedVoice:
    """One voice of a part: its notes so far (the last one's ``end_s`` is inf while its key or
    the pedal holds it), its phrases, its noise seed, and its row in a streaming VoiceBank
    (-1 until it first sounds)."""

    seed: int
    notes: list[Note] = field(default_factory=list)
    phrases: list[Phrase] = field(default_factory=list)
    row: int = -1
    held_by_pedal: bool = False
    next_frame: int = 0  # live: the index in its phrase of the next frame to compute
    chokes: dict[float, float] = field(default_factory=dict)  # note start -> its release cut (s)

    def ended_by(self, time_s: float) -> bool:
        return self.notes[-1].end_s <= time_s + 1e-6

    def idle_at(self, sample: int) -> bool:
        """Silent at ``sample``: a note-on then starts a new phrase (a new frame grid)."""
        return not self.phrases or sample >= self.phrases[-1].end

    def phrase_notes(self, index: int) -> list[Note]:
        """The notes of phrase ``index`` (with a kept history), and the note before them."""
        start_s = self.phrases[index].start / SAMPLE_RATE_HZ
        end_s = self.phrases[index + 1].start / SAMPLE_RATE_HZ if index + 1 < len(self.phrases) else math.inf
        inside = [i for i, n in enumerate(self.notes) if start_s - 1e-9 <= n.start_s < end_s - 1e-9]
        return self.notes[max(inside[0] - 1, 0) : inside[-1] + 1]


class PartPerformance:
    """Voices, pedal, controllers and bend of one MIDI part.

    ``max_voices``: voices before the oldest note is stolen (None: never steal).
    ``expression``: how notes are played (its legato gap and release decide voices and phrases).
    ``keep_history``: keep every note and phrase of every voice and every bend and controller
    change (a file's performance, read afterwards); live, only the last notes are kept.
    """

    def __init__(self, part_index: int = 0, max_voices: int | None = 8, keep_history: bool = False,
                 expression: Expression | None = None) -> None:
        self.part_index, self.max_voices, self.keep_history = part_index, max_voices, keep_history
        self.expression = expression or Expression()
        self.voices: list[PerformedVoice] = []
        self.volume, self.expression_cc = DEFAULT_VOLUME, DEFAULT_EXPRESSION
        self.pedal_down = False
        self.bend_wheel = 0  # -8192..8191
        self.bend_range_semitones = DEFAULT_BEND_RANGE_SEMITONES
        self._rpn: tuple[int | None, int | None] = (None, None)  # (CC101, CC100) selected
        self.bend_history: list[tuple[float, float]] = []  # (s, semitones), with keep_history
        self.control_history: dict[int, list[tuple[float, int]]] = {}  # cc -> [(s, value)]

    @classmethod
    def play(cls, events: Iterable[tuple[float, object]], max_voices: int | None,
             end_s: float | None = None, part_index: int = 0,
             expression: Expression | None = None) -> PartPerformance:
        """A whole part: ``events`` (s, message) in performance order; keys or a pedal still
        down at ``end_s`` (default: the last event) are released then."""
        performance = cls(part_index, max_voices, keep_history=True, expression=expression)
        last_s = 0.0
        for time_s, message in events:
            performance.apply(time_s, message)
            last_s = time_s
        performance.release_all(on_model_grid(last_s if end_s is None else max(end_s, last_s)))
        return performance

    @property
    def bend_semitones(self) -> float:
        return self.bend_wheel / BEND_WHEEL_CENTRE * self.bend_range_semitones

    def apply(self, time_s: float, message) -> None:
        """Take one message (``mido`` or alike) at ``time_s``; messages come in time order."""
        time_s = on_model_grid(time_s)
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

    def _choose_voice(self, time_s: float, pitch: int) -> PerformedVoice:
        """The voice for a note-on: one it slurs from (legato, nearest in pitch), else a silent
        one (so that the note starts its own phrase on time), else a new one while under the
        limit, else a free one still releasing (nearest in pitch), else the voice holding the
        oldest note, which ends now."""
        sample = to_model_samples(time_s)
        free = [v for v in self.voices if v.ended_by(time_s)]
        gap_s = self.expression.legato_gap_s
        slurred = [v for v in free if time_s - v.notes[-1].end_s <= gap_s + 1e-9]
        idle = [v for v in free if v.idle_at(sample)]
        for candidates in (slurred, idle):
            if candidates:
                return min(candidates, key=lambda v: abs(v.notes[-1].pitch - pitch))
        if self.max_voices is None or len(self.voices) < self.max_voices:
            self.voices.append(PerformedVoice(voice_seed(self.part_index, len(self.voices))))
            return self.voices[-1]
        if free:
            return min(free, key=lambda v: abs(v.notes[-1].pitch - pitch))
        voice = min(self.voices, key=lambda v: v.notes[-1].start_s)
        self._end(voice, time_s)
        return voice

    def _note_on(self, time_s: float, pitch: int, velocity: int) -> None:
        note = Note(int(pitch), time_s, math.inf, max(1, int(velocity)))
        line = all(v.ended_by(time_s) for v in self.voices)  # no other key held: a melody
        voice = self._choose_voice(time_s, pitch)
        sample = to_model_samples(time_s)
        if line:  # a melody moves on: what still rings of its last notes stops
            for other in self.voices:
                if other is not voice and other.notes and not other.idle_at(sample):
                    self._choke(other, time_s)
        if voice.idle_at(sample):
            voice.phrases.append(Phrase(sample))
            voice.next_frame = -CONTROL_LEAD_FRAMES
            if not self.keep_history:
                del voice.phrases[:-1]
        voice.phrases[-1].end = math.inf
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
            self.expression_cc = value
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

    def _end(self, voice: PerformedVoice, time_s: float) -> None:
        """The voice's note ends at ``time_s``: its phrase ends once the release has faded."""
        last = voice.notes[-1]
        end_s = max(last.start_s, time_s)
        voice.notes[-1] = Note(last.pitch, last.start_s, end_s, last.velocity)
        voice.held_by_pedal = False
        release_s = self.expression.for_note(voice.notes[-1], voice.seed).release_s
        silent_from = to_model_samples(end_s + release_s - CONTROL_LEAD_S + PHRASE_TAIL_S)
        phrase = voice.phrases[-1]
        phrase.end = phrase.grid_at_or_after(max(silent_from, phrase.start + HOP_SAMPLES))

    def _choke(self, voice: PerformedVoice, time_s: float) -> None:
        """The voice's (released) last note is cut short at ``time_s``, to its ``choke_s`` (see
        curves.CHOKE_S); a note that lets its release ring out is not."""
        last = voice.notes[-1]
        cut_s = self.expression.for_note(last, voice.seed).choke_s
        if last.start_s in voice.chokes or not np.isfinite(cut_s):
            return  # already cut, or a note that lets its release ring out
        voice.chokes[last.start_s] = time_s
        if not self.keep_history:
            voice.chokes = {start: t for start, t in voice.chokes.items()
                            if start >= voice.notes[0].start_s}
        phrase = voice.phrases[-1]
        silent_from = to_model_samples(time_s + cut_s - CONTROL_LEAD_S + PHRASE_TAIL_S)
        phrase.end = min(phrase.end, phrase.grid_at_or_after(max(silent_from, phrase.start + HOP_SAMPLES)))

    def voice_values(self, voice: PerformedVoice, sound: np.ndarray, known: int,
                     statistics: DatasetStatistics | None) -> tuple[np.ndarray, np.ndarray]:
        """Live: (f0_hz, power_db) of ``voice`` at frames sounding at model samples ``sound``
        [n], from the messages applied so far (those up to model sample ``known``)."""
        known_s = np.full(len(sound), known / SAMPLE_RATE_HZ)
        n = len(sound)
        return voice_frames(voice.notes, np.asarray(sound) / SAMPLE_RATE_HZ, known_s,
                            np.full(n, self.bend_semitones), np.full(n, float(self.expression_cc)),
                            np.full(n, float(self.volume)), statistics, self.expression, voice.seed,
                            voice.chokes)

    def phrase_curves(self, voice: PerformedVoice, index: int, statistics: DatasetStatistics | None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Offline (with a kept history): (f0_hz, power_db) of every frame of phrase ``index``
        of ``voice``, -CONTROL_LEAD_FRAMES .. its last (see :class:`Phrase`)."""
        phrase = voice.phrases[index]
        last = (int(phrase.end) - phrase.start) // HOP_SAMPLES
        sound, known = phrase_frame_times(phrase.start, -CONTROL_LEAD_FRAMES, last + 1)
        known_s = known / SAMPLE_RATE_HZ
        controls = self.control_history
        return voice_frames(voice.phrase_notes(index), sound / SAMPLE_RATE_HZ, known_s,
                            step_curve(self.bend_history, known_s, 0.0),
                            step_curve(controls.get(EXPRESSION_CC, []), known_s, DEFAULT_EXPRESSION),
                            step_curve(controls.get(VOLUME_CC, []), known_s, DEFAULT_VOLUME),
                            statistics, self.expression, voice.seed, voice.chokes)
