"""Audio -> features: f0 with confidence (swift-f0) and frame power, at 50 frames/s.

Features are the only thing a model sees of its input, in training and at inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.core import frame_power_db

VOICED_CONFIDENCE = 0.5  # swift-f0's calibrated voicing threshold


@dataclass
class Features:
    """Per-frame features at 50 frames/s; frame i is centred on sample i * 320 (16 kHz).

    f0_hz: [F] pitch in Hz, with unvoiced frames filled from their voiced neighbours (so the
        oscillators glide instead of jumping); 0 everywhere if nothing is voiced.
    f0_confidence: [F] voicing confidence in [0, 1]; voiced where >= 0.5.
    power_db: [F] frame power in dB re full scale, floored at -80.
    """

    f0_hz: np.ndarray
    f0_confidence: np.ndarray
    power_db: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.f0_hz)

    @property
    def voiced(self) -> np.ndarray:
        return self.f0_confidence >= VOICED_CONFIDENCE

    def slice(self, start: int, stop: int) -> Features:
        return Features(self.f0_hz[start:stop], self.f0_confidence[start:stop],
                        self.power_db[start:stop])


def power_db(audio_16k: np.ndarray) -> np.ndarray:
    """[T] audio at 16 kHz -> [T // 320 + 1] frame power in dB (see core.frame_power_db)."""
    return frame_power_db(torch.from_numpy(np.ascontiguousarray(audio_16k, np.float32))).numpy()


@lru_cache(maxsize=1)
def _pitch_tracker():
    from swift_f0 import SwiftF0

    return SwiftF0(threads=max(1, min(4, torch.get_num_threads())))


def track_pitch(audio_16k: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """f0 in Hz and confidence at our frame times, from swift-f0 (16 ms hop).

    Confidence is interpolated linearly; pitch is interpolated in log frequency over voiced
    frames only, and held at the ends, so unvoiced gaps carry the neighbouring pitch.

    Args:
        audio_16k: [T] audio at 16 kHz.
        n_frames: number of output frames (frame i at i * 20 ms).
    Returns:
        (f0_hz [n_frames], confidence [n_frames]) float32.
    """
    times_s = np.arange(n_frames) * HOP_SAMPLES / SAMPLE_RATE_HZ
    if len(audio_16k) < 512:  # too short for the tracker: nothing voiced
        return np.zeros(n_frames, np.float32), np.zeros(n_frames, np.float32)
    result = _pitch_tracker().detect(audio_16k, SAMPLE_RATE_HZ)
    tracker_times = np.asarray(result.timestamps, dtype=np.float64)
    confidence = np.interp(times_s, tracker_times, np.asarray(result.confidence, np.float64))
    pitch = np.asarray(result.pitch_hz, dtype=np.float64)
    voiced = (np.asarray(result.confidence) >= VOICED_CONFIDENCE) & (pitch > 0)
    if not voiced.any():
        return np.zeros(n_frames, np.float32), confidence.astype(np.float32)
    log_f0 = np.interp(times_s, tracker_times[voiced], np.log2(pitch[voiced]))
    return (2.0**log_f0).astype(np.float32), confidence.astype(np.float32)


def extract_features(audio_16k: np.ndarray) -> Features:
    """[T] mono audio at 16 kHz -> :class:`Features` with T // 320 + 1 frames."""
    audio_16k = np.ascontiguousarray(audio_16k, dtype=np.float32)
    power = power_db(audio_16k)
    f0_hz, confidence = track_pitch(audio_16k, len(power))
    return Features(f0_hz, confidence, power.astype(np.float32))
