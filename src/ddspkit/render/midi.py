"""MIDI parts -> audio: each voice of a performed part through the instrument, mixed, then the room.

The notes and controllers of each part come from :class:`ddspkit.midi.PartPerformance` (the
machine the live synth plays with), their curves from :mod:`ddspkit.midi.curves`; here the
instrument renders them, one model run per voice.
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
from ddspkit.midi.curves import SILENT_LOUDNESS_DB, Expression, first_frame_at_or_after, voice_curves
from ddspkit.midi.parts import Part, parts, select_parts
from ddspkit.midi.performance import PartPerformance
from ddspkit.midi.score import Note, read_midi


@dataclass
class RenderResult:
    audio: np.ndarray  # [T] at sample_rate_hz, peak <= 0.99
    sample_rate_hz: int
    voices: list[tuple[str, int]]  # (part name, number of notes) per rendered voice
    curves: list[tuple[np.ndarray, np.ndarray]]  # (f0_hz, power_db) per voice, 50 frames/s
    notes: list[Note] | None = None  # the transcription, when the input was audio
    warnings: list[str] = field(default_factory=list)  # about the input, one line each


def render_voice(instrument, f0_hz: np.ndarray, power_db: np.ndarray, first_frame: int,
                 seed: int) -> tuple[int, object]:
    """One voice's dry audio, and the sample where it starts in the mix.

    The voice starts to exist at ``first_frame`` (its first note's frame): its GRU is primed
    there with a silent frame at the first note's pitch, as the streaming engine does when a
    note-on creates a voice. Each frame is heard as the ramp *towards* it during the hop
    that follows it (frame k over samples k * hop .. (k + 1) * hop), so that a frame depends
    only on events up to its own time and a live performance renders exactly as this does.
    Returns (start sample in the mix, [T] tensor).
    """
    device = instrument.device
    silent = (np.array([f0_hz[first_frame]], np.float32), np.array([SILENT_LOUDNESS_DB], np.float32))
    f0 = torch.from_numpy(np.concatenate([silent[0], f0_hz[first_frame:]])).to(device)
    power = torch.from_numpy(np.concatenate([silent[1], power_db[first_frame:]])).to(device)
    n_samples = (len(f0) - 1) * HOP_SAMPLES
    audio = instrument.render(f0, power, n_samples, reverb=False, seed=seed, first_frame=first_frame)
    return first_frame * HOP_SAMPLES, audio


def render_parts(instrument, statistics: DatasetStatistics | None, chosen: list[Part],
                 max_voices: int = 8, expression: Expression | None = None, reverb: bool = True,
                 sample_rate_hz: int = 44100, tail_s: float = 1.0) -> RenderResult:
    """Render parts with an instrument: one model run per voice, mixed, then the room."""
    expression = expression or Expression()
    chosen = [p for p in chosen if p.notes]
    if not chosen:
        raise UserError("no notes to render")
    end_s = max(n.end_s for p in chosen for n in p.notes) + expression.release_s + tail_s
    n_frames = int(np.ceil(end_s * FRAME_RATE_HZ)) + 1
    n_samples = n_frames * HOP_SAMPLES  # frame k sounds during hop k (see render_voice)
    device = instrument.device
    mix = torch.zeros(n_samples, device=device)
    voices, curves = [], []
    for part_index, part in enumerate(chosen):
        # The part played by the machine that plays a keyboard live: voices, pedal, bends.
        played = PartPerformance.play(part.events, max_voices, part.end_s, part_index)
        for voice in played.voices:
            f0_hz, power_db = voice_curves(voice.notes, n_frames, statistics, expression,
                                           played.bend_history, played.control_history)
            first = min(first_frame_at_or_after(voice.notes[0].start_s), n_frames - 1)
            offset, audio = render_voice(instrument, f0_hz, power_db, first, voice.seed)
            mix[offset : offset + len(audio)] += audio
            voices.append((part.name, len(voice.notes)))
            curves.append((f0_hz, power_db))
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
