"""MIDI -> performance curves (f0 in Hz, power in dB at 50 frames/s) -> audio.

The DDSP-VST plugin feeds its model a bare ADSR times velocity, which sounds mechanical and
often leaves the loudness range the model was trained on. Here the note's dynamic level
(velocity x expression CC11 x volume CC7) picks a power *through the model's own note-on power
quantiles* (pianissimo = the quietest notes it was trained on, fortissimo = the loudest), and
the envelope shapes it in dB; pitch follows bends (with the file's bend range), glides between
legato notes and can take a delayed vibrato. Tempo changes are handled by pretty_midi.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ddspkit.config import DB_RANGE, FRAME_RATE_HZ
from ddspkit.core import midi_to_hz
from ddspkit.errors import UserError
from ddspkit.stats import DatasetStatistics

SILENCE_DB = -DB_RANGE


@dataclass
class Note:
    pitch: int  # MIDI note number
    start_s: float
    end_s: float  # note-off, after the sustain pedal's hold
    velocity: int  # 1..127


@dataclass
class Part:
    """One track/channel of a MIDI file, with what shapes its notes."""

    name: str
    program: int
    notes: list[Note]
    pitch_bends: list[tuple[float, float]] = field(default_factory=list)  # (s, semitones)
    controls: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # cc -> (s, value)
    is_drum: bool = False


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


def _bend_range_semitones(instrument, default: float = 2.0) -> float:
    """Pitch-bend range from RPN 0 (CC101=0, CC100=0, then CC6 data entry), else ``default``."""
    rpn = {101: None, 100: None}
    for cc in sorted(instrument.control_changes, key=lambda c: c.time):
        if cc.number in rpn:
            rpn[cc.number] = cc.value
        elif cc.number == 6 and rpn[101] == 0 and rpn[100] == 0:
            return float(cc.value)
    return default


def parts(midi) -> list[Part]:
    """Every track/channel of the file that has notes, with sustain (CC64) applied to note-offs."""
    found = []
    for index, inst in enumerate(midi.instruments):
        if not inst.notes:
            continue
        controls: dict[int, list[tuple[float, int]]] = {}
        for cc in sorted(inst.control_changes, key=lambda c: c.time):
            controls.setdefault(cc.number, []).append((float(cc.time), int(cc.value)))
        pedal = controls.get(64, [])
        notes = []
        for n in sorted(inst.notes, key=lambda n: (n.start, n.pitch)):
            end = float(n.end)
            # The sustain pedal holds a released note until the pedal goes up.
            down = [v >= 64 for t, v in pedal if t <= end]
            if down and down[-1]:
                ups = [t for t, v in pedal if t > end and v < 64]
                end = ups[0] if ups else max(end, float(midi.get_end_time()))
            notes.append(Note(int(n.pitch), float(n.start), end, max(1, int(n.velocity))))
        bend_range = _bend_range_semitones(inst)
        bends = [(float(b.time), b.pitch / 8192.0 * bend_range) for b in inst.pitch_bends]
        name = inst.name.strip() or f"part {index}"
        found.append(Part(name, int(inst.program), notes, sorted(bends), controls, inst.is_drum))
    return found


def _step_curve(events: list[tuple[float, float]], times_s: np.ndarray, initial: float) -> np.ndarray:
    """Value of a step function given by (time, value) events at each time."""
    if not events:
        return np.full(len(times_s), initial)
    t = np.array([e[0] for e in events])
    v = np.array([e[1] for e in events], dtype=np.float64)
    idx = np.searchsorted(t, times_s, side="right") - 1
    return np.where(idx >= 0, v[np.clip(idx, 0, None)], initial)


def allocate_voices(notes: list[Note], max_voices: int) -> list[list[Note]]:
    """Split notes into monophonic voices.

    A note goes to a free voice (its last note's key released: a new note cuts a release, as on
    a monophonic synth), choosing the one whose last pitch is
    closest, so that chorale parts stay separate lines; a new voice opens while under
    ``max_voices``; beyond that the voice holding the oldest note is stolen (that note ends).
    """
    voices: list[list[Note]] = []
    for note in sorted(notes, key=lambda n: (n.start_s, -n.pitch)):
        free = [v for v in voices if v[-1].end_s <= note.start_s + 1e-6]
        if free:
            voice = min(free, key=lambda v: abs(v[-1].pitch - note.pitch))
        elif len(voices) < max_voices:
            voice = []
            voices.append(voice)
        else:
            voice = min(voices, key=lambda v: v[-1].start_s)
            last = voice[-1]
            voice[-1] = Note(last.pitch, last.start_s, max(last.start_s, note.start_s), last.velocity)
        voice.append(note)
    return voices


def level_to_power_db(level: np.ndarray, statistics: DatasetStatistics | None) -> np.ndarray:
    """A dynamic level in (0, 1] -> power in dB inside the model's trained note-on range."""
    if statistics is None:
        low, high = -50.0, -15.0
        return low + (high - low) * level
    q = np.asarray(statistics.power_quantiles_db)
    # 5th..95th percentile: the extremes are often stray frames, not playing levels.
    return np.interp(level, np.linspace(0, 1, len(q) - 10), q[5:-5])


def voice_curves(notes: list[Note], part: Part, n_frames: int, statistics: DatasetStatistics | None,
                 expression: Expression) -> tuple[np.ndarray, np.ndarray]:
    """One monophonic voice -> (f0_hz [F], power_db [F]) at 50 frames/s."""
    times_s = np.arange(n_frames) / FRAME_RATE_HZ
    e = expression
    pitch = np.full(n_frames, float(notes[0].pitch))
    envelope_db = np.full(n_frames, SILENCE_DB)
    level = np.zeros(n_frames)
    previous: Note | None = None
    for i, note in enumerate(notes):
        nxt = notes[i + 1] if i + 1 < len(notes) else None
        start = int(np.floor(note.start_s * FRAME_RATE_HZ))
        held_until = nxt.start_s if nxt is not None else np.inf
        end_s = min(note.end_s, held_until)
        stop = min(n_frames, int(np.ceil(min(end_s + e.release_s, held_until) * FRAME_RATE_HZ)))
        t = times_s[start:stop] - note.start_s
        # Pitch: glide from the previous note when legato, then hold (and vibrato).
        curve = np.full(len(t), float(note.pitch))
        legato = previous is not None and note.start_s - previous.end_s <= e.legato_gap_s
        if legato and e.portamento_s > 0:
            glide = np.clip(t / e.portamento_s, 0, 1)
            curve = previous.pitch + (note.pitch - previous.pitch) * glide
        if e.vibrato_depth_cents > 0:
            fade = np.clip((t - e.vibrato_delay_s) / max(e.vibrato_fade_s, 1e-3), 0, 1)
            curve = curve + e.vibrato_depth_cents / 100 * fade * np.sin(2 * np.pi * e.vibrato_rate_hz * t)
        pitch[start:stop] = curve
        pitch[stop:] = note.pitch  # hold through the silence that follows
        # Envelope in dB relative to the note's level: ADSR, the release from where it was.
        on = t < end_s - note.start_s
        ads = np.where(t < e.attack_s, t / max(e.attack_s, 1e-3),
                       1 - (1 - e.sustain_level) * np.clip((t - e.attack_s) / max(e.decay_s, 1e-3), 0, 1))
        if legato:  # no new attack on a slurred note
            ads = np.where(t < e.attack_s, np.maximum(ads, e.sustain_level), ads)
        at_release = ads[on][-1] if on.any() else ads[0]
        release = at_release * np.clip(1 - (t - (end_s - note.start_s)) / max(e.release_s, 1e-3), 0, 1)
        amp = np.where(on, ads, release)
        envelope_db[start:stop] = np.maximum(20 * np.log10(np.maximum(amp, 1e-9)), SILENCE_DB)
        level[start:stop] = note.velocity / 127.0
        previous = note
    # Expression (CC11) and volume (CC7) scale the dynamic level, as they do on any synth.
    level = level * _step_curve(part.controls.get(11, []), times_s, 127) / 127
    level = level * _step_curve(part.controls.get(7, []), times_s, 100) / 100
    base_db = level_to_power_db(np.clip(level, 0, 1), statistics)
    power_db = np.where(envelope_db <= SILENCE_DB, SILENCE_DB,
                        np.maximum(base_db + envelope_db, SILENCE_DB))
    bend = _step_curve(part.pitch_bends, times_s, 0.0)
    return midi_to_hz(pitch + bend).astype(np.float32), power_db.astype(np.float32)


@dataclass
class RenderResult:
    audio: np.ndarray  # [T] at sample_rate_hz, peak <= 0.99
    sample_rate_hz: int
    voices: list[tuple[str, int]]  # (part name, number of notes) per rendered voice
    curves: list[tuple[np.ndarray, np.ndarray]]  # (f0_hz, power_db) per voice, 50 frames/s
    notes: list[Note] | None = None  # the transcription, when the input was audio


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


def render_parts(instrument, statistics: DatasetStatistics | None, chosen: list[Part],
                 max_voices: int = 8, expression: Expression | None = None, reverb: bool = True,
                 sample_rate_hz: int = 44100, tail_s: float = 1.0) -> RenderResult:
    """Render parts with an instrument: one model run per voice, mixed, then the room."""
    import torch

    from ddspkit.audio import resample
    from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ

    expression = expression or Expression()
    chosen = [p for p in chosen if p.notes]
    if not chosen:
        raise UserError("no notes to render")
    end_s = max(n.end_s for p in chosen for n in p.notes) + expression.release_s + tail_s
    n_frames = int(np.ceil(end_s * FRAME_RATE_HZ)) + 1
    n_samples = (n_frames - 1) * HOP_SAMPLES
    device = instrument.device
    mix = torch.zeros(n_samples, device=device)
    voices, curves = [], []
    for part in chosen:
        for voice in allocate_voices(part.notes, max_voices):
            f0_hz, power_db = voice_curves(voice, part, n_frames, statistics, expression)
            mix += instrument.render(torch.from_numpy(f0_hz).to(device),
                                     torch.from_numpy(power_db).to(device), n_samples,
                                     reverb=False, seed=len(voices))
            voices.append((part.name, len(voice)))
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
