"""Differentiable synthesizers: a harmonic oscillator bank and filtered noise.

Shapes: B = batch, F = frames, T = samples, K = harmonics, N = noise bands.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.dsp.core import upsample_frames


def harmonic_synth(
    f0_hz: torch.Tensor,
    amplitude: torch.Tensor,
    harmonic_distribution: torch.Tensor,
    n_samples: int,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    hop_samples: int = HOP_SAMPLES,
    initial_phase_rad: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of harmonics of f0 with per-frame amplitudes, phase accumulated from f0.

    f0 and the harmonic amplitudes are interpolated linearly between frames (frame i sits on
    sample i * hop_samples). Harmonics whose frequency reaches Nyquist on either side of a hop
    are silent for that hop.

    Args:
        f0_hz: [B, F] fundamental frequency per frame, Hz.
        amplitude: [B, F, 1] overall amplitude (linear).
        harmonic_distribution: [B, F, K] relative harmonic amplitudes (sum to 1).
        n_samples: output length T.
        initial_phase_rad: [B] phase of the fundamental before the first sample (for
            rendering in chunks); zero when None.
    Returns:
        audio [B, T], and the fundamental's phase after the last sample [B] (radians,
        wrapped to [0, 2pi)), to pass as ``initial_phase_rad`` of the next chunk.
    """
    batch = f0_hz.shape[0]
    n_blocks = -(-n_samples // hop_samples)
    harmonic_amps = amplitude * harmonic_distribution  # [B, F, K]
    shortfall = n_blocks + 1 - f0_hz.shape[1]
    if shortfall > 0:  # hold the last frame so that every hop has frames on both sides
        f0_hz = torch.cat([f0_hz, f0_hz[:, -1:].expand(-1, shortfall)], dim=1)
        harmonic_amps = torch.cat(
            [harmonic_amps, harmonic_amps[:, -1:].expand(-1, shortfall, -1)], dim=1
        )
    f0_hz, harmonic_amps = f0_hz[:, : n_blocks + 1], harmonic_amps[:, : n_blocks + 1]
    nyquist_hz = sample_rate_hz / 2
    # Harmonics above Nyquist everywhere in the batch cost time and add nothing: drop them.
    lowest_f0 = float(f0_hz.detach().min())
    n_harmonics = harmonic_amps.shape[-1]
    if lowest_f0 > 0:
        n_harmonics = min(n_harmonics, max(1, math.ceil(nyquist_hz / lowest_f0)))
    harmonic_amps = harmonic_amps[..., :n_harmonics]
    k = torch.arange(1, n_harmonics + 1, device=f0_hz.device, dtype=f0_hz.dtype)

    f0_up = upsample_frames(f0_hz.unsqueeze(-1), n_blocks * hop_samples, hop_samples)[..., 0]
    # Accumulate in float64 and wrap: float32 drifts audibly over minutes of audio.
    phase = torch.cumsum(2.0 * math.pi * f0_up.double() / sample_rate_hz, dim=-1)
    if initial_phase_rad is not None:
        phase = phase + initial_phase_rad.double().unsqueeze(-1)
    phase = torch.remainder(phase, 2.0 * math.pi)
    final_phase = phase[:, n_samples - 1].to(f0_hz.dtype)

    peak_f0 = torch.maximum(f0_hz[:, :-1], f0_hz[:, 1:]).unsqueeze(-1)  # [B, n_blocks, 1]
    audible = (peak_f0 * k < nyquist_hz).to(harmonic_amps.dtype)
    # Amplitudes at both ends of each hop as two columns: [B, n_blocks, K, 2].
    ends = torch.stack([harmonic_amps[:, :-1], harmonic_amps[:, 1:]], dim=-1) * audible[..., None]
    sines = torch.sin(
        phase.to(f0_hz.dtype).reshape(batch, n_blocks, hop_samples, 1) * k
    )  # [B, n_blocks, hop, K]
    both = torch.matmul(sines, ends)  # [B, n_blocks, hop, 2]: each end's amplitudes applied
    ramp = torch.arange(hop_samples, device=f0_hz.device, dtype=f0_hz.dtype) / hop_samples
    audio = both[..., 0] * (1.0 - ramp) + both[..., 1] * ramp
    return audio.reshape(batch, n_blocks * hop_samples)[:, :n_samples], final_phase


def noise_impulse_responses(noise_magnitudes: torch.Tensor) -> torch.Tensor:
    """Per-frame zero-phase FIR filters from band magnitudes, windowed and made causal.

    N magnitudes are read as a real, zero-phase spectrum from 0 Hz to Nyquist; an inverse
    FFT gives 2 (N - 1) taps (128 for 65 bands), a Hann window smooths the response, and the
    filter is shifted so that its centre tap is at index (N - 1): a delay of 64 samples.

    Args:
        noise_magnitudes: [B, F, N].
    Returns:
        [B, F, 2 (N - 1)] impulse responses.
    """
    n_taps = 2 * (noise_magnitudes.shape[-1] - 1)
    ir = torch.fft.irfft(noise_magnitudes.to(torch.complex64), n=n_taps)
    ir = torch.roll(ir, shifts=n_taps // 2, dims=-1)
    window = torch.hann_window(n_taps, periodic=True, device=ir.device, dtype=ir.dtype)
    return ir * window


def frame_noise(seed: int, first_frame: int, n_frames: int, hop_samples: int = HOP_SAMPLES,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """White noise, uniform in [-1, 1), for frames ``first_frame .. first_frame + n_frames``.

    Sample j of frame i is a pure function of (seed, i, j) (a splitmix64 hash of its index):
    rendering a file in chunks of any size, or a stream frame by frame, draws the same noise,
    so the two give the same audio. Training draws from a torch generator instead.

    Returns:
        [1, n_frames, hop_samples] float32.
    """
    index = np.arange(first_frame * hop_samples, (first_frame + n_frames) * hop_samples,
                      dtype=np.uint64)
    z = index + np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64)  # wraps: no warning
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    uniform = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-23) - np.float32(1.0)
    return torch.from_numpy(uniform.reshape(1, n_frames, hop_samples)).to(device)


def filtered_noise_blocks(noise_magnitudes: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Each frame's hop of white noise convolved with that frame's filter.

    Args:
        noise_magnitudes: [B, F, N] linear band magnitudes.
        noise: [B, F, hop] white noise.
    Returns:
        [B, F, hop + 2 (N - 1) - 1] blocks; block i belongs at sample i * hop minus
        :func:`noise_block_offset` of the output (see :func:`filtered_noise`).
    """
    ir = noise_impulse_responses(noise_magnitudes)  # [B, F, L]
    block = noise.shape[-1] + ir.shape[-1] - 1
    n_fft = 1 << (block - 1).bit_length()
    return torch.fft.irfft(torch.fft.rfft(noise, n_fft) * torch.fft.rfft(ir, n_fft), n_fft)[..., :block]


def noise_block_offset(n_bands: int, hop_samples: int = HOP_SAMPLES) -> int:
    """How many samples before frame i's time (i * hop) its filtered block starts: half a hop
    (the hop is centred on the frame) plus the zero-phase filter's delay, N - 1 taps."""
    return hop_samples // 2 + (n_bands - 1)


def filtered_noise(
    noise_magnitudes: torch.Tensor,
    n_samples: int,
    hop_samples: int = HOP_SAMPLES,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Uniform white noise in [-1, 1] shaped by a time-varying FIR filter, one per frame.

    Each hop of noise is convolved with its frame's filter and the results overlap-added;
    the output is aligned so that frame i's filter is heard around sample i * hop_samples.

    Args:
        noise_magnitudes: [B, F, N] linear band magnitudes (65 bands: 0 to 8 kHz).
        n_samples: output length T (at most F * hop_samples).
        generator: random generator for reproducible noise (training resumes exactly).
        noise: [B, F, hop] white noise to filter instead of drawing it (see frame_noise).
    Returns:
        [B, T] audio.
    """
    batch, n_frames, n_bands = noise_magnitudes.shape
    if noise is None:
        noise = torch.rand(batch, n_frames, hop_samples, generator=generator,
                           device=noise_magnitudes.device, dtype=noise_magnitudes.dtype) * 2.0 - 1.0
    filtered = filtered_noise_blocks(noise_magnitudes, noise)  # [B, F, block]
    block = filtered.shape[-1]
    total = (n_frames - 1) * hop_samples + block
    audio = F.fold(
        filtered.transpose(1, 2), output_size=(1, total), kernel_size=(1, block),
        stride=(1, hop_samples),
    ).reshape(batch, total)
    # Frame i's hop starts at i * hop; centre it on i * hop and undo the filter delay.
    start = noise_block_offset(n_bands, hop_samples)
    audio = audio[:, start : start + n_samples]
    if audio.shape[-1] < n_samples:
        audio = F.pad(audio, (0, n_samples - audio.shape[-1]))
    return audio
