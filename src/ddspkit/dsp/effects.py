"""Effects applied after synthesis."""

from __future__ import annotations

import torch
from torch import nn

from ddspkit.dsp.core import exp_sigmoid, fft_convolve
from ddspkit.dsp.synths import filtered_noise


class FilteredNoiseReverb(nn.Module):
    """A trainable room, as in DDSP-VST's training: dry + dry convolved with a noise IR.

    The impulse response is uniform noise shaped by learned magnitudes over time (n_frames)
    and frequency (n_bands), drawn afresh at every training step. Because its phases are
    random, it can model a room's decay and colour but cannot carry the dry signal's timbre or
    level: those must stay in the synths, which is all the DDSP-VST plugin runs (it ignores
    the learned room). A directly learned IR was tried and became a +13 dB body filter.
    """

    def __init__(self, n_samples: int, n_frames: int = 500, n_bands: int = 32,
                 initial_bias: float = -3.0, seed: int = 0) -> None:
        super().__init__()
        self.n_samples, self.n_frames, self.initial_bias = n_samples, n_frames, initial_bias
        generator = torch.Generator().manual_seed(seed)
        self.magnitudes = nn.Parameter(0.01 * torch.randn(n_frames, n_bands, generator=generator))

    def impulse_response(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """[n_samples] IR; its first tap is zero so that the dry path is exact."""
        magnitudes = exp_sigmoid(self.magnitudes + self.initial_bias)[None]
        hop = -(-self.n_samples // self.n_frames)
        ir = filtered_noise(magnitudes, self.n_samples, hop, generator)[0]
        return torch.cat([torch.zeros_like(ir[:1]), ir[1:]])

    def forward(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """audio [B, T] -> [B, T] (the tail past T is cut, as in training)."""
        return audio + fft_convolve(audio, self.impulse_response(generator))


class NoReverb(nn.Module):
    """The dry signal: for models that carry no learned room (DDSP-VST .tflite files)."""

    def forward(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return audio
