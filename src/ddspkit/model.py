"""The DDSP instrument: a decoder from (f0, power) to synth controls, and the synths.

Data flows one way: features (f0_hz, power_db) -> :class:`Decoder` -> :class:`Controls` ->
harmonic + noise synths -> optional reverb -> audio. The decoder is exactly the DDSP-VST
network (RnnFcDecoder), with its output nonlinearities inside, so its outputs are what the
plugin's ``.tflite`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ddspkit.config import ModelConfig
from ddspkit.dsp.core import exp_sigmoid, scale_f0, scale_power, unscale_f0
from ddspkit.dsp.effects import FilteredNoiseReverb
from ddspkit.dsp.synths import filtered_noise, frame_noise, harmonic_synth

PREROLL_FRAMES = 25  # 0.5 s of silence primes the GRU before a performance
NOISE_BIAS = -5.0  # added to the noise bands' raw outputs (DDSP's FilteredNoise initial_bias)


@dataclass
class Controls:
    """Synth controls per frame, after the output nonlinearities.

    amplitude: [B, F, 1] linear; harmonic_distribution: [B, F, K] summing to 1 (0 above
    Nyquist); noise_magnitudes: [B, F, N] linear band magnitudes.
    """

    amplitude: torch.Tensor
    harmonic_distribution: torch.Tensor
    noise_magnitudes: torch.Tensor


class FcStack(nn.Sequential):
    """Dense -> LayerNorm(eps 1e-3, as Keras) -> LeakyReLU(0.2, as tf.nn)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(
            nn.Linear(in_features, out_features),
            nn.LayerNorm(out_features, eps=1e-3),
            nn.LeakyReLU(0.2),
        )


class Decoder(nn.Module):
    """DDSP-VST's RnnFcDecoder with explicit GRU state.

    Inputs per frame: f0_scaled = midi(f0_hz)/127 and pw_scaled = power_db/80 + 1.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        hidden, gru = config.hidden_units, config.gru_units
        self.pw_stack = FcStack(1, hidden)
        self.f0_stack = FcStack(1, hidden)
        self.gru = nn.GRU(2 * hidden, gru, batch_first=True)
        self.out_stack = FcStack(2 * hidden + gru, hidden)
        self.out_dense = nn.Linear(hidden, config.n_outputs)
        # Constants of the output stage, made once (a streamed frame calls forward 50 times a
        # second, where building them each time cost as much as the network): the noise bands'
        # -5 bias and the harmonic numbers. Not persistent: a model file holds weights only.
        offset = torch.zeros(config.n_outputs)
        offset[1 + config.n_harmonics :] = NOISE_BIAS
        self.register_buffer("_output_offset", offset, persistent=False)
        self.register_buffer("_harmonic_numbers", torch.arange(1, config.n_harmonics + 1,
                                                               dtype=torch.float32), persistent=False)

    def raw_outputs(
        self, f0_scaled: torch.Tensor, pw_scaled: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, F] inputs (and [B, gru_units] state) -> raw [B, F, 126] outputs and new state."""
        pw_features = self.pw_stack(pw_scaled.unsqueeze(-1))
        f0_features = self.f0_stack(f0_scaled.unsqueeze(-1))
        h0 = None if state is None else state.unsqueeze(0).contiguous()
        gru_out, h_n = self.gru(torch.cat([pw_features, f0_features], dim=-1), h0)
        hidden = self.out_stack(torch.cat([pw_features, f0_features, gru_out], dim=-1))
        return self.out_dense(hidden), h_n[0]

    def forward(
        self, f0_scaled: torch.Tensor, pw_scaled: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[Controls, torch.Tensor]:
        """Controls for [B, F] scaled inputs; returns (controls, new GRU state [B, gru_units])."""
        raw, new_state = self.raw_outputs(f0_scaled, pw_scaled, state)
        cfg = self.config
        # One nonlinearity over all outputs (amplitude, harmonics, noise bands shifted down by
        # NOISE_BIAS): the same values as three calls, in one pass.
        positive = exp_sigmoid(raw + self._output_offset.to(raw.dtype))
        amplitude = positive[..., :1]
        distribution = positive[..., 1 : 1 + cfg.n_harmonics]
        noise = positive[..., 1 + cfg.n_harmonics :]
        # Zero harmonics at or above Nyquist (8 kHz), f0 decoded from the model input as the
        # plugin does, then normalise the rest to sum to 1.
        f0_hz = unscale_f0(f0_scaled).unsqueeze(-1)
        k = self._harmonic_numbers.to(raw.dtype)
        distribution = distribution * (f0_hz * k < cfg.sample_rate_hz / 2)
        total = distribution.sum(dim=-1, keepdim=True)
        distribution = distribution / torch.where(total > 0, total, torch.full_like(total, 1e-7))
        return Controls(amplitude, distribution, noise), new_state


class Instrument(nn.Module):
    """Decoder + harmonic and noise synths + trainable reverb: one trained instrument."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.decoder = Decoder(self.config)
        self.reverb = FilteredNoiseReverb(self.config.reverb_samples)

    @property
    def device(self) -> torch.device:
        """Where the instrument runs (CPU for a TFLite-backed decoder without parameters)."""
        first = next(self.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    def controls(
        self, f0_hz: torch.Tensor, power_db: torch.Tensor, state: torch.Tensor | None = None,
        preroll_frames: int = PREROLL_FRAMES,
    ) -> tuple[Controls, torch.Tensor]:
        """[B, F] f0 in Hz and power in dB -> controls and the new GRU state.

        Without a ``state``, the GRU is first primed with ``preroll_frames`` frames of silence
        (at the first frame's pitch), as if the instrument had been waiting in silence; a
        zero state is not one the model meets in a performance, and it answers it with a
        late start. Training passes ``preroll_frames=0`` and leaves its own warm-up unscored.
        """
        f0_scaled, pw_scaled = scale_f0(f0_hz), scale_power(power_db)
        if state is None and preroll_frames > 0:
            silence_f0 = f0_scaled[:, :1].expand(-1, preroll_frames)
            _, state = self.decoder(silence_f0, torch.zeros_like(silence_f0))
        return self.decoder(f0_scaled, pw_scaled, state)

    def synthesize(
        self,
        controls: Controls,
        f0_hz: torch.Tensor,
        n_samples: int,
        generator: torch.Generator | None = None,
        initial_phase_rad: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Dry audio [B, T] from controls and f0 [B, F]; also returns the final phase [B]."""
        cfg = self.config
        harmonic, phase = harmonic_synth(
            f0_hz, controls.amplitude, controls.harmonic_distribution, n_samples,
            cfg.sample_rate_hz, cfg.hop_samples, initial_phase_rad,
        )
        noise = filtered_noise(controls.noise_magnitudes, n_samples, cfg.hop_samples, generator)
        return harmonic + noise, phase

    def forward(
        self,
        f0_hz: torch.Tensor,
        power_db: torch.Tensor,
        n_samples: int,
        reverb: bool = True,
        generator: torch.Generator | None = None,
        preroll_frames: int = PREROLL_FRAMES,
    ) -> torch.Tensor:
        """Training path: [B, F] features -> [B, T] audio (F = T / hop + 1)."""
        controls, _ = self.controls(f0_hz, power_db, preroll_frames=preroll_frames)
        audio, _ = self.synthesize(controls, f0_hz, n_samples, generator)
        return self.reverb(audio, generator) if reverb else audio

    @torch.no_grad()
    def render(
        self,
        f0_hz: torch.Tensor,
        power_db: torch.Tensor,
        n_samples: int,
        reverb: bool = True,
        chunk_frames: int = 1500,
        seed: int = 0,
        first_frame: int = 0,
    ) -> torch.Tensor:
        """Inference path for long inputs: [F] features -> [T] audio, synthesized in chunks.

        The decoder runs over the whole sequence (its GRU carries the performance's context);
        synthesis runs in chunks of ``chunk_frames`` with the oscillator phase carried across,
        which keeps memory flat for inputs of any length. The noise of frame i is
        ``frame_noise(seed, first_frame + i)``, so any chunking, and the streaming engine
        running frame by frame, give the same audio. ``seed`` also draws the room.
        """
        controls, _ = self.controls(f0_hz[None], power_db[None])
        audio = self.synthesize_chunked(controls, f0_hz, n_samples, chunk_frames, seed, first_frame)
        if reverb:
            audio = self.reverb(audio, torch.Generator(device=f0_hz.device).manual_seed(seed))
        return audio[0]

    def synthesize_chunked(self, controls: Controls, f0_hz: torch.Tensor, n_samples: int,
                           chunk_frames: int, seed: int, first_frame: int) -> torch.Tensor:
        """Dry audio [1, T] from [1, F] controls and [F] f0, ``chunk_frames`` at a time."""
        hop = self.config.hop_samples
        pieces, phase = [], None
        n_frames = f0_hz.shape[0]
        margin = 2  # frames either side, so that noise filter tails cross chunk edges
        for start in range(0, max(n_samples, 1), chunk_frames * hop):
            length = min(chunk_frames * hop, n_samples - start)
            first = start // hop
            lo, hi = max(first - margin, 0), min(first + chunk_frames + margin + 1, n_frames)
            harmonic, phase = harmonic_synth(
                f0_hz[None, first:hi], controls.amplitude[:, first:hi],
                controls.harmonic_distribution[:, first:hi], length,
                self.config.sample_rate_hz, hop, phase,
            )
            noise = filtered_noise(
                controls.noise_magnitudes[:, lo:hi], (hi - lo) * hop, hop,
                noise=frame_noise(seed, first_frame + lo, hi - lo, hop, f0_hz.device),
            )
            offset = (first - lo) * hop
            pieces.append(harmonic + noise[:, offset : offset + length])
        return torch.cat(pieces, dim=-1)
