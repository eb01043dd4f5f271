"""Core DSP functions shared by training, rendering, export and streaming.

Shapes use B = batch, F = frames (50 per second), T = samples (16 kHz), K = channels.
Functions accept torch tensors; the scaling helpers also accept numpy arrays.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ddspkit.config import DB_RANGE, F0_RANGE_MIDI, HOP_SAMPLES, POWER_FRAME_SAMPLES

ArrayLike = np.ndarray | torch.Tensor


def exp_sigmoid(
    x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7
) -> torch.Tensor:
    """DDSP's positive output nonlinearity: ``max_value * sigmoid(x)**ln(exponent) + threshold``.

    Range (threshold, max_value + threshold); elementwise, any shape.
    """
    return max_value * torch.sigmoid(x) ** math.log(exponent) + threshold


def hz_to_midi(f0_hz: ArrayLike) -> ArrayLike:
    """Frequency in Hz to (fractional) MIDI note; 0 Hz (or below) maps to MIDI 0."""
    if isinstance(f0_hz, torch.Tensor):
        safe = torch.clamp(f0_hz, min=1e-6)
        midi = 12.0 * torch.log2(safe / 440.0) + 69.0
        return torch.where(f0_hz > 0, torch.clamp(midi, min=0.0), torch.zeros_like(midi))
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        midi = 12.0 * np.log2(np.maximum(f0_hz, 1e-6) / 440.0) + 69.0
    return np.where(f0_hz > 0, np.maximum(midi, 0.0), 0.0)


def midi_to_hz(midi: ArrayLike) -> ArrayLike:
    """MIDI note (fractional) to Hz."""
    if isinstance(midi, torch.Tensor):
        return 440.0 * torch.pow(2.0, (midi - 69.0) / 12.0)
    return 440.0 * np.power(2.0, (np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def note_name(f0_hz: float) -> str:
    """The nearest equal-tempered note of a frequency in Hz, e.g. 440.0 -> 'A4'."""
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    midi = int(round(float(hz_to_midi(f0_hz))))
    return f"{names[midi % 12]}{midi // 12 - 1}"

def scale_f0(f0_hz: ArrayLike) -> ArrayLike:
    """Model input ``f0_scaled = midi(f0_hz) / 127`` (0 Hz maps to 0)."""
    return hz_to_midi(f0_hz) / F0_RANGE_MIDI


def unscale_f0(f0_scaled: ArrayLike) -> ArrayLike:
    """Inverse of :func:`scale_f0` (0 maps to MIDI 0, 8.18 Hz)."""
    return midi_to_hz(f0_scaled * F0_RANGE_MIDI)


def scale_power(power_db: ArrayLike) -> ArrayLike:
    """Model input ``pw_scaled = power_db / 80 + 1``: 0 at the -80 dB floor, 1 at 0 dBFS."""
    return power_db / DB_RANGE + 1.0


def frame_power_db(
    audio: torch.Tensor,
    hop_samples: int = HOP_SAMPLES,
    frame_samples: int = POWER_FRAME_SAMPLES,
) -> torch.Tensor:
    """Mean-square power of centred frames, in dB relative to full scale, floored at -80 dB.

    ``power_db[i] = 10 log10(mean(x[i*hop - frame/2 : i*hop + frame/2] ** 2))`` with zero
    padding at both ends and no window, as in DDSP-VST's feature extractor.

    Args:
        audio: [..., T] float samples in [-1, 1].
    Returns:
        [..., T // hop_samples + 1] power in dB, in [-80, ~0].
    """
    half = frame_samples // 2
    n_frames = audio.shape[-1] // hop_samples + 1
    padded = F.pad(audio, (half, half + frame_samples))
    frames = padded.unfold(-1, frame_samples, hop_samples)[..., :n_frames, :]
    mean_square = frames.double().pow(2).mean(dim=-1)
    power_db = 10.0 * torch.log10(torch.clamp(mean_square, min=10 ** (-DB_RANGE / 10)))
    return power_db.to(audio.dtype)


def upsample_frames(frames: torch.Tensor, n_samples: int, hop_samples: int = HOP_SAMPLES) -> torch.Tensor:
    """Linearly interpolate frame-rate controls to sample rate.

    Sample t takes the value at fractional frame t / hop_samples (frame i sits on sample
    i * hop_samples, matching centred feature framing); past the last frame it holds.

    Args:
        frames: [B, F, K] controls.
    Returns:
        [B, n_samples, K].
    """
    n_frames = frames.shape[1]
    needed = (n_samples - 1) // hop_samples + 2
    if n_frames < needed:  # hold the last frame so that every sample has two neighbours
        frames = torch.cat([frames, frames[:, -1:].expand(-1, needed - n_frames, -1)], dim=1)
    n_frames = frames.shape[1]
    dense = F.interpolate(
        frames.transpose(1, 2), size=(n_frames - 1) * hop_samples + 1, mode="linear",
        align_corners=True,
    )
    return dense[..., :n_samples].transpose(1, 2)


def fft_convolve(signal: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Linear convolution via FFT, cropped to the signal's length (causal).

    Args:
        signal: [..., T]; kernel: [..., L] broadcastable against signal.
    Returns:
        [..., T].
    """
    n = signal.shape[-1] + kernel.shape[-1] - 1
    n_fft = 1 << (n - 1).bit_length()
    spectrum = torch.fft.rfft(signal, n_fft) * torch.fft.rfft(kernel, n_fft)
    return torch.fft.irfft(spectrum, n_fft)[..., : signal.shape[-1]]
