"""Notes -> control curves: f0 in Hz and power in dB, frame by frame.

The DDSP-VST plugin feeds its model a bare ADSR times velocity, which sounds mechanical and
often leaves the loudness range the model was trained on. Here the note's dynamic level
(velocity x expression CC11 x volume CC7) picks a power *through the model's own note-on power
quantiles* (pianissimo = the quietest notes it was trained on, fortissimo = the loudest), and
the envelope shapes it in dB; pitch follows bends, glides between legato notes and can take a
delayed vibrato.

Timing (what makes a note sound when it is played):

- A frame has a *sound time* (the sample where the synth reaches its controls; between two
  frames the controls ramp) and a *known time*, one hop earlier, when it must be computed for
  that ramp to start: it uses only the events up to its known time. While a key is held the
  envelope's future is known, so a frame shows the note as it will be at its sound time.
- The decoder answers a change of its power input about two frames late: it was trained on
  features measured over 64 ms windows centred on each frame, in which the power rises before
  the sound does. So power is read :data:`CONTROL_LEAD_S` ahead of the sound time, pitch
  (which the oscillators play directly) at it.
- Where a voice's frames fall is decided by :mod:`ddspkit.midi.performance`: a note that finds
  its voice silent starts the voice's frames at its own sample.

:func:`voice_frames` gives a voice's values at any frames; the offline renderer calls it for
whole phrases, the live synth for one frame at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ddspkit.analysis.profile import ExpressionProfile
from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.config import DB_RANGE, FRAME_RATE_HZ, SAMPLE_RATE_HZ
from ddspkit.dsp.core import midi_to_hz
from ddspkit.midi.score import Note

SILENT_LOUDNESS_DB = -DB_RANGE
CONTROL_LEAD_FRAMES = 2  # the decoder's learned answer time to a power change (see above)
CONTROL_LEAD_S = CONTROL_LEAD_FRAMES / FRAME_RATE_HZ
CHOKE_S = 0.06  # a monophonic line's next note cuts the last one's release to this
# A profile's attack rises linearly in power (amplitude ** 2), not in amplitude: over the same
# heard 10 -> 90 % time it spends far less time at low levels, where the model's timbre is not
# an instrument's (held-out pieces: lower spectral distance, higher loudness correlation).
LEARNED_ATTACK_CURVE = 0.5


@dataclass(frozen=True)
class EnvelopeResponse:
    """How a model answers the envelope's linear ramps: the attack and release a listener
    hears (10 -> 90 % of the way in linear amplitude, as :mod:`ddspkit.analysis.expression`
    measures the recordings a profile is learned from) for each control ramp's length.

    The decoder does not follow its power input faithfully: it cuts below a knee near the
    bottom of its trained range and smooths what it follows, so a short ramp is heard as
    shorter still, and a profile's heard times played as control ramps come out too short.
    ``control_s`` [K] ascending ramp lengths (s); ``heard_attack_s``, ``heard_release_s`` [K]
    non-decreasing, what the model made of them (s). Measured by
    :func:`ddspkit.render.calibration.measure_response`; JSON through :meth:`to_dict`.
    """

    control_s: tuple[float, ...]
    heard_attack_s: tuple[float, ...]
    heard_release_s: tuple[float, ...]

    def attack_control_s(self, heard_s: float) -> float:
        """The control ramp (s) the model plays as an attack heard over ``heard_s`` seconds
        (held at the table's ends: the model can be no faster or slower than measured)."""
        return float(np.interp(heard_s, self.heard_attack_s, self.control_s))

    def release_control_s(self, heard_s: float) -> float:
        """The control ramp (s) the model plays as a release heard over ``heard_s``."""
        return float(np.interp(heard_s, self.heard_release_s, self.control_s))

    def to_dict(self) -> dict[str, Any]:
        return {"control_s": list(self.control_s), "heard_attack_s": list(self.heard_attack_s),
                "heard_release_s": list(self.heard_release_s)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvelopeResponse:
        """From :meth:`to_dict`'s form; ValueError on tables of unequal length, not
        ascending, or not finite (the caller names the file)."""
        names = ("control_s", "heard_attack_s", "heard_release_s")
        columns = [np.asarray(data[name], np.float64) for name in names]
        if len({len(c) for c in columns}) != 1 or len(columns[0]) < 2:
            raise ValueError("envelope response: three tables of one length (2 or more) are expected")
        if not all(np.all(np.isfinite(c)) and np.all(np.diff(c) >= 0) for c in columns):
            raise ValueError("envelope response: the tables must be finite and ascending")
        return cls(*(tuple(float(v) for v in c) for c in columns))


@dataclass
class Expression:
    """How notes become curves. Times in seconds, depths in cents, levels 0..1.

    With a ``profile`` (:class:`ddspkit.analysis.profile.ExpressionProfile`), each note takes
    its vibrato, attack, release, scoop and glide from it (:meth:`for_note`), except the
    fields named in ``fixed`` (what the user set explicitly). Without one, every note is
    shaped alike by these values ("plain"). ``response``: the model's, which turns the
    profile's heard attack and release into the control ramps that the model plays as them
    (without one, the ramps are the heard times / 0.8, as a faithful model would need).
    ``drawn_shapes``: each note draws its attack, release, scoop and glide from the profile;
    by default they are the profile's medians (a shape drawn at random is as likely to move
    away from how a given note was played as towards it; the median is the best guess),
    while each note still draws its vibrato. A profile's notes let their release ring out
    under the next note's attack (``choke_s`` inf), as the recordings' notes do: the release
    the profile heard is the one a listener hears between notes. Their attack rises linearly
    in power (``attack_curve`` :data:`LEARNED_ATTACK_CURVE`; the same 10 -> 90 % time as a
    linear ramp) and they hold their level (no decay: the profile measures none).
    """

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
    scoop_cents: float = 0.0  # the pitch starts this far from the note (after a rest)...
    scoop_s: float = 0.06  # ...and reaches it after this long
    profile: ExpressionProfile | None = None
    fixed: frozenset[str] = field(default_factory=frozenset)
    response: EnvelopeResponse | None = None
    drawn_shapes: bool = False
    choke_s: float = CHOKE_S  # a monophonic line's next note cuts the last one's release to this
    attack_curve: float = 1.0  # the attack's amplitude is (t / attack_s) ** this: 1 linear

    def longest_release_s(self) -> float:
        """The longest release a note may take (a profile's 95th percentile, as drawn)."""
        if self.profile is None or "release_s" in self.fixed:
            return self.release_s
        return max(self.release_s, self._release_control_s(self.profile.release_s.quantiles[-1]))

    def _attack_control_s(self, heard_s: float) -> float:
        # measured 10 -> 90 % of the way; a faithful model's linear ramp takes 1 / 0.8 of that
        return heard_s / 0.8 if self.response is None else self.response.attack_control_s(heard_s)

    def _release_control_s(self, heard_s: float) -> float:
        return heard_s / 0.8 if self.response is None else self.response.release_control_s(heard_s)

    def for_note(self, note: Note, seed: int) -> Expression:
        """The shape of one note: drawn from the profile with a generator seeded by the voice's
        ``seed``, the note's start (16 kHz sample) and pitch, so a render is reproducible and
        no two notes alike; without a profile, this expression itself."""
        if self.profile is None:
            return self
        p = self.profile
        uniform = np.random.default_rng([seed, round(note.start_s * SAMPLE_RATE_HZ), note.pitch]).random(8)
        if not self.drawn_shapes:  # the profile's median shape (see the class's notes)
            uniform[4:] = 0.5
        onset_s = p.vibrato_onset_s.draw(uniform[3])
        with_vibrato = uniform[0] < p.vibrato_share
        drawn = {
            "vibrato_depth_cents": p.vibrato_depth_cents.draw(uniform[1]) if with_vibrato else 0.0,
            "vibrato_rate_hz": p.vibrato_rate_hz.draw(uniform[2]),
            # the fade-in is linear: half the depth is reached half-way through it
            "vibrato_delay_s": max(onset_s - self.vibrato_fade_s / 2, 0.0),
            "attack_s": self._attack_control_s(p.attack_s.draw(uniform[4])),
            "release_s": self._release_control_s(p.release_s.draw(uniform[5])),
            "scoop_cents": p.scoop_cents.draw(uniform[6]),
            # measured 10 -> 90 % of the way; the oscillators follow a linear glide faithfully
            "portamento_s": p.glide_s.draw(uniform[7]) / 0.8,
            "choke_s": np.inf,
            "attack_curve": LEARNED_ATTACK_CURVE,
            # the profile measures no decay: a note holds the level its velocity gives
            "sustain_level": 1.0,
        }
        return replace(self, profile=None, **{k: v for k, v in drawn.items() if k not in self.fixed})


def step_curve(events: list[tuple[float, float]], times_s: np.ndarray, initial: float) -> np.ndarray:
    """Value of a step function given by (time, value) events at each time (events at a time
    count from that time on)."""
    if not events:
        return np.full(len(times_s), initial, np.float64)
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


def _ads(t: np.ndarray, e: Expression, legato: bool) -> np.ndarray:
    """Attack-decay-sustain level (0..1) at ``t`` seconds after the note-on; a slurred
    (legato) note has no attack of its own."""
    rising = np.clip(t / max(e.attack_s, 1e-3), 0, 1) ** e.attack_curve
    level = np.where(t < e.attack_s, rising,
                     1 - (1 - e.sustain_level) * np.clip((t - e.attack_s) / max(e.decay_s, 1e-3), 0, 1))
    return np.where(t < e.attack_s, np.maximum(level, e.sustain_level), level) if legato else level


def is_legato(note: Note, previous: Note | None, expression: Expression) -> bool:
    """A note slurred from the previous note of its voice: it glides, with no new attack."""
    return previous is not None and note.start_s - previous.end_s <= expression.legato_gap_s


def note_frame_values(note: Note, previous: Note | None, sound_s: np.ndarray, known_s: np.ndarray,
                      expression: Expression, choke_s: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Pitch (MIDI, fractional) and envelope (dB re the note's level) of one note at frames.

    ``sound_s``, ``known_s``: [n] each frame's sound time and known time (s, absolute; see
    the module's notes). ``note.end_s`` counts only at frames that know it (end <= known
    time; live it is ``inf`` until the key is released). Pitch at the sound time: a glide
    from the previous note when legato, then the note, with optional vibrato. Envelope at
    the sound time plus :data:`CONTROL_LEAD_S`: an ADSR whose release starts from the level
    at the note-off. Past the release: silence at the note's pitch. ``choke_s``: when the
    next note of a monophonic line began on another voice, which cuts this note's release
    short (to the expression's ``choke_s``, :data:`CHOKE_S` unless a profile's note lets it
    ring: inf), at frames that know it.
    """
    e = expression
    legato = is_legato(note, previous, e)
    t_pitch = np.maximum(sound_s - note.start_s, 0.0)
    t_env = np.maximum(sound_s + CONTROL_LEAD_S - note.start_s, 0.0)
    released = note.end_s <= known_s + 1e-9
    duration_s = note.end_s - note.start_s
    choked = choke_s <= known_s + 1e-9
    sounding = ~released | (t_env < duration_s + e.release_s)
    sounding &= ~choked | (t_env < choke_s - note.start_s + e.choke_s)

    curve = np.full(len(sound_s), float(note.pitch))
    if legato and e.portamento_s > 0:
        curve = previous.pitch + (note.pitch - previous.pitch) * np.clip(t_pitch / e.portamento_s, 0, 1)
    elif e.scoop_cents:
        curve = curve + e.scoop_cents / 100 * np.clip(1 - t_pitch / max(e.scoop_s, 1e-3), 0, 1)
    if e.vibrato_depth_cents > 0:
        fade = np.clip((t_pitch - e.vibrato_delay_s) / max(e.vibrato_fade_s, 1e-3), 0, 1)
        curve = curve + e.vibrato_depth_cents / 100 * fade * np.sin(2 * np.pi * e.vibrato_rate_hz * t_pitch)
    pitch = np.where(sounding, curve, float(note.pitch))

    amp = _ads(t_env, e, legato)
    if released.any():
        at_release = _ads(np.array([duration_s]), e, legato)[0]

        def release(t: np.ndarray) -> np.ndarray:
            return at_release * np.clip(1 - (t - duration_s) / max(e.release_s, 1e-3), 0, 1)

        amp = np.where(released & (t_env >= duration_s), release(t_env), amp)
        if choked.any() and np.isfinite(e.choke_s):
            t_choke = choke_s - note.start_s
            cut = release(np.array([t_choke]))[0] * np.clip(1 - (t_env - t_choke) / e.choke_s, 0, 1)
            amp = np.where(choked & (t_env >= t_choke), np.minimum(amp, cut), amp)
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


def voice_frames(notes: list[Note], sound_s: np.ndarray, known_s: np.ndarray, bend_semitones: np.ndarray,
                 expression_cc: np.ndarray, volume_cc: np.ndarray, statistics: DatasetStatistics | None,
                 expression: Expression, seed: int = 0, chokes: dict[float, float] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One voice's (f0_hz [n], power_db [n]) at frames.

    ``notes``: the voice's notes in order (the last one's ``end_s`` may be inf, still held);
    ``sound_s``, ``known_s``: [n] each frame's sound and known times (s); ``bend_semitones``,
    ``expression_cc``, ``volume_cc``: [n] the part's bend and CC11 / CC7 at each known time.
    A frame plays the latest note that has begun by its known time; a frame that knows no
    note yet is silence at the first note's pitch. ``seed``: the voice's, for notes' shapes
    drawn from a profile (:meth:`Expression.for_note`). ``chokes``: note start (s) -> when a
    later note of a monophonic line cut its release (see :func:`note_frame_values`).
    """
    sound_s, known_s = np.asarray(sound_s, np.float64), np.asarray(known_s, np.float64)
    starts = np.array([n.start_s for n in notes])
    current = np.searchsorted(starts, known_s + 1e-9, side="right") - 1
    pitch = np.full(len(sound_s), float(notes[0].pitch))
    envelope_db = np.full(len(sound_s), SILENT_LOUDNESS_DB)
    velocity_level = np.zeros(len(sound_s))
    for i in np.unique(current[current >= 0]):
        frames = current == i
        previous = notes[i - 1] if i > 0 else None
        pitch[frames], envelope_db[frames] = note_frame_values(
            notes[i], previous, sound_s[frames], known_s[frames], expression.for_note(notes[i], seed),
            (chokes or {}).get(notes[i].start_s, np.inf))
        velocity_level[frames] = notes[i].velocity / 127.0
    power_db = dynamic_power_db(velocity_level, envelope_db, np.asarray(expression_cc, np.float64),
                                np.asarray(volume_cc, np.float64), statistics)
    f0_hz = midi_to_hz(pitch + np.asarray(bend_semitones, np.float64))
    return f0_hz.astype(np.float32), power_db.astype(np.float32)
