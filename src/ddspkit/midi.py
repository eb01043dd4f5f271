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

from ddspkit.config import DB_RANGE, FRAME_RATE_HZ, SAMPLE_RATE_HZ
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


def on_model_grid(time_s: float) -> float:
    """``time_s`` rounded to the model's 16 kHz sample grid.

    Event times decide which 20 ms frame first shows an event; a file's float times
    (1.4999999 s for 1.5 s) and a stream's sample-rounded ones must decide alike, or a glide
    would start a frame apart and the two renderings would drift out of phase.
    """
    return round(float(time_s) * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ


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
            controls.setdefault(cc.number, []).append((on_model_grid(cc.time), int(cc.value)))
        pedal = controls.get(64, [])
        notes = []
        for n in sorted(inst.notes, key=lambda n: (n.start, n.pitch)):
            end = on_model_grid(n.end)
            # The sustain pedal holds a released note until the pedal goes up.
            down = [v >= 64 for t, v in pedal if t <= end]
            if down and down[-1]:
                ups = [t for t, v in pedal if t > end and v < 64]
                end = ups[0] if ups else max(end, on_model_grid(midi.get_end_time()))
            notes.append(Note(int(n.pitch), on_model_grid(n.start), end, max(1, int(n.velocity))))
        bend_range = _bend_range_semitones(inst)
        bends = [(on_model_grid(b.time), b.pitch / 8192.0 * bend_range) for b in inst.pitch_bends]
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
    envelope_db = np.maximum(20 * np.log10(np.maximum(amp, 1e-9)), SILENCE_DB)
    return pitch, np.where(sounding, envelope_db, SILENCE_DB)


def dynamic_power_db(velocity_level: np.ndarray, envelope_db: np.ndarray, expression_cc: np.ndarray,
                     volume_cc: np.ndarray, statistics: DatasetStatistics | None) -> np.ndarray:
    """Frame power in dB: velocity x expression (CC11) x volume (CC7) picks a level inside the
    model's trained range (:func:`level_to_power_db`); the envelope shapes it in dB."""
    level = velocity_level * expression_cc / 127 * volume_cc / 100
    base_db = level_to_power_db(np.clip(level, 0, 1), statistics)
    return np.where(envelope_db <= SILENCE_DB, SILENCE_DB, np.maximum(base_db + envelope_db, SILENCE_DB))


def voice_curves(notes: list[Note], part: Part, n_frames: int, statistics: DatasetStatistics | None,
                 expression: Expression) -> tuple[np.ndarray, np.ndarray]:
    """One monophonic voice -> (f0_hz [F], power_db [F]) at 50 frames/s.

    Frame k shows the voice's state at its own time k / 50 s (see note_frame_values).
    """
    times_s = np.arange(n_frames) / FRAME_RATE_HZ
    pitch = np.full(n_frames, float(notes[0].pitch))
    envelope_db = np.full(n_frames, SILENCE_DB)
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
                                _step_curve(part.controls.get(11, []), times_s, 127),
                                _step_curve(part.controls.get(7, []), times_s, 100), statistics)
    bend = _step_curve(part.pitch_bends, times_s, 0.0)
    return midi_to_hz(pitch + bend).astype(np.float32), power_db.astype(np.float32)


@dataclass
class RenderResult:
    audio: np.ndarray  # [T] at sample_rate_hz, peak <= 0.99
    sample_rate_hz: int
    voices: list[tuple[str, int]]  # (part name, number of notes) per rendered voice
    curves: list[tuple[np.ndarray, np.ndarray]]  # (f0_hz, power_db) per voice, 50 frames/s
    notes: list[Note] | None = None  # the transcription, when the input was audio
    warnings: list[str] = field(default_factory=list)  # about the input, one line each


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


def voice_seed(part_index: int, voice_index: int) -> int:
    """The noise seed of a voice: the same in ``render`` and in the streaming engine."""
    return 1000 * part_index + voice_index


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
    import torch

    from ddspkit.config import HOP_SAMPLES

    device = instrument.device
    silent = (np.array([f0_hz[first_frame]], np.float32), np.array([SILENCE_DB], np.float32))
    f0 = torch.from_numpy(np.concatenate([silent[0], f0_hz[first_frame:]])).to(device)
    power = torch.from_numpy(np.concatenate([silent[1], power_db[first_frame:]])).to(device)
    n_samples = (len(f0) - 1) * HOP_SAMPLES
    audio = instrument.render(f0, power, n_samples, reverb=False, seed=seed, first_frame=first_frame)
    return first_frame * HOP_SAMPLES, audio


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
    n_samples = n_frames * HOP_SAMPLES  # frame k sounds during hop k (see render_voice)
    device = instrument.device
    mix = torch.zeros(n_samples, device=device)
    voices, curves = [], []
    for part_index, part in enumerate(chosen):
        for voice_index, voice in enumerate(allocate_voices(part.notes, max_voices)):
            f0_hz, power_db = voice_curves(voice, part, n_frames, statistics, expression)
            first = min(first_frame_at_or_after(voice[0].start_s), n_frames - 1)
            offset, audio = render_voice(instrument, f0_hz, power_db, first,
                                         voice_seed(part_index, voice_index))
            mix[offset : offset + len(audio)] += audio
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
