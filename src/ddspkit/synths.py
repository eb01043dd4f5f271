"""Differentiable synthesizers: a harmonic oscillator bank and filtered noise.

Shapes: B = batch, F = frames, T = samples, K = harmonics, N = noise bands.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.core import upsample_frames


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


def filtered_noise(
    noise_magnitudes: torch.Tensor,
    n_samples: int,
    hop_samples: int = HOP_SAMPLES,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Uniform white noise in [-1, 1] shaped by a time-varying FIR filter, one per frame.

    Each hop of noise is convolved with its frame's filter and the results overlap-added;
    the output is aligned so that frame i's filter is heard around sample i * hop_samples.

    Args:
        noise_magnitudes: [B, F, N] linear band magnitudes (65 bands: 0 to 8 kHz).
        n_samples: output length T (at most F * hop_samples).
        generator: random generator for reproducible noise (training resumes exactly).
    Returns:
        [B, T] audio.
    """
    batch, n_frames, _ = noise_magnitudes.shape
    ir = noise_impulse_responses(noise_magnitudes)  # [B, F, L]
    n_taps = ir.shape[-1]
    noise = torch.rand(
        batch, n_frames, hop_samples, generator=generator, device=ir.device, dtype=ir.dtype
    ) * 2.0 - 1.0
    block = hop_samples + n_taps - 1
    n_fft = 1 << (block - 1).bit_length()
    filtered = torch.fft.irfft(
        torch.fft.rfft(noise, n_fft) * torch.fft.rfft(ir, n_fft), n_fft
    )[..., :block]  # [B, F, block]
    total = (n_frames - 1) * hop_samples + block
    audio = F.fold(
        filtered.transpose(1, 2), output_size=(1, total), kernel_size=(1, block),
        stride=(1, hop_samples),
    ).reshape(batch, total)
    # Frame i's hop starts at i * hop; centre it on i * hop and undo the filter delay.
    start = hop_samples // 2 + n_taps // 2
    audio = audio[:, start : start + n_samples]
    if audio.shape[-1] < n_samples:
        audio = F.pad(audio, (0, n_samples - audio.shape[-1]))
    return audio
