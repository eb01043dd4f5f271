"""The model's learned room on a stream: uniformly partitioned FFT convolution.

Offline, ``FilteredNoiseReverb`` convolves the whole dry signal with its 1.5 s impulse
response in one FFT. Here the response is cut into hop-sized partitions whose spectra are
kept, and each hop of dry audio is convolved through a frequency-domain delay line (one FFT
and one inverse FFT per hop, whatever the response's length); the first partition is applied
directly, so that any block size streams with no added delay.
"""

from __future__ import annotations

import numpy as np
import torch

from ddspkit.dsp.effects import FilteredNoiseReverb


class StreamReverb:
    """``wet = dry + dry * ir`` (convolution), any number of samples at a time, no added delay.

    The response's first hop (lags 0 .. hop - 1) is applied directly, sample by sample, so a
    sample's wet value needs no later input; the rest through a frequency-domain delay line
    of hop-sized partitions, computed once each hop of input is complete (its effect starts a
    hop later, so it is always ready in time).
    """

    def __init__(self, impulse_response: np.ndarray, hop_samples: int) -> None:
        self.hop = hop_samples
        self.n_fft = 2 * hop_samples
        n_parts = max(2, -(-len(impulse_response) // hop_samples))
        padded = np.zeros(n_parts * hop_samples, np.float64)
        padded[: len(impulse_response)] = impulse_response
        self.head = padded[:hop_samples]  # lags 0 .. hop - 1, applied directly
        # later partitions: spectra of lags p*hop .. (p+1)*hop - 1, p >= 1, each zero-padded
        self.parts = np.fft.rfft(padded.reshape(n_parts, hop_samples)[1:], self.n_fft)  # [P-1, bins]
        self.history = np.zeros_like(self.parts)  # spectra of the last input hops, newest first
        self.recent = np.zeros(hop_samples - 1)  # the last hop - 1 dry samples, for the head
        self.filling = np.zeros(0)  # dry samples of the hop being completed
        self.previous_hop = np.zeros(hop_samples)
        self.tail = np.zeros(hop_samples)  # later partitions' sum for the current hop
        self.position = 0  # samples output in the current hop

    @classmethod
    def for_instrument(cls, instrument, seed: int = 0) -> StreamReverb | None:
        """The instrument's room as ``Instrument.render(seed=seed)`` draws it; None if it has none."""
        if not isinstance(instrument.reverb, FilteredNoiseReverb):
            return None
        with torch.inference_mode():
            ir = instrument.reverb.impulse_response(torch.Generator().manual_seed(seed))
        return cls(ir.double().numpy(), instrument.config.hop_samples)

    def process(self, dry: np.ndarray) -> np.ndarray:
        """[n] dry samples -> [n] wet samples (any n)."""
        dry = np.asarray(dry, np.float64)
        with_recent = np.concatenate([self.recent, dry])
        wet = dry + np.convolve(with_recent, self.head)[len(self.recent) : len(with_recent)]
        self.recent = with_recent[len(with_recent) - (self.hop - 1):]
        done = 0
        while done < len(dry):
            n = min(self.hop - self.position, len(dry) - done)
            wet[done : done + n] += self.tail[self.position : self.position + n]
            self.filling = np.concatenate([self.filling, dry[done : done + n]])
            self.position += n
            done += n
            if self.position == self.hop:
                self._hop_complete()
        return wet.astype(np.float32)

    def _hop_complete(self) -> None:
        """A hop of input is complete: the later partitions' sum for the next hop."""
        # Overlap-save: the FFT of [previous hop, this hop] through each partition.
        spectrum = np.fft.rfft(np.concatenate([self.previous_hop, self.filling]), self.n_fft)
        self.previous_hop, self.filling, self.position = self.filling, np.zeros(0), 0
        self.history = np.roll(self.history, 1, axis=0)
        self.history[0] = spectrum
        # partition p (lags from p*hop on) applied to the hop p-1 before the next: newest first
        self.tail = np.fft.irfft(np.einsum("pb,pb->b", self.history, self.parts), self.n_fft)[self.hop :]
