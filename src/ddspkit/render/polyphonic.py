"""Polyphonic audio into an instrument: transcribed to notes, each line played as a MIDI part is."""

from __future__ import annotations

import numpy as np

from ddspkit.audio import to_mono
from ddspkit.errors import UserError
from ddspkit.io.model import Model
from ddspkit.io.profiles import model_expression
from ddspkit.midi.curves import Expression
from ddspkit.midi.score import Note
from ddspkit.midi.transcription import transcribe, transcription_part
from ddspkit.render.midi import RenderResult, render_parts


def transfer_polyphonic(model: Model, audio: np.ndarray, sample_rate_hz: int, *, max_voices: int = 8,
                        expression: Expression | None = None, reverb: bool = True,
                        pitch_shift_semitones: int = 0,
                        transcription_options: dict | None = None) -> RenderResult:
    """Polyphonic ``audio`` [T] (a piano part, a quartet) -> ``model``, one voice per line: the
    audio is transcribed to notes (``transcription_options`` go to
    :func:`ddspkit.midi.transcription.transcribe`), shifted by whole semitones, and played as a
    MIDI part is.

    Returns a :class:`RenderResult` at ``sample_rate_hz``, exactly as long as the input (cut or
    padded with silence), whose ``notes`` hold the transcription (unshifted). Raises UserError
    when no note is found.
    """
    audio = to_mono(audio)
    notes = transcribe(audio, sample_rate_hz, **(transcription_options or {}))
    if not notes:
        raise UserError("no notes found in the audio (silent, or nothing with a pitch)")
    shifted = [Note(n.pitch + pitch_shift_semitones, n.start_s, n.end_s, n.velocity) for n in notes]
    expression = model_expression(model.info) if expression is None else expression  # as the player
    result = render_parts(model.instrument, model.info.statistics, [transcription_part(shifted)],
                          max_voices, expression, reverb, sample_rate_hz)
    result.audio = np.pad(result.audio, (0, max(0, len(audio) - len(result.audio))))[:len(audio)]
    result.notes = notes
    return result
