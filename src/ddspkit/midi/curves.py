"""Notes -> control curves: f0 in Hz and power in dB at 50 frames/s.

The DDSP-VST plugin feeds its model a bare ADSR times velocity, which sounds mechanical and
often leaves the loudness range the model was trained on. Here the note's dynamic level
(velocity x expression CC11 x volume CC7) picks a power *through the model's own note-on power
quantiles* (pianissimo = the quietest notes it was trained on, fortissimo = the loudest), and
the envelope shapes it in dB; pitch follows bends, glides between legato notes and can take a
delayed vibrato. One note's values at any frame times come from :func:`note_frame_values`,
which the offline renderer calls for whole notes and the live synth for one frame at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.config import DB_RANGE, FRAME_RATE_HZ
from ddspkit.dsp.core import midi_to_hz
from ddspkit.midi.score import DEFAULT_EXPRESSION, DEFAULT_VOLUME, EXPRESSION_CC, VOLUME_CC, Note

SILENT_LOUDNESS_DB = -DB_RANGE


@dataclass
class Expression:
    """How notes become curves. Times in seconds, depths in cents, levels 0..1."""

    attack_s: float = 0.04
    decay_s: float = 0.2
    sustain_level: float = 0.8
    release_s: float = 0.25
    portamento_s: float = 0.06  # glide between legato notes
    legato_gap_s: float = 0.03  # a gap this short still counts as legato
    vibrato_rate_hz: float = 5.5
    vibrato_depth_cents: float = 0.0  # 0 = off
    vibrato_delay_s: float = 0.3
    vibrato_fade_s: float = 0.3


def _step_curve(events: list[tuple[float, float]], times_s: np.ndarray, initial: float) -> np.ndarray:
    """Value of a step function given by (time, value) events at each time."""
    if not events:
        return np.full(len(times_s), initial)
    t = np.array([e[0] for e in events])
    v = np.array([e[1] for e in events], dtype=np.float64)
    idx = np.searchsorted(t, times_s, side="right") - 1
    return np.where(idx >= 0, v[np.clip(idx, 0, None)], initial)


def level_to_power_db(level: np.ndarray, statistics: DatasetStatistics | None) -> np.ndarray:
    """A dynamic level in (0, 1] -> power in dB inside the model's trained note-on range."""
    if statistics is None:
        low, high = -50.0, -15.0
        return low + (high - low) * level
    q = np.asarray(statistics.power_quantiles_db)
    # 5th..95th percentile: the extremes are often stray frames, not playing levels.
    return np.interp(level, np.linspace(0, 1, len(q) - 10), q[5:-5])


def first_frame_at_or_after(time_s: float) -> int:
    """Index of the first frame (50 per second) at or after ``time_s``: a note shapes the
    frames from there on, so a frame never depends on what happens after its own time."""
    return int(np.ceil(time_s * FRAME_RATE_HZ - 1e-9))


def _ads(t: np.ndarray, e: Expression) -> np.ndarray:
    """Attack-decay-sustain level (0..1) at ``t`` seconds after the note-on."""
    return np.where(t < e.attack_s, t / max(e.attack_s, 1e-3),
                    1 - (1 - e.sustain_level) * np.clip((t - e.attack_s) / max(e.decay_s, 1e-3), 0, 1))


def note_frame_values(note: Note, previous: Note | None, t_s: np.ndarray, expression: Expression
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Pitch (MIDI, fractional) and envelope (dB re the note's level) of one note at frames.

    ``t_s``: [n] frame times minus the note-on, each >= 0, with every frame between the
    note-on and the voice's next note-on. ``note.end_s`` is the note-off (after the sustain
    pedal), ``inf`` while the key is held: a frame uses only what happened up to its time,
    which is how the streaming engine and ``render`` share this mapping.
    Pitch glides from the previous note when legato, then holds, with optional vibrato;
    the envelope is an ADSR whose release starts from the level of the last frame before
    the note-off. Past the release: silence at the note's pitch.
    """
    e = expression
    duration_s = note.end_s - note.start_s
    sounding = t_s < duration_s + e.release_s
    curve = np.full(len(t_s), float(note.pitch))
    legato = previous is not None and note.start_s - previous.end_s <= e.legato_gap_s
    # Glides and vibrato run from the note's first frame, the moment it starts to sound: they
    # then depend on frame times alone, and the oscillator's phase (which integrates pitch)
    # is the same whether the note-on came from a file or, rounded to a sample, from a stream.
    t_pitch = t_s + note.start_s - first_frame_at_or_after(note.start_s) / FRAME_RATE_HZ
    if legato and e.portamento_s > 0:
        curve = previous.pitch + (note.pitch - previous.pitch) * np.clip(t_pitch / e.portamento_s, 0, 1)
    if e.vibrato_depth_cents > 0:
        fade = np.clip((t_pitch - e.vibrato_delay_s) / max(e.vibrato_fade_s, 1e-3), 0, 1)
        curve = curve + e.vibrato_depth_cents / 100 * fade * np.sin(2 * np.pi * e.vibrato_rate_hz * t_pitch)
    pitch = np.where(sounding, curve, float(note.pitch))
    ads = _ads(t_s, e)
    if legato:  # no new attack on a slurred note
        ads = np.where(t_s < e.attack_s, np.maximum(ads, e.sustain_level), ads)
    amp = ads
    if np.isfinite(note.end_s):
        # The release starts from the level of the last frame before the note-off (or of
        # the note's first frame, when no frame fell inside a very short note).
        first = first_frame_at_or_after(note.start_s)
        last_on = max(first, first_frame_at_or_after(note.end_s) - 1)
        t_ref = np.array([last_on / FRAME_RATE_HZ - note.start_s])
        at_release = _ads(t_ref, e)
        if legato:
            at_release = np.where(t_ref < e.attack_s, np.maximum(at_release, e.sustain_level), at_release)
        release = at_release[0] * np.clip(1 - (t_s - duration_s) / max(e.release_s, 1e-3), 0, 1)
        amp = np.where(t_s < duration_s, ads, release)
    envelope_db = np.maximum(20 * np.log10(np.maximum(amp, 1e-9)), SILENT_LOUDNESS_DB)
    return pitch, np.where(sounding, envelope_db, SILENT_LOUDNESS_DB)


def dynamic_power_db(velocity_level: np.ndarray, envelope_db: np.ndarray, expression_cc: np.ndarray,
                     volume_cc: np.ndarray, statistics: DatasetStatistics | None) -> np.ndarray:
    """Frame power in dB: velocity x expression (CC11) x volume (CC7) picks a level inside the
    model's trained range (:func:`level_to_power_db`); the envelope shapes it in dB."""
    level = velocity_level * expression_cc / 127 * volume_cc / 100
    base_db = level_to_power_db(np.clip(level, 0, 1), statistics)
    return np.where(envelope_db <= SILENT_LOUDNESS_DB, SILENT_LOUDNESS_DB,
                    np.maximum(base_db + envelope_db, SILENT_LOUDNESS_DB))


def voice_curves(notes: list[Note], n_frames: int, statistics: DatasetStatistics | None,
                 expression: Expression, pitch_bends: list[tuple[float, float]],
                 controls: dict[int, list[tuple[float, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """One monophonic voice -> (f0_hz [F], power_db [F]) at 50 frames/s.

    ``pitch_bends``: the part's (s, semitones); ``controls``: its cc -> [(s, value)] (CC7 and
    CC11 are used). Frame k shows the voice's state at its own time k / 50 s (see
    :func:`note_frame_values`).
    """
    times_s = np.arange(n_frames) / FRAME_RATE_HZ
    pitch = np.full(n_frames, float(notes[0].pitch))
    envelope_db = np.full(n_frames, SILENT_LOUDNESS_DB)
    velocity_level = np.zeros(n_frames)
    previous: Note | None = None
    for i, note in enumerate(notes):
        first = first_frame_at_or_after(note.start_s)
        stop = first_frame_at_or_after(notes[i + 1].start_s) if i + 1 < len(notes) else n_frames
        if first < min(stop, n_frames):
            frames = slice(first, min(stop, n_frames))
            pitch[frames], envelope_db[frames] = note_frame_values(
                note, previous, times_s[frames] - note.start_s, expression)
            velocity_level[frames] = note.velocity / 127.0
        previous = note
    power_db = dynamic_power_db(velocity_level, envelope_db,
                                _step_curve(controls.get(EXPRESSION_CC, []), times_s, DEFAULT_EXPRESSION),
                                _step_curve(controls.get(VOLUME_CC, []), times_s, DEFAULT_VOLUME), statistics)
    bend = _step_curve(pitch_bends, times_s, 0.0)
    return midi_to_hz(pitch + bend).astype(np.float32), power_db.astype(np.float32)
