"""DSP behaviour users rely on: pitch in cents, band responses in dB, power in dB, ranges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import cents
from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ, ModelConfig
from ddspkit.dsp.core import exp_sigmoid, frame_power_db, hz_to_midi, scale_f0, scale_power, upsample_frames
from ddspkit.dsp.losses import multiscale_spectral_loss
from ddspkit.dsp.synths import filtered_noise, harmonic_synth, noise_impulse_responses
from ddspkit.model import Decoder, Instrument


def peak_frequency_hz(audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """Spectral peak with a 2^21-point zero-padded FFT and parabolic interpolation."""
    n_fft = 1 << 21
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n_fft))
    i = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[i - 1 : i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * sample_rate_hz / n_fft


def one_harmonic(n_frames: int, n_harmonics: int = 60) -> torch.Tensor:
    dist = torch.zeros(1, n_frames, n_harmonics)
    dist[..., 0] = 1.0
    return dist


def test_440_hz_control_gives_440_hz_tone_within_one_cent():
    n_frames = 151  # 3 s
    f0 = torch.full((1, n_frames), 440.0)
    audio, _ = harmonic_synth(f0, torch.full((1, n_frames, 1), 0.5), one_harmonic(n_frames),
                              (n_frames - 1) * HOP_SAMPLES)
    measured = peak_frequency_hz(audio[0].numpy())
    assert abs(cents(measured, 440.0)) < 1.0
    assert np.sqrt(np.mean(audio[0].numpy() ** 2)) == pytest.approx(0.5 / math.sqrt(2), rel=1e-3)


def test_instrument_renders_pitch_of_its_f0_input():
    """Untrained weights put energy on many harmonics; the fundamental is still f0."""
    torch.manual_seed(0)
    model = Instrument().eval()
    n_frames = 101
    audio = model.render(torch.full((n_frames,), 220.0), torch.full((n_frames,), -20.0),
                         (n_frames - 1) * HOP_SAMPLES, reverb=False).numpy()
    from ddspkit.analysis.features import extract_features

    feats = extract_features(audio)
    voiced = feats.voiced
    assert voiced.mean() > 0.8
    assert abs(np.median(cents(feats.f0_hz[voiced], 220.0))) < 5.0


def test_harmonics_at_or_above_8khz_are_silenced():
    decoder = Decoder(ModelConfig())
    f0_hz = torch.tensor([[1000.0, 2000.0, 3000.0, 100.0]])
    with torch.no_grad():
        controls, _ = decoder(scale_f0(f0_hz).float(), torch.full_like(f0_hz, 0.5))
    dist = controls.harmonic_distribution[0]
    for row, f0 in enumerate(f0_hz[0].tolist()):
        k = np.arange(1, 61)
        assert torch.all(dist[row, k * f0 >= 7999.0] == 0)  # f0 decoded via MIDI: ~1e-3 Hz off
        assert torch.all(dist[row, k * f0 < 7990.0] > 0)
        assert float(dist[row].sum()) == pytest.approx(1.0, abs=1e-5)


def test_oscillator_bank_does_not_alias():
    """A flat spectrum at f0 = 3 kHz: 3 and 6 kHz sound, 9 kHz would fold to 7 kHz, must not."""
    n_frames = 51
    f0 = torch.full((1, n_frames), 3000.0)
    dist = torch.full((1, n_frames, 60), 1.0 / 60)
    audio, _ = harmonic_synth(f0, torch.ones(1, n_frames, 1), dist, (n_frames - 1) * HOP_SAMPLES)
    spectrum = np.abs(np.fft.rfft(audio[0].numpy() * np.hanning(audio.shape[-1])))
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / SAMPLE_RATE_HZ)

    def level_db(hz: float) -> float:
        return 20 * np.log10(spectrum[np.abs(freqs - hz) < 20].max() + 1e-12)

    assert level_db(7000) < level_db(3000) - 80
    assert level_db(6000) == pytest.approx(level_db(3000), abs=1.0)


def test_noise_filter_response_follows_band_magnitudes():
    """Long-run output spectrum of filtered noise matches the 65 band magnitudes in dB."""
    n_bands = 65
    band_hz = np.linspace(0, SAMPLE_RATE_HZ / 2, n_bands)
    # A smooth shape spanning 30 dB: a resonance at 2 kHz over a falling slope.
    shape_db = -20 * band_hz / 8000 + 10 * np.exp(-(((band_hz - 2000) / 700) ** 2))
    magnitudes = torch.tensor(10 ** (shape_db / 20), dtype=torch.float32)
    n_frames = 1000
    audio = filtered_noise(magnitudes.expand(1, n_frames, n_bands), (n_frames - 1) * HOP_SAMPLES,
                           generator=torch.Generator().manual_seed(0))[0].numpy()
    # Welch estimate of the power spectrum on the filter's own 128-point grid.
    seg = 128
    frames = audio[: len(audio) // seg * seg].reshape(-1, seg) * np.hanning(seg)
    psd = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    white = (1 / 3) * (np.hanning(seg) ** 2).sum()  # uniform noise in [-1, 1] has variance 1/3
    measured_db = 10 * np.log10(psd / white)
    inner = slice(2, n_bands - 2)  # the window smooths the band edges at DC and Nyquist
    assert np.max(np.abs(measured_db[inner] - shape_db[inner])) < 1.5
    # The filter itself (windowed, causal) realises the magnitudes closely.
    ir = noise_impulse_responses(magnitudes[None, None])[0, 0].numpy()
    response_db = 20 * np.log10(np.abs(np.fft.rfft(ir)))
    assert np.max(np.abs(response_db[inner] - shape_db[inner])) < 1.0


def test_noise_level_scales_with_magnitude():
    quiet, loud = (filtered_noise(torch.full((1, 200, 65), m), 199 * HOP_SAMPLES,
                                  generator=torch.Generator().manual_seed(1))
                   for m in (0.01, 0.1))
    ratio_db = 20 * math.log10(float(loud.std() / quiet.std()))
    assert ratio_db == pytest.approx(20.0, abs=0.2)


def test_power_features_match_direct_numpy():
    rng = np.random.default_rng(0)
    n_samples = 16000 + 123
    audio = (rng.standard_normal(n_samples) * np.linspace(0.001, 0.5, n_samples)).astype(np.float32)
    audio[4000:6000] = 0.0  # a silent stretch exercises the -80 dB floor
    power_db = frame_power_db(torch.from_numpy(audio)).numpy()
    assert power_db.shape == (n_samples // HOP_SAMPLES + 1,)
    padded = np.pad(audio.astype(np.float64), 512)
    for i in range(len(power_db)):
        frame = padded[i * HOP_SAMPLES : i * HOP_SAMPLES + 1024]
        expected = max(10 * np.log10(max(np.mean(frame**2), 1e-30)), -80.0)
        assert power_db[i] == pytest.approx(expected, abs=1e-3)
    assert power_db.min() == pytest.approx(-80.0)
    # A full-scale sine is -3 dB; the model input is then (-3 / 80 + 1).
    sine = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    assert float(np.median(frame_power_db(torch.from_numpy(sine)))) == pytest.approx(-3.01, abs=0.02)
    assert scale_power(-3.0) == pytest.approx(1 - 3 / 80)


def test_exp_sigmoid_range_and_values():
    x = torch.linspace(-50, 50, 1001)
    y = exp_sigmoid(x)
    assert float(y.min()) >= 1e-7 and float(y.max()) <= 2.0 + 1e-7
    assert torch.all(torch.diff(y) >= 0)
    assert float(exp_sigmoid(torch.tensor(0.0))) == pytest.approx(2 * 0.5 ** math.log(10) + 1e-7)
    assert float(exp_sigmoid(torch.tensor(-100.0))) == pytest.approx(1e-7, rel=1e-3)


def test_f0_scaling_matches_plugin():
    assert float(scale_f0(np.array(440.0))) == pytest.approx(69 / 127)
    assert float(scale_f0(np.array(0.0))) == 0.0
    assert float(hz_to_midi(torch.tensor(261.6256))) == pytest.approx(60.0, abs=1e-3)


def test_frame_i_sits_on_sample_i_times_hop():
    frames = torch.arange(5, dtype=torch.float32).reshape(1, 5, 1)
    dense = upsample_frames(frames, 4 * HOP_SAMPLES)[0, :, 0]
    assert dense.shape == (4 * HOP_SAMPLES,)
    for i in range(4):
        assert float(dense[i * HOP_SAMPLES]) == pytest.approx(i)
    assert float(dense[HOP_SAMPLES // 2]) == pytest.approx(0.5)


def test_chunked_synthesis_is_seamless():
    """Rendering in two chunks with the phase carried equals one render."""
    torch.manual_seed(0)
    n_frames = 41
    f0 = 200 + 50 * torch.rand(1, n_frames)
    amp, dist = torch.rand(1, n_frames, 1), torch.softmax(torch.randn(1, n_frames, 60), -1)
    whole, _ = harmonic_synth(f0, amp, dist, 40 * HOP_SAMPLES)
    first, phase = harmonic_synth(f0[:, :21], amp[:, :21], dist[:, :21], 20 * HOP_SAMPLES)
    second, _ = harmonic_synth(f0[:, 20:], amp[:, 20:], dist[:, 20:], 20 * HOP_SAMPLES,
                               initial_phase_rad=phase)
    np.testing.assert_allclose(torch.cat([first, second], -1).numpy(), whole.numpy(), atol=2e-4)


def test_spectral_loss_zero_for_identical_and_grows_with_detuning():
    t = torch.arange(16000) / 16000
    ref = torch.sin(2 * math.pi * 440 * t)[None]
    near = torch.sin(2 * math.pi * 446 * t)[None]
    far = torch.sin(2 * math.pi * 660 * t)[None]
    assert float(multiscale_spectral_loss(ref, ref)) == pytest.approx(0.0, abs=1e-6)
    assert 0 < float(multiscale_spectral_loss(near, ref)) < float(multiscale_spectral_loss(far, ref))


def test_training_forward_shapes():
    model = Instrument()
    n_samples = 16000
    n_frames = n_samples // HOP_SAMPLES + 1
    audio = model(torch.full((2, n_frames), 200.0), torch.full((2, n_frames), -30.0), n_samples)
    assert audio.shape == (2, n_samples)
    assert torch.isfinite(audio).all()
