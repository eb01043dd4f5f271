"""Auto-adjust on a stream: the offline transfer's octave shift and loudness mapping, learnt
while the performer plays.

Offline, ``transfer.adjust_features`` knows the whole recording: the octave shift puts its mean
note-on pitch nearest the model's, and its note-on power quantiles are mapped onto the
model's. Live, the recording so far is all there is, and a map that keeps changing would
flatten the performer's dynamics (the same crescendo would come out differently at every
bar). So:

- the octave is chosen from the first note (its first 10 confident frames, by the offline
  rule: ``stats.octave_shift_into_range``), then changes
  only between notes, and only when the running mean pitch is a whole octave past the
  choice (never an octave jump inside a note, nor back and forth);
- loudness goes through a fixed straight line in dB, which keeps every dynamic contour's
  shape (a crescendo stays a crescendo: a map that chased the running level would cancel
  it): the first note's power lands on the model's median note-on power, and a typical
  performance's 12 dB of dynamics span the model's 10th-90th percentile range (slope
  within 0.75-2). The line then holds still, unless the running median (over about 30 s)
  drifts out of the model's middle range (its 20th-80th percentiles): then it moves back at
  ADAPT_DB_PER_S, so a microphone's gain change is absorbed without pumping.

Manual pitch and loudness shifts apply on top and may change at any moment.
"""

from __future__ import annotations

import numpy as np

from ddspkit.analysis.statistics import DatasetStatistics, octave_shift_into_range
from ddspkit.config import DB_RANGE, FRAME_RATE_HZ
from ddspkit.dsp.core import hz_to_midi, midi_to_hz
from ddspkit.render.transfer import MAX_MIDI
from ddspkit.stream.tracker import TrackedFrame

HISTOGRAM_BIN_DB = 0.5
FORGET_S = 30.0
FIRST_NOTE_FRAMES = 10  # confident note-on frames before the octave and level are chosen
CONFIDENT = 0.85  # clarity of a frame that counts as a note-on
OCTAVE_HYSTERESIS = 1.0  # the shift changes only when another octave is a whole octave better
ADAPT_DB_PER_S = 1.0  # how fast the loudness line moves back when the level drifts out of range
TYPICAL_DYNAMICS_DB = 12.0  # 10th-90th percentile spread of note-on power in a performance
SLOPE_RANGE = (0.75, 2.0)


class OnlineAdjuster:
    """Tracked frames in, the (f0_hz, power_db) the model should hear out."""

    def __init__(self, statistics: DatasetStatistics | None, auto: bool = True,
                 pitch_shift_semitones: float = 0.0, loudness_shift_db: float = 0.0) -> None:
        self.statistics = statistics
        self.auto = auto
        self.pitch_shift_semitones = pitch_shift_semitones
        self.loudness_shift_db = loudness_shift_db
        self.octave_shift = 0
        self._pitch_sum, self._pitch_count = 0.0, 0
        self._first_note_midi: list[float] = []
        self._edges_db = np.arange(-DB_RANGE, HISTOGRAM_BIN_DB, HISTOGRAM_BIN_DB)
        self._histogram = np.zeros(len(self._edges_db) - 1)
        self._forget = 1.0 - 1.0 / (FORGET_S * FRAME_RATE_HZ)
        self._line: tuple[float, float, float] | None = None  # (input centre, slope, model centre)
        if statistics is not None:
            self._model_quantile = statistics.power_quantile_db
            self._model_spread = self._model_quantile(0.9) - self._model_quantile(0.1)

    @property
    def total_pitch_shift_semitones(self) -> float:
        return 12 * self.octave_shift + self.pitch_shift_semitones

    def __call__(self, frame: TrackedFrame) -> tuple[float, float]:
        power_db = frame.power_db
        if self.auto and self.statistics is not None:
            if frame.gate_open and frame.confidence >= CONFIDENT:
                self._learn(frame)
            elif not frame.gate_open:
                self._revise_octave()  # between notes only
            if self._line is not None:
                centre, slope, target = self._line
                if frame.gate_open:
                    power_db = target + slope * (power_db - centre)
                else:  # below the gate: the same offset, so silence stays as far below
                    power_db = power_db + target - centre
        f0_hz = float(midi_to_hz(min(float(hz_to_midi(frame.f0_hz)) + self.total_pitch_shift_semitones,
                                     MAX_MIDI)))
        power_db = float(np.clip(power_db + self.loudness_shift_db, -DB_RANGE, 0.0))
        return f0_hz, power_db

    def _learn(self, frame: TrackedFrame) -> None:
        pitch_midi = float(hz_to_midi(frame.f0_hz))
        self._pitch_sum += pitch_midi
        self._pitch_count += 1
        self._histogram *= self._forget
        index = int(np.clip((frame.power_db + DB_RANGE) / HISTOGRAM_BIN_DB, 0, len(self._histogram) - 1))
        self._histogram[index] += 1.0
        if self._pitch_count <= FIRST_NOTE_FRAMES:  # the first note's frames set the line
            self._first_note_midi.append(pitch_midi)
            slope = float(np.clip(self._model_spread / TYPICAL_DYNAMICS_DB, *SLOPE_RANGE))
            self._line = (self._input_quantile(0.5), slope, self._model_quantile(0.5))
            if self._pitch_count == FIRST_NOTE_FRAMES:  # and then the octave
                self.octave_shift = octave_shift_into_range(np.array(self._first_note_midi),
                                                            self.statistics)
        else:
            self._keep_in_range()

    def _ideal_octaves(self) -> float:
        return (self.statistics.mean_pitch_midi - self._pitch_sum / self._pitch_count) / 12

    def _revise_octave(self) -> None:
        if self._pitch_count >= FIRST_NOTE_FRAMES:
            ideal = self._ideal_octaves()
            if abs(ideal - self.octave_shift) > OCTAVE_HYSTERESIS:
                self.octave_shift = int(np.round(ideal))

    def _input_quantile(self, level: float) -> float:
        cumulative = np.concatenate([[0.0], np.cumsum(self._histogram)])
        return float(np.interp(level * cumulative[-1], cumulative, self._edges_db))

    def _keep_in_range(self) -> None:
        """If the running median maps outside the model's middle range, move the line back
        towards it by at most ADAPT_DB_PER_S."""
        centre, slope, target = self._line
        mapped_median = target + slope * (self._input_quantile(0.5) - centre)
        low, high = self._model_quantile(0.2), self._model_quantile(0.8)
        excess = mapped_median - float(np.clip(mapped_median, low, high))
        step_db = ADAPT_DB_PER_S / FRAME_RATE_HZ
        self._line = (centre + float(np.clip(excess / slope, -step_db, step_db)), slope, target)
