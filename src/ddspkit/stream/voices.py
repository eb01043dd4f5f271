"""Voices that run the model one 20 ms frame at a time, sounding exactly as ``render`` does.

A voice holds everything the offline path carries through a performance: the GRU state, the
controls of the previous frame (each hop ramps from them to the new frame's), the
fundamental's phase and the tails of the noise filters. Each step calls the offline
functions themselves (``Decoder``, ``harmonic_synth``, ``filtered_noise_blocks``,
``frame_noise``) on one frame, for every voice at once, so a stream renders what
``Instrument.render`` renders, sample for sample up to float rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from ddspkit.config import DB_RANGE
from ddspkit.dsp.core import midi_to_hz, scale_f0, scale_power
from ddspkit.dsp.synths import filtered_noise_blocks, frame_noise, harmonic_synth, noise_block_offset
from ddspkit.model import PREROLL_FRAMES, Controls, Decoder, Instrument


class VoiceBank:
    """Up to ``max_voices`` voices of one instrument, stepped together.

    A voice starts with :meth:`start`: its GRU is primed with 0.5 s of silence, as
    ``Instrument.controls`` primes it. The next frame it is stepped with sets the controls its
    first hop ramps from; each later :meth:`step` gives one hop (320 samples at 16 kHz)
    ramping from the previous frame's controls to this frame's. With
    ``silent_first_frame``, that first frame is a frame of silence at the start pitch,
    stepped at once (as ``midi.render_voice`` begins a voice).
    """

    def __init__(self, instrument: Instrument, max_voices: int = 1) -> None:
        self.instrument = instrument
        cfg = instrument.config
        self.hop = cfg.hop_samples
        self.sample_rate_hz = cfg.sample_rate_hz
        self.max_voices = max_voices
        self.n_voices = 0  # voices started so far (they never stop: the GRU keeps running)
        self.state = torch.zeros(max_voices, cfg.gru_units)
        self.previous = Controls(torch.zeros(max_voices, 1, 1),
                                 torch.zeros(max_voices, 1, cfg.n_harmonics),
                                 torch.zeros(max_voices, 1, cfg.n_noise_bands))
        self.previous_f0_hz = torch.zeros(max_voices)
        self.phase = torch.zeros(max_voices)
        self.seeds = np.zeros(max_voices, np.int64)
        self.next_noise_frame = np.zeros(max_voices, np.int64)
        self.primed = np.zeros(max_voices, bool)  # started; its next frame gives no audio
        block = self.hop + 2 * (cfg.n_noise_bands - 1) - 1
        # Where a frame's filtered noise block lands in the tail, which starts at the hop
        # being finished: frame i's block starts noise_block_offset samples before i * hop.
        self.noise_offset = self.hop - noise_block_offset(cfg.n_noise_bands, self.hop)
        self.noise_tail = torch.zeros(max_voices, self.noise_offset + block)
        self._silent_first: dict[int, float] = {}  # new voices' rows -> their starting pitch
        self._primed_cache: dict[float, torch.Tensor] = {}

    @torch.inference_mode()
    def start(self, f0_hz: float, seed: int, first_noise_frame: int,
              silent_first_frame: bool = False) -> int:
        """A new voice at ``f0_hz``, its noise ``frame_noise(seed, first_noise_frame + i)``;
        returns its row."""
        if self.n_voices >= self.max_voices:
            raise RuntimeError("no free voice")
        v = self.n_voices
        self.n_voices += 1
        self.state[v] = self.primed_state(float(f0_hz))
        self.seeds[v] = seed
        self.next_noise_frame[v] = first_noise_frame
        self.primed[v] = True
        if silent_first_frame:  # stepped with the next step, all new voices together
            self._silent_first[v] = float(f0_hz)
        return v

    def primed_state(self, f0_hz: float) -> torch.Tensor:
        """[gru_units] GRU state after PREROLL_FRAMES of silence at ``f0_hz``.

        25 GRU steps cost a few milliseconds: a chord that opens four voices in one frame
        would miss a small block's deadline. After :meth:`prepare_note_states`, every MIDI
        note's pitch (what a note-on without a bend asks for) is ready; other pitches are
        computed when asked, and kept.
        """
        key = np.float32(f0_hz).item()
        if key not in self._primed_cache:
            self._primed_cache[key] = self._prime(np.array([key], np.float32))[0]
        return self._primed_cache[key]

    @torch.inference_mode()
    def prepare_note_states(self) -> None:
        """Compute the primed state of all 128 MIDI notes' pitches at once (before playing)."""
        notes = midi_to_hz(np.arange(128.0)).astype(np.float32)
        self._primed_cache.update(zip(notes.tolist(), self._prime(notes), strict=True))

    def _prime(self, f0_hz: np.ndarray) -> torch.Tensor:
        """[n, gru_units] states after silence at each of [n] pitches (Instrument.controls' preroll)."""
        silence_f0 = scale_f0(torch.from_numpy(f0_hz)[:, None].expand(-1, PREROLL_FRAMES))
        if isinstance(self.instrument.decoder, Decoder):
            return self.instrument.decoder(silence_f0, torch.zeros_like(silence_f0))[1]
        return torch.cat([self.instrument.decoder(row[None], torch.zeros_like(row[None]))[1]
                          for row in silence_f0])

    @torch.inference_mode()
    def step(self, f0_hz: np.ndarray, power_db: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Advance every started voice by one frame.

        Args:
            f0_hz, power_db: [n_voices] this frame's features, by row.
        Returns:
            ([n_voices, hop] audio, [n_voices] bool: the rows that hold audio).
        """
        if self._silent_first:  # new voices begin with a frame of silence at their pitch
            rows = torch.tensor(list(self._silent_first))
            pitches = np.array(list(self._silent_first.values()), np.float32)
            self._advance(rows, pitches, np.full(len(rows), -DB_RANGE, np.float32))
            self._silent_first.clear()
        # A slice indexes views, not copies: the common path stays cheap.
        return self._advance(slice(0, self.n_voices), np.asarray(f0_hz, np.float32),
                             np.asarray(power_db, np.float32))

    def _decode(self, f0_scaled: torch.Tensor, pw_scaled: torch.Tensor, state: torch.Tensor
                ) -> tuple[Controls, torch.Tensor]:
        """One frame for every row; a decoder that runs one sequence at a time (a DDSP-VST
        ``.tflite`` in its interpreter) is called row by row."""
        decoder = self.instrument.decoder
        if isinstance(decoder, Decoder) or len(state) == 1:
            return decoder(f0_scaled, pw_scaled, state)
        rows = [decoder(f0_scaled[i : i + 1], pw_scaled[i : i + 1], state[i : i + 1])
                for i in range(len(state))]
        controls = Controls(*(torch.cat([getattr(c, name) for c, _ in rows])
                              for name in ("amplitude", "harmonic_distribution", "noise_magnitudes")))
        return controls, torch.cat([s for _, s in rows])

    def _advance(self, rows: slice | torch.Tensor, f0_hz: np.ndarray, power_db: np.ndarray
                 ) -> tuple[torch.Tensor, np.ndarray]:
        index = np.arange(self.n_voices)[rows] if isinstance(rows, slice) else rows.numpy()
        f0 = torch.from_numpy(f0_hz)
        power = torch.from_numpy(np.clip(power_db, -DB_RANGE, 0.0))
        controls, state = self._decode(scale_f0(f0)[:, None], scale_power(power)[:, None],
                                       self.state[rows])
        self.state[rows] = state
        prev = self.previous
        harmonic, phase = harmonic_synth(
            torch.stack([self.previous_f0_hz[rows], f0], dim=1),
            torch.cat([prev.amplitude[rows], controls.amplitude], dim=1),
            torch.cat([prev.harmonic_distribution[rows], controls.harmonic_distribution], dim=1),
            self.hop, self.sample_rate_hz, self.hop, self.phase[rows])
        noise = torch.cat([frame_noise(int(self.seeds[v]), int(self.next_noise_frame[v]), 1, self.hop)
                           for v in index])
        blocks = filtered_noise_blocks(controls.noise_magnitudes, noise)[:, 0]  # [n, block]
        tail = self.noise_tail[rows]
        tail[:, self.noise_offset : self.noise_offset + blocks.shape[-1]] += blocks
        noise_hop = tail[:, : self.hop].clone()  # tail may be a view, rewritten next
        self.noise_tail[rows] = torch.cat([tail[:, self.hop :], torch.zeros_like(noise_hop)], dim=1)
        sounding = ~self.primed[index]
        # A voice's first frame only sets where its first ramp starts: its phase stays at 0.
        self.phase[rows] = torch.where(torch.from_numpy(sounding), phase, self.phase[rows])
        self.primed[index] = False
        self.next_noise_frame[index] += 1
        prev.amplitude[rows] = controls.amplitude
        prev.harmonic_distribution[rows] = controls.harmonic_distribution
        prev.noise_magnitudes[rows] = controls.noise_magnitudes
        self.previous_f0_hz[rows] = f0
        return harmonic + noise_hop, sounding
