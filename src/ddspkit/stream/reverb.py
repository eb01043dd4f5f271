"""The model's learned room on a stream: uniformly partitioned FFT convolution.

Offline, ``FilteredNoiseReverb`` convolves the whole dry signal with its 1.5 s impulse
response in one FFT. Here the response is cut into hop-sized partitions whose spectra are
kept, and each new hop of dry audio is convolved through a frequency-domain delay line:
one FFT and one inverse FFT per hop, whatever the response's length, and no added delay.
"""

from __future__ import annotations

import numpy as np
import torch

from ddspkit.dsp.effects import FilteredNoiseReverb


class StreamReverb:
    """``wet = dry + dry * ir`` (convolution), one hop at a time."""

    def __init__(self, impulse_response: np.ndarray, hop_samples: int) -> None:
        self.hop = hop_samples
        self.n_fft = 2 * hop_samples
        n_parts = -(-len(impulse_response) // hop_samples)
        padded = np.zeros(n_parts * hop_samples, np.float64)
        padded[: len(impulse_response)] = impulse_response
        self.parts = np.fft.rfft(padded.reshape(n_parts, hop_samples), self.n_fft)  # [P, bins]
        self.history = np.zeros_like(self.parts)  # spectra of the last P input hops, newest first
        self.previous_hop = np.zeros(hop_samples)

    @classmethod
    def for_instrument(cls, instrument, seed: int = 0) -> StreamReverb | None:
        """The instrument's room as ``Instrument.render(seed=seed)`` draws it; None if it has none."""
        if not isinstance(instrument.reverb, FilteredNoiseReverb):
            return None
        with torch.inference_mode():
            ir = instrument.reverb.impulse_response(torch.Generator().manual_seed(seed))
        return cls(ir.double().numpy(), instrument.config.hop_samples)

    def process(self, dry: np.ndarray) -> np.ndarray:
        """[hop] dry samples -> [hop] wet samples."""
        dry = np.asarray(dry, np.float64)
        # Overlap-save: the FFT of [previous hop, this hop] through each partition.
        spectrum = np.fft.rfft(np.concatenate([self.previous_hop, dry]), self.n_fft)
        self.previous_hop = dry
        self.history = np.roll(self.history, 1, axis=0)
        self.history[0] = spectrum
        convolved = np.fft.irfft(np.einsum("pb,pb->b", self.history, self.parts), self.n_fft)
        return (dry + convolved[self.hop :]).astype(np.float32)
