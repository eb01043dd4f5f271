"""Training losses."""

from __future__ import annotations

import torch

DEFAULT_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)


def multiscale_spectral_loss(
    predicted: torch.Tensor,
    target: torch.Tensor,
    fft_sizes: tuple[int, ...] = DEFAULT_FFT_SIZES,
    overlap: float = 0.75,
    mag_weight: float = 1.0,
    logmag_weight: float = 1.0,
) -> torch.Tensor:
    """DDSP's spectral loss: L1 on linear and log STFT magnitudes at several FFT sizes.

    Each scale uses a Hann window and hop = fft_size * (1 - overlap); log magnitudes are
    floored at 1e-5 as in ddsp's ``safe_log``. The per-scale terms are means, summed.

    Args:
        predicted, target: [B, T] audio.
    Returns:
        scalar loss.
    """
    loss = predicted.new_zeros(())
    for n_fft in fft_sizes:
        hop = int(n_fft * (1.0 - overlap))
        window = torch.hann_window(n_fft, device=predicted.device, dtype=predicted.dtype)
        mags = [
            torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True).abs()
            for x in (predicted, target)
        ]
        if mag_weight:
            loss = loss + mag_weight * (mags[0] - mags[1]).abs().mean()
        if logmag_weight:
            logs = [torch.log(torch.clamp(m, min=1e-5)) for m in mags]
            loss = loss + logmag_weight * (logs[0] - logs[1]).abs().mean()
    return loss
