"""Effects applied after synthesis."""

from __future__ import annotations

import torch
from torch import nn

from ddspkit.core import fft_convolve


class Reverb(nn.Module):
    """A trainable room: the dry signal plus its convolution with a learned impulse response.

    The impulse response's first tap is held at zero so that the dry path is exact.
    """

    def __init__(self, n_samples: int, sample_rate_hz: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        t_s = torch.arange(n_samples) / sample_rate_hz
        # Start as a faint, fast-decaying tail: training makes it as large as the room needs.
        initial = 1e-3 * torch.randn(n_samples, generator=generator) * torch.exp(-t_s / 0.2)
        self.impulse_response = nn.Parameter(initial)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, T] -> [B, T] (the tail past T is cut, as in training)."""
        ir = torch.cat([torch.zeros_like(self.impulse_response[:1]), self.impulse_response[1:]])
        return audio + fft_convolve(audio, ir)
