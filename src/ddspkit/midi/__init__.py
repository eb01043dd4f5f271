"""MIDI: scores (files, notes, parts), how a part is performed, and notes as control curves.

    from ddspkit.midi import read_midi, parts, PartPerformance
    part = parts(read_midi("song.mid"))[0]
    played = PartPerformance.play(part.events, max_voices=8, end_s=part.end_s)

Rendering parts into audio lives in :mod:`ddspkit.render.midi`.
"""

from ddspkit.midi.curves import SILENT_LOUDNESS_DB, Expression, note_frame_values, voice_frames
from ddspkit.midi.parts import Part, parts, select_parts
from ddspkit.midi.performance import PartPerformance, PerformedVoice, Phrase, voice_seed
from ddspkit.midi.score import Note, event_order, on_model_grid, read_midi

__all__ = ["SILENT_LOUDNESS_DB", "Expression", "Note", "Part", "PartPerformance", "PerformedVoice", "Phrase",
           "event_order", "note_frame_values", "on_model_grid", "parts", "read_midi", "select_parts",
           "voice_frames", "voice_seed"]
