"""MIDI files, messages and notes: what was written, before it is played.

Times are in seconds on the model's 16 kHz sample grid (:func:`on_model_grid`); messages are
``mido`` messages; at one instant they take effect in :func:`event_order`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.errors import UserError

PEDAL_CC, VOLUME_CC, EXPRESSION_CC = 64, 7, 11
RPN_MSB_CC, RPN_LSB_CC, DATA_ENTRY_MSB_CC, DATA_ENTRY_LSB_CC = 101, 100, 6, 38
DEFAULT_VOLUME, DEFAULT_EXPRESSION = 100, 127  # CC7 and CC11 before any is sent
DEFAULT_BEND_RANGE_SEMITONES = 2.0  # the General MIDI default of RPN 0
BEND_WHEEL_CENTRE = 8192  # a 14-bit wheel: mido's ``pitch`` runs -8192..8191


@dataclass
class Note:
    pitch: int  # MIDI note number
    start_s: float
    end_s: float  # note-off, after the sustain pedal's hold
    velocity: int  # 1..127


def on_model_grid(time_s: float) -> float:
    """``time_s`` rounded to the model's 16 kHz sample grid.

    Event times decide which 20 ms frame first shows an event; a file's float times
    (1.4999999 s for 1.5 s) and a stream's sample-rounded ones must decide alike, or a glide
    would start a frame apart and the two renderings would drift out of phase.
    """
    return round(float(time_s) * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ


def event_order(message) -> int:
    """The order of messages at one instant: controllers (the pedal, RPNs), then note-offs,
    then note-ons, the higher first.

    The pedal's state at a note-off is the one set at that instant, a key released and struck
    again at one instant is a new note, and a chord's voices are allocated from the top.
    """
    kind = getattr(message, "type", "")
    if kind == "note_on" and getattr(message, "velocity", 0) > 0:
        return 2 + 127 - getattr(message, "note", 0)
    return 1 if kind in ("note_on", "note_off") else 0


def in_performance_order(events: list[tuple[float, object]]) -> list[tuple[float, object]]:
    """(time, message) events sorted by time, then :func:`event_order`; messages of the same
    kind at one instant keep their order (an RPN's CC101, CC100, CC6 must)."""
    return sorted(events, key=lambda e: (e[0], event_order(e[1])))


def read_midi(path: str | Path):
    """Parse a MIDI file with pretty_midi. Raises UserError on a missing or invalid file."""
    import pretty_midi

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # pretty_midi/mido raise many types for broken files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: not a readable MIDI file ({reason})") from None


def instrument_events(instrument) -> list[tuple[float, object]]:
    """A pretty_midi instrument's messages (controllers, bends, notes; channel 0) as
    (time in s on the model grid, ``mido`` message), in performance order."""
    import mido

    events: list[tuple[float, object]] = []
    for cc in instrument.control_changes:
        events.append((on_model_grid(cc.time),
                       mido.Message("control_change", control=int(cc.number), value=int(cc.value))))
    for bend in instrument.pitch_bends:
        events.append((on_model_grid(bend.time), mido.Message("pitchwheel", pitch=int(bend.pitch))))
    for note in instrument.notes:
        events.append((on_model_grid(note.start),
                       mido.Message("note_on", note=int(note.pitch), velocity=max(1, int(note.velocity)))))
        events.append((on_model_grid(note.end), mido.Message("note_off", note=int(note.pitch))))
    return in_performance_order(events)


def notes_to_midi(notes: Sequence[tuple[int, float, float, int]], *, program: int):
    """A ``pretty_midi.PrettyMIDI`` with one instrument (GM ``program``, 0-based) playing
    ``notes``: ``(pitch_midi, start_s, end_s, velocity)`` tuples."""
    import pretty_midi

    # 960 ticks per beat at pretty_midi's 120 qpm keeps note times within ~0.5 ms.
    midi = pretty_midi.PrettyMIDI(resolution=960)
    instrument = pretty_midi.Instrument(program=program)
    for pitch_midi, start_s, end_s, velocity in notes:
        instrument.notes.append(pretty_midi.Note(velocity=int(velocity), pitch=int(pitch_midi),
                                                 start=float(start_s), end=float(end_s)))
    midi.instruments.append(instrument)
    return midi
