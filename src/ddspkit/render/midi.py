"""MIDI parts -> audio: each voice of a performed part through the instrument, mixed, then the room.

The notes and controllers of each part come from :class:`ddspkit.midi.PartPerformance` (the
machine the live synth plays with), their curves from :mod:`ddspkit.midi.curves`; here the
instrument renders them, one model run per phrase of each voice (a phrase starts at its first
note-on's own sample: see :class:`ddspkit.midi.performance.Phrase`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.audio import resample
from ddspkit.config import FRAME_RATE_HZ, HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.errors import UserError
from ddspkit.midi.curves import CONTROL_LEAD_FRAMES, SILENT_LOUDNESS_DB, Expression
from ddspkit.midi.parts import Part, parts, select_parts
from ddspkit.midi.performance import PartPerformance
from ddspkit.midi.score import Note, read_midi
from ddspkit.model import Controls
from ddspkit.render.calibration import calibrated


@dataclass
class RenderResult:
    audio: np.ndarray  # [T] at sample_rate_hz, peak <= 0.99
    sample_rate_hz: int
    voices: list[tuple[str, int]]  # (part name, number of notes) per rendered voice
    curves: list[tuple[np.ndarray, np.ndarray]]  # (f0_hz, power_db) per voice, 50 frames/s
    notes: list[Note] | None = None  # the transcription, when the input was audio
    warnings: list[str] = field(default_factory=list)  # about the input, one line each


def render_phrase(instrument, f0_hz: np.ndarray, power_db: np.ndarray, seed: int, first_noise_frame: int
                  ) -> torch.Tensor:
    """One phrase's dry audio [T] from its first sound (its note-on) to its last frame.

    ``f0_hz``, ``power_db``: [F] the phrase's frames from -CONTROL_LEAD_FRAMES on
    (:meth:`PartPerformance.phrase_curves`). The decoder, primed with silence at the first
    frame's pitch, runs over all of them; the frames before the note-on only prime it, and
    the oscillators start there, at phase 0 (as the streaming engine's voices do). The noise
    of frame i is ``frame_noise(seed, first_noise_frame + i)``.
    """
    device = instrument.device
    f0 = torch.from_numpy(f0_hz).to(device)
    with torch.no_grad():
        controls, _ = instrument.controls(f0[None], torch.from_numpy(power_db).to(device)[None])
    lead = CONTROL_LEAD_FRAMES
    heard = Controls(*(c[:, lead:] for c in (controls.amplitude, controls.harmonic_distribution,
                                             controls.noise_magnitudes)))
    n_samples = (len(f0_hz) - 1 - lead) * HOP_SAMPLES
    with torch.no_grad():
        audio = instrument.synthesize_chunked(heard, f0[lead:], n_samples, 1500, seed,
                                              first_noise_frame + lead)
    return audio[0]


def _display_curves(frames: list[tuple[int, np.ndarray, np.ndarray]], n_frames: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A voice's phrases [(start sample, f0 [F], power [F]) from their first heard frame] ->
    (f0_hz, power_db) on the 50 frames/s grid from time 0, for plots (silence between)."""
    times = np.arange(n_frames) * HOP_SAMPLES
    f0_hz = np.full(n_frames, frames[0][1][0], np.float32)
    power_db = np.full(n_frames, SILENT_LOUDNESS_DB, np.float32)
    for start, f0, power in frames:
        sound = start + np.arange(len(f0)) * HOP_SAMPLES
        inside = (times >= sound[0]) & (times <= sound[-1])
        f0_hz[inside] = np.interp(times[inside], sound, f0)
        power_db[inside] = np.interp(times[inside], sound, power)
        f0_hz[times > sound[-1]] = f0[-1]
    return f0_hz, power_db


def render_parts(instrument, statistics: DatasetStatistics | None, chosen: list[Part],
                 max_voices: int = 8, expression: Expression | None = None, reverb: bool = True,
                 sample_rate_hz: int = 44100, tail_s: float = 1.0) -> RenderResult:
    """Render parts with an instrument: one model run per phrase of each voice, mixed, then
    the room. Each phrase sounds from its first note-on's own sample."""
    # a profile's heard attacks and releases, as ramps this model plays as them
    expression = calibrated(expression or Expression(), instrument, statistics)
    chosen = [p for p in chosen if p.notes]
    if not chosen:
        raise UserError("no notes to render")
    end_s = max(n.end_s for p in chosen for n in p.notes) + expression.longest_release_s() + tail_s
    n_frames = int(np.ceil(end_s * FRAME_RATE_HZ)) + 1
    n_samples = n_frames * HOP_SAMPLES
    device = instrument.device
    mix = torch.zeros(n_samples, device=device)
    voices, curves = [], []
    for part_index, part in enumerate(chosen):
        # The part played by the machine that plays a keyboard live: voices, pedal, bends.
        played = PartPerformance.play(part.events, max_voices, part.end_s, part_index, expression)
        for voice in played.voices:
            heard = []
            for index, phrase in enumerate(voice.phrases):
                f0_hz, power_db = played.phrase_curves(voice, index, statistics)
                audio = render_phrase(instrument, f0_hz, power_db, voice.seed,
                                      phrase.start // HOP_SAMPLES)
                audio = audio[: max(0, n_samples - phrase.start)]
                mix[phrase.start : phrase.start + len(audio)] += audio
                heard.append((phrase.start, f0_hz[CONTROL_LEAD_FRAMES:], power_db[CONTROL_LEAD_FRAMES:]))
            voices.append((part.name, len(voice.notes)))
            curves.append(_display_curves(heard, n_frames))
    if reverb:
        with torch.no_grad():
            generator = torch.Generator(device=device).manual_seed(0)
            mix = instrument.reverb(mix[None], generator)[0]
    audio = resample(mix.cpu().numpy(), SAMPLE_RATE_HZ, sample_rate_hz)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0.99:  # mixed voices must never clip
        audio = audio * (0.99 / peak)
    return RenderResult(audio.astype(np.float32), sample_rate_hz, voices, curves)


def render_midi_file(instrument, statistics: DatasetStatistics | None, midi_path: str | Path,
                     part_selection: list[str] | None = None, max_voices: int = 8,
                     expression: Expression | None = None, reverb: bool = True,
                     sample_rate_hz: int = 44100, tail_s: float = 1.0) -> RenderResult:
    """Render the selected parts of a MIDI file with an instrument (one model run per voice)."""
    chosen = select_parts(parts(read_midi(midi_path)), part_selection)
    return render_parts(instrument, statistics, chosen, max_voices, expression, reverb,
                        sample_rate_hz, tail_s)
