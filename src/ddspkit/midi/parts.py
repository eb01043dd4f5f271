"""MIDI parts: one track of a file (or a transcription) as the messages it holds.

A :class:`Part`'s notes, bends and controllers are what
:class:`ddspkit.midi.performance.PartPerformance` makes of its messages, the same machine
that plays a keyboard live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ddspkit.errors import UserError
from ddspkit.midi.performance import PartPerformance
from ddspkit.midi.score import Note, in_performance_order, instrument_events, on_model_grid


@dataclass
class Part:
    """One track/channel of a MIDI file, or a transcription: its messages, and what they play.

    ``events``: (time in s on the model grid, ``mido`` message) in performance order.
    ``notes`` (note-offs after the sustain pedal's hold), ``pitch_bends`` ((s, semitones), each
    bend at the bend range set when it was played) and ``controls`` (cc -> [(s, value)]) are
    read from the events by the performance machine, so they agree with how the part plays.
    """

    name: str
    program: int
    events: list[tuple[float, object]] = field(default_factory=list)
    is_drum: bool = False
    end_s: float | None = None  # keys (or the pedal) still down by then are released; default: last event

    def __post_init__(self) -> None:
        if self.end_s is None:
            self.end_s = max((t for t, _ in self.events), default=0.0)

    @classmethod
    def from_notes(cls, name: str, notes: list[Note], program: int = 0) -> Part:
        """A part that plays ``notes`` (times in s, no controllers)."""
        import mido

        events = []
        for n in notes:
            events.append((on_model_grid(n.start_s),
                           mido.Message("note_on", note=int(n.pitch), velocity=max(1, int(n.velocity)))))
            events.append((on_model_grid(n.end_s), mido.Message("note_off", note=int(n.pitch))))
        return cls(name, program, in_performance_order(events))

    @cached_property
    def _played(self) -> PartPerformance:
        return PartPerformance.play(self.events, max_voices=None, end_s=self.end_s)

    @property
    def notes(self) -> list[Note]:
        return sorted((n for v in self._played.voices for n in v.notes), key=lambda n: (n.start_s, -n.pitch))

    @property
    def pitch_bends(self) -> list[tuple[float, float]]:
        return self._played.bend_history

    @property
    def controls(self) -> dict[int, list[tuple[float, int]]]:
        return self._played.control_history


def parts(midi) -> list[Part]:
    """Every track/channel of a parsed file (pretty_midi) that has notes, in file order."""
    found = []
    for index, inst in enumerate(midi.instruments):
        if not inst.notes:
            continue
        name = inst.name.strip() or f"part {index}"
        found.append(Part(name, int(inst.program), instrument_events(inst), inst.is_drum,
                          on_model_grid(midi.get_end_time())))
    return found


def select_parts(all_parts: list[Part], selection: list[str] | None) -> list[Part]:
    """Parts by index or name (case-insensitive); default: every part but drums."""
    if not selection:
        chosen = [p for p in all_parts if not p.is_drum]
    else:
        chosen = []
        for key in selection:
            if key.isdigit() and int(key) < len(all_parts):
                chosen.append(all_parts[int(key)])
                continue
            named = [p for p in all_parts if p.name.lower() == key.lower()]
            if not named:
                listing = ", ".join(f"{i}: {p.name}" for i, p in enumerate(all_parts))
                raise UserError(f"no part '{key}' in the MIDI file (parts: {listing})")
            chosen += named
    if not chosen:
        raise UserError("the MIDI file has no notes to render")
    return chosen
