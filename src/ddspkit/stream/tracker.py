"""Pitch and power of a live input, frame by frame, with 10 ms of lookahead.

The offline path tracks pitch with swift-f0, which needs 32 ms of audio after a frame before
it reports it voiced at all: with the synthesizer's one-frame interpolation that alone would
exceed the 32 ms latency budget. Here each frame's pitch comes from the normalized square
difference function (McLeod and Wolf's MPM) over a 30 ms window ending 10 ms after the
frame: continuous pitch (vibrato and slides kept, never snapped to semitones) with a median
error of 2 to 4 cents against swift-f0's full-context track on voice, violin, flute, trumpet
and cello. Its peak height ("clarity", 0..1) is the confidence.

Frame power is the mean square over the 20 ms ending with the lookahead (the offline feature
uses 64 ms centred windows, which would need 32 ms of lookahead); the mean is removed first,
so a DC offset reads as silence. Two gates with hysteresis decide whether a note sounds: clarity (room noise,
breath and bow noise have none) and level. While they are closed the model hears silence,
so noise between notes stays silent instead of becoming a buzz, and the last confident pitch
is held, so note edges never hiccup to a wrong pitch.

A note's attack is often noise before it has a pitch (a bow's scrape, a breath): a sound that
rises from silence with some periodicity (clarity 0.4; white noise stays under 0.33) opens the
gate *unpitched* for up to two frames, its pitch provisional (:attr:`TrackedFrame.pitched`
False; the engine sounds only the model's noise), until the pitch is clear; a sound that
never finds one closes again, and only silence re-arms it.

A note after silence starts the frame grid again (:meth:`StreamTracker.early_onset`): while the
gates are closed, or an attack's pitch is not yet clear, the opening test also runs every 4 ms
between frames, and where it passes, the next frame is taken there and the grid goes on from
it. A note's first frame is then at most 4 ms after the tracker can tell it is there, not up
to a whole 20 ms frame later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ddspkit.config import DB_RANGE, HOP_SAMPLES, SAMPLE_RATE_HZ


@dataclass(frozen=True)
class TrackerSettings:
    """Tracker parameters; sample counts at 16 kHz."""

    lookahead_samples: int = 160  # input needed past a frame's time: 10 ms
    pitch_window_samples: int = 480  # 30 ms: two periods of 67 Hz...
    short_pitch_window_samples: int = 320  # ...or 20 ms, centred on the frame, above 110 Hz
    short_window_min_f0_hz: float = 110.0
    power_window_samples: int = 320  # ending with the lookahead, as the pitch window
    min_f0_hz: float = 50.0
    max_f0_hz: float = 2000.0
    key_peak_ratio: float = 0.9  # MPM: first NSDF peak within this ratio of the highest
    clarity_open: float = 0.8  # a note starts when clarity reaches this...
    clarity_close: float = 0.6  # ...and ends when it stays below this
    level_open_db: float = -60.0  # and the level gate, likewise
    level_close_db: float = -66.0
    close_after_frames: int = 2  # frames below the close thresholds before a gate closes
    closed_attenuation_db: float = 40.0  # power the model hears below the input while closed
    onset_check_samples: int = 64  # while closed, the gates are also tried this often (4 ms); 0: never
    # A sound rising from silence with some periodicity is a note's attack before its pitch
    # is clear (a bow's or a breath's noise): it opens the gate unpitched, for at most
    # attack_frames frames, unless the pitch becomes clear (white noise stays under 0.33).
    clarity_attack: float = 0.4
    attack_frames: int = 2


@dataclass
class TrackedFrame:
    """One 20 ms frame: pitch (held while unvoiced), clarity, power, and whether a note sounds."""

    f0_hz: float
    confidence: float
    power_db: float
    gate_open: bool
    pitched: bool = True  # False in a note's attack before its pitch is clear


def nsdf_pitch(window: np.ndarray, min_f0_hz: float, max_f0_hz: float, key_peak_ratio: float,
               sample_rate_hz: int = SAMPLE_RATE_HZ) -> tuple[float, float]:
    """(f0 in Hz, clarity 0..1) of [W] audio by MPM; (0, 0) when nothing is periodic.

    NSDF(tau) = 2 r(tau) / m(tau), r the autocorrelation over the overlap and m the energy of
    both overlapping parts: 1 for a perfectly periodic signal at its period. The first key
    maximum (highest point between positive zero crossings) within ``key_peak_ratio`` of the
    highest wins, which avoids subharmonic (octave-low) choices; a parabola refines the lag.
    """
    x = window - window.mean()
    n = len(x)
    n_fft = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, n_fft)
    r = np.fft.irfft(spectrum * np.conj(spectrum), n_fft)[:n]
    energy = np.cumsum(x * x)
    tau = np.arange(n)
    m = energy[n - 1 - tau] + energy[-1] - np.concatenate([[0.0], energy[:-1]])
    nsdf = 2 * r / np.maximum(m, 1e-12)
    lo = max(2, int(sample_rate_hz / max_f0_hz))
    hi = min(int(sample_rate_hz / min_f0_hz) + 2, n // 2)
    if hi <= lo + 2:
        return 0.0, 0.0
    seg = nsdf[:hi]
    positive = seg > 0
    # Key maxima: the highest point of each positive run after the first negative dip.
    rises = np.flatnonzero(~positive[:-1] & positive[1:]) + 1
    falls = np.flatnonzero(positive[:-1] & ~positive[1:]) + 1
    peaks = []
    for start in rises[(rises >= lo - 1) & (rises < hi - 1)]:
        after = falls[falls > start]
        stop = int(after[0]) if len(after) else hi - 1
        peaks.append(start + int(np.argmax(seg[start:max(stop, start + 1)])))
    peaks = [p for p in peaks if lo <= p < hi - 1]
    if not peaks:
        return 0.0, 0.0
    best = max(seg[p] for p in peaks)
    chosen = next(p for p in peaks if seg[p] >= key_peak_ratio * best)
    a, b, c = seg[chosen - 1], seg[chosen], seg[chosen + 1]
    curvature = a - 2 * b + c
    offset = 0.5 * (a - c) / curvature if curvature < 0 else 0.0
    return float(sample_rate_hz / (chosen + offset)), float(np.clip(b, 0.0, 1.0))


class _Gate:
    """Opens at once at ``open_at``; closes after ``frames`` frames below ``close_at``."""

    def __init__(self, open_at: float, close_at: float, frames: int) -> None:
        self.open_at, self.close_at, self.frames = open_at, close_at, frames
        self.is_open, self._below = False, 0

    def update(self, value: float) -> bool:
        if not self.is_open:
            self.is_open = value >= self.open_at
            self._below = 0
        elif value < self.close_at:
            self._below += 1
            self.is_open = self._below < self.frames
        else:
            self._below = 0
        return self.is_open


class StreamTracker:
    """Feed 16 kHz audio with :meth:`push`; take frames with :meth:`next_frame` while
    :meth:`ready`. Frame k is at sample k * 320 and needs input up to k * 320 + lookahead."""

    def __init__(self, settings: TrackerSettings | None = None, initial_f0_hz: float = 220.0) -> None:
        self.settings = s = settings or TrackerSettings()
        self.history = max(s.pitch_window_samples, s.power_window_samples)
        self._buffer = np.zeros(self.history, np.float32)  # zeros before the stream starts
        self._buffer_start = -self.history  # stream index of _buffer[0]
        self.next_index = 0  # the next frame to report
        self.origin = 0  # frame k is at sample origin + k * 320; an early onset moves it
        self._tried_until = s.lookahead_samples - HOP_SAMPLES  # the last window end tested
        self.f0_hz = initial_f0_hz
        self._voiced = _Gate(s.clarity_open, s.clarity_close, s.close_after_frames)
        self._loud = _Gate(s.level_open_db, s.level_close_db, s.close_after_frames)
        self._attack_left = 0  # frames an unpitched attack may still last
        self._armed = True  # no sound since the last silence: an attack may begin
        self._note_sounding = False  # the last frame's gate was open on a clear pitch

    def push(self, audio_16k: np.ndarray) -> None:
        clean = np.nan_to_num(np.asarray(audio_16k, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        self._buffer = np.concatenate([self._buffer, np.clip(clean, -1.0, 1.0)])

    @property
    def next_centre(self) -> int:
        """Stream sample (16 kHz) of the next frame."""
        return self.origin + self.next_index * HOP_SAMPLES

    def ready(self) -> bool:
        return self._buffer_start + len(self._buffer) >= self.next_centre + self.settings.lookahead_samples

    def early_onset(self) -> int:
        """While no note sounds (or its attack has no clear pitch yet), try the opening test
        every ``onset_check_samples`` between the last frame and the next; where it passes, the
        next frame moves there (it is then :meth:`ready`). Returns how many samples earlier the
        next frame now is (0: no onset).
        """
        s = self.settings
        next_end = self.next_centre + s.lookahead_samples
        if s.onset_check_samples <= 0 or self._note_sounding:
            return 0
        available = self._buffer_start + len(self._buffer)
        end = self._tried_until + s.onset_check_samples
        while end < next_end and end <= available:
            self._tried_until = end
            if self._opens(end):
                self.origin -= next_end - end
                return next_end - end
            end += s.onset_check_samples
        return 0

    def _opens(self, end: int) -> bool:
        """Would a frame whose windows end at stream sample ``end`` start a note (its attack)?"""
        s = self.settings
        stop = end - self._buffer_start
        power_window = self._buffer[stop - s.power_window_samples : stop].astype(np.float64)
        if 10.0 * np.log10(max(float(np.var(power_window)), 1e-12)) < s.level_open_db:
            return False
        pitch_window = self._buffer[stop - s.pitch_window_samples : stop].astype(np.float64)
        f0_hz, clarity = nsdf_pitch(pitch_window, s.min_f0_hz, s.max_f0_hz, s.key_peak_ratio)
        needed = min(s.clarity_attack, s.clarity_open) if self._armed else s.clarity_open
        return f0_hz > 0 and clarity >= needed

    def next_frame(self) -> TrackedFrame:
        s = self.settings
        centre = self.next_centre
        end = centre + s.lookahead_samples - self._buffer_start
        self._tried_until = centre + s.lookahead_samples
        # Two periods of the lowest expected pitch; the longer window also looks further back,
        # so a sounding note above 110 Hz gets the short one, centred: no lag on vibrato.
        width = (s.short_pitch_window_samples if self._voiced.is_open and
                 self.f0_hz >= s.short_window_min_f0_hz else s.pitch_window_samples)
        pitch_window = self._buffer[end - width : end].astype(np.float64)
        power_window = self._buffer[end - s.power_window_samples : end]
        variance = float(np.var(power_window.astype(np.float64)))
        power_db = max(10.0 * np.log10(max(variance, 1e-12)), -DB_RANGE)
        f0_hz, clarity = nsdf_pitch(pitch_window, s.min_f0_hz, s.max_f0_hz, s.key_peak_ratio)
        loud = self._loud.update(power_db)
        # A quiet periodic tail (a string still ringing) does not keep the pitch gate open
        # for the next note: its pitch would start the note.
        voiced = self._voiced.update(clarity if f0_hz > 0 and loud else 0.0)
        gate_open = loud and voiced
        if gate_open and f0_hz > 0 and clarity >= s.clarity_close:
            self.f0_hz = f0_hz  # a confident reading; otherwise the last one is held
        reported_f0_hz, pitched = self.f0_hz, True
        if gate_open:
            self._armed, self._attack_left = False, 0  # a note sounds: its end must come first
        elif self._unpitched_attack(loud, f0_hz, clarity):
            gate_open, pitched, reported_f0_hz = True, False, f0_hz  # a provisional pitch
        if not gate_open:
            power_db = max(power_db - s.closed_attenuation_db, -DB_RANGE)
        self._note_sounding = gate_open and pitched
        self.next_index += 1
        self._trim()
        return TrackedFrame(reported_f0_hz, clarity, power_db, gate_open, pitched)

    def _unpitched_attack(self, loud: bool, f0_hz: float, clarity: float) -> bool:
        """Is this frame, its gates closed, a note's attack before its pitch is clear? A sound
        rising from silence with some periodicity is, for at most ``attack_frames`` frames;
        only silence (the level gate closed) lets another attack begin."""
        s = self.settings
        if not loud:
            self._armed = True
        if not (loud and f0_hz > 0 and clarity >= s.clarity_attack):
            self._attack_left = 0
            return False
        if self._armed:
            self._armed, self._attack_left = False, s.attack_frames
        if self._attack_left == 0:
            return False
        self._attack_left -= 1
        return True

    def _trim(self) -> None:
        # an early onset may move the next frame up to a hop earlier: keep its windows
        keep_from = self.next_centre - HOP_SAMPLES - self.history - self._buffer_start
        if keep_from > 8192:
            self._buffer = self._buffer[keep_from:]
            self._buffer_start += keep_from
