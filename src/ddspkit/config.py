"""The model contract shared by training, rendering and export (DDSP-VST compatible).

Every size here is fixed by Magenta's DDSP-VST plugin: 16 kHz audio, 50 frames per second,
60 harmonics, 65 noise bands and a 512-unit GRU. They live in one dataclass so that a model
file records the configuration it was trained with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

SAMPLE_RATE_HZ = 16_000
HOP_SAMPLES = 320
FRAME_RATE_HZ = SAMPLE_RATE_HZ // HOP_SAMPLES  # 50
POWER_FRAME_SAMPLES = 1024
DB_RANGE = 80.0  # power_db is floored at -DB_RANGE; pw_scaled = power_db / DB_RANGE + 1
F0_RANGE_MIDI = 127.0  # f0_scaled = midi(f0_hz) / F0_RANGE_MIDI


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the decoder and synthesizers. Defaults are the DDSP-VST contract."""

    sample_rate_hz: int = SAMPLE_RATE_HZ
    hop_samples: int = HOP_SAMPLES
    n_harmonics: int = 60
    n_noise_bands: int = 65
    hidden_units: int = 256
    gru_units: int = 512
    reverb_seconds: float = 1.5

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate_hz / self.hop_samples

    @property
    def n_outputs(self) -> int:
        return 1 + self.n_harmonics + self.n_noise_bands

    @property
    def reverb_samples(self) -> int:
        return int(round(self.reverb_seconds * self.sample_rate_hz))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def n_frames(self, n_samples: int) -> int:
        """Frames of centred framing: frame i is centred on sample i * hop_samples."""
        return n_samples // self.hop_samples + 1
