"""A low-latency streaming resampler between the host's rate and the model's 16 kHz.

soxr, which the offline path uses, holds back 6 to 21 ms of output per direction in its
streaming mode (its filters are long, for the best stopband): half the engine's latency
budget. Here a short Kaiser-windowed sinc, evaluated as a polyphase filter bank at exact
rational positions, costs under a millisecond each way. Its delay is a whole number of
samples, so the engine declares its latency exactly.

Output sample m stands for input time ``m * ratio`` (ratio = input rate / output rate) with
no delay in the signal's content; it can be computed once the input reaches
``m * ratio + half_width`` (:attr:`StreamResampler.lookahead`).
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil

import numpy as np

# Kaiser beta for about 60 dB of stopband attenuation.
KAISER_BETA = 5.6
PASSBAND_EDGE_HZ = 6500.0  # flat (within 0.1 dB) up to here
STOPBAND_EDGE_HZ = 9500.0  # images and aliases above here are 60 dB down


def _half_width(kernel_rate_hz: float) -> int:
    """Taps each side, at the kernel's sample rate, for the transition band above."""
    transition = (STOPBAND_EDGE_HZ - PASSBAND_EDGE_HZ) / kernel_rate_hz  # cycles per sample
    length = (60.0 - 7.95) / (14.36 * transition)  # Kaiser's estimate of the filter length
    return int(ceil(length / 2))


class StreamResampler:
    """Resample a mono float stream by a rational ratio, block by block.

    ``push(x)`` appends input samples; ``pull(n)`` returns the next n output samples, which
    must already be computable (:meth:`available`). Between rates that are equal the
    samples pass through unchanged.
    """

    def __init__(self, from_rate_hz: int, to_rate_hz: int) -> None:
        self.from_rate_hz, self.to_rate_hz = from_rate_hz, to_rate_hz
        ratio = Fraction(from_rate_hz, to_rate_hz)
        self.step_num, self.step_den = ratio.numerator, ratio.denominator  # input per output
        self.identity = from_rate_hz == to_rate_hz
        # The kernel runs at the higher rate's resolution of the lower rate's band.
        cutoff_hz = (PASSBAND_EDGE_HZ + STOPBAND_EDGE_HZ) / 2
        self.half_width = 0 if self.identity else _half_width(from_rate_hz)
        self.lookahead = self.half_width  # input samples needed past an output's time
        self._bank = None if self.identity else self._filter_bank(cutoff_hz / from_rate_hz)
        self._buffer_start = -self.half_width  # input index of _buffer[0]; zeros before 0
        self._buffer = np.zeros(self.half_width, np.float32)
        self._next_output = 0

    def _filter_bank(self, cutoff: float) -> np.ndarray:
        """[den, 2 * half_width] taps: row p filters at fractional position p / den.

        ``cutoff`` in cycles per input sample; the kernel is 2 fc sinc(2 fc tau) under a Kaiser
        window, tau in input samples from the output's exact position; each row sums to one
        (unit gain at DC for every phase).
        """
        taps = np.arange(-self.half_width + 1, self.half_width + 1)  # input offsets from floor
        tau = taps[None, :] - np.arange(self.step_den)[:, None] / self.step_den
        beta_arg = np.clip(1 - (tau / self.half_width) ** 2, 0, None)
        window = np.i0(KAISER_BETA * np.sqrt(beta_arg)) / np.i0(KAISER_BETA)
        bank = 2 * cutoff * np.sinc(2 * cutoff * tau) * window
        return (bank / bank.sum(axis=1, keepdims=True)).astype(np.float32)

    @property
    def delay_out(self) -> Fraction:
        """Output samples by which the availability of output lags the input (not the content)."""
        return Fraction(self.half_width) / Fraction(self.step_num, self.step_den)

    def push(self, samples: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.float32)])

    def input_end(self) -> int:
        """Index one past the last input sample pushed."""
        return self._buffer_start + len(self._buffer)

    def available(self) -> int:
        """How many output samples can be pulled now."""
        if self.identity:
            return self.input_end() - self._next_output
        # Output m needs input up to floor(m * step) + half_width: m * num < (end - hw) * den.
        m_max = ((self.input_end() - self.half_width) * self.step_den - 1) // self.step_num
        return max(0, m_max + 1 - self._next_output)

    def pull(self, n: int) -> np.ndarray:
        """The next ``n`` output samples (n <= available())."""
        if n <= 0:
            return np.zeros(0, np.float32)
        m = np.arange(self._next_output, self._next_output + n, dtype=np.int64)
        self._next_output += n
        if self.identity:
            start = int(m[0]) - self._buffer_start
            out = self._buffer[start : start + n].copy()
        else:
            base = (m * self.step_num) // self.step_den  # floor of the exact input position
            phase = (m * self.step_num) % self.step_den
            offsets = np.arange(-self.half_width + 1, self.half_width + 1)
            index = base[:, None] + offsets[None, :] - self._buffer_start
            out = np.einsum("ij,ij->i", self._buffer[index], self._bank[phase])
        self._trim()
        return out.astype(np.float32)

    def _trim(self) -> None:
        """Drop input that no future output needs."""
        needed = (self._next_output * self.step_num) // self.step_den - self.half_width
        drop = needed - self._buffer_start
        if drop > 4096:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
