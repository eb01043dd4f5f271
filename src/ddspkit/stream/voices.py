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
    """Up to ``max_voices`` voices of one instrument, each a row, stepped together or a few rows
    at a time.

    A row starts with :meth:`start` (a new row) or :meth:`restart` (a row again, for a new
    phrase): its GRU is primed with 0.5 s of silence, as ``Instrument.controls`` primes it,
    and its first ``silent_steps`` frames give no audio (they prime the decoder; the last of
    them sets the controls the first heard hop ramps from). Each later step gives one hop
    (320 samples at 16 kHz) ramping from the previous frame's controls to this frame's.
    """

    def __init__(self, instrument: Instrument, max_voices: int = 1) -> None:
        self.instrument = instrument
        cfg = instrument.config
        self.hop = cfg.hop_samples
        self.sample_rate_hz = cfg.sample_rate_hz
        self.max_voices = max_voices
        self.n_voices = 0  # rows started so far
        self.state = torch.zeros(max_voices, cfg.gru_units)
        self.previous = Controls(torch.zeros(max_voices, 1, 1),
                                 torch.zeros(max_voices, 1, cfg.n_harmonics),
                                 torch.zeros(max_voices, 1, cfg.n_noise_bands))
        self.previous_f0_hz = torch.zeros(max_voices)
        self.phase = torch.zeros(max_voices)
        self.seeds = np.zeros(max_voices, np.int64)
        self.next_noise_frame = np.zeros(max_voices, np.int64)
        self.silent_steps = np.zeros(max_voices, np.int64)  # steps left before a row is heard
        block = self.hop + 2 * (cfg.n_noise_bands - 1) - 1
        # Where a frame's filtered noise block lands in the tail, which starts at the hop being
        # finished: frame i's block starts noise_block_offset samples before i * hop.
        self.noise_offset = self.hop - noise_block_offset(cfg.n_noise_bands, self.hop)
        self.noise_tail = torch.zeros(max_voices, self.noise_offset + block)
        self._primed_cache: dict[float, torch.Tensor] = {}

    def start(self, f0_hz: float, seed: int, first_noise_frame: int, silent_steps: int = 1) -> int:
        """A new row at ``f0_hz``, its noise ``frame_noise(seed, first_noise_frame + i)``;
        returns the row."""
        if self.n_voices >= self.max_voices:
            raise RuntimeError("no free voice")
        self.n_voices += 1
        self.restart(self.n_voices - 1, f0_hz, seed, first_noise_frame, silent_steps)
        return self.n_voices - 1

    @torch.inference_mode()
    def restart(self, row: int, f0_hz: float, seed: int, first_noise_frame: int,
                silent_steps: int = 1) -> None:
        """Row ``row`` begins again, as a voice that has been waiting in silence at ``f0_hz``."""
        self.state[row] = self.primed_state(float(f0_hz))
        for tensor in (self.previous.amplitude, self.previous.harmonic_distribution,
                       self.previous.noise_magnitudes, self.noise_tail):
            tensor[row] = 0.0
        self.previous_f0_hz[row] = 0.0
        self.phase[row] = 0.0
        self.seeds[row] = seed
        self.next_noise_frame[row] = first_noise_frame
        self.silent_steps[row] = silent_steps

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
    def step(self, f0_hz: np.ndarray, power_db: np.ndarray, harmonic_gain: np.ndarray | None = None,
             lead_steps: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """Advance every started row by one frame.

        Args:
            f0_hz, power_db: [n_voices] this frame's features, by row.
            harmonic_gain: [n_voices] factors on the frame's harmonic amplitude (0: only the
                filtered noise sounds, as in a note's attack before its pitch is clear).
            lead_steps: the decoder first runs this many silent steps on the same features.
                It answers a change of its input a frame or two late (it learned from features
                measured over windows centred on each frame, which rise before the sound); at
                a note's onset in a live input, where no later input is known, running it
                ahead on the onset's features makes this frame sound the note at once. The
                steps run in the frame's one decoder call.
        Returns:
            ([n_voices, hop] audio, [n_voices] bool: the rows that hold audio).
        """
        # A slice indexes views, not copies: the common path stays cheap.
        return self._advance(slice(0, self.n_voices), np.asarray(f0_hz, np.float32),
                             np.asarray(power_db, np.float32), harmonic_gain=harmonic_gain,
                             lead_steps=lead_steps)

    @torch.inference_mode()
    def step_rows(self, rows: np.ndarray, f0_hz: np.ndarray, power_db: np.ndarray
                  ) -> tuple[torch.Tensor, np.ndarray]:
        """Advance rows ``rows`` [n] by one frame (features [n] each); as :meth:`step`."""
        rows = np.asarray(rows, np.int64)
        index = slice(int(rows[0]), int(rows[0]) + 1) if len(rows) == 1 else torch.from_numpy(rows)
        return self._advance(index, np.asarray(f0_hz, np.float32), np.asarray(power_db, np.float32))

    @torch.inference_mode()
    def start_phrase(self, row: int, f0_hz: np.ndarray, power_db: np.ndarray) -> torch.Tensor:
        """Row ``row`` (just :meth:`restart` ed, one silent step) plays a phrase's first frames
        [n]: all but the last two only prime the decoder, the next sets where the first heard
        ramp starts, the last is heard. The decoder runs over them in one call (a few GRU steps
        in one call cost about one); returns the heard hop [hop]."""
        f0 = np.asarray(f0_hz, np.float32)
        power = np.clip(np.asarray(power_db, np.float32), -DB_RANGE, 0.0)
        controls, self.state[row : row + 1] = self._decode(
            scale_f0(torch.from_numpy(f0))[None], scale_power(torch.from_numpy(power))[None],
            self.state[row : row + 1])
        one = slice(row, row + 1)
        audio = None
        for i in (len(f0) - 2, len(f0) - 1):
            frame = Controls(*(c[:, i : i + 1] for c in (controls.amplitude, controls.harmonic_distribution,
                                                         controls.noise_magnitudes)))
            audio, _ = self._advance(one, f0[i : i + 1], power[i : i + 1], frame)
        return audio[0]

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

    def _advance(self, rows: slice | torch.Tensor, f0_hz: np.ndarray, power_db: np.ndarray,
                 controls: Controls | None = None, harmonic_gain: np.ndarray | None = None,
                 lead_steps: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """One frame for ``rows``; ``controls`` ([n, 1, ...], the frame's decoded controls)
        when the decoder has already run on it (:meth:`start_phrase`); ``harmonic_gain`` [n]
        scales the frame's harmonic amplitude; ``lead_steps``: see :meth:`step`."""
        index = np.arange(self.n_voices)[rows] if isinstance(rows, slice) else rows.numpy()
        f0 = torch.from_numpy(f0_hz)
        if controls is None:
            power = torch.from_numpy(np.clip(power_db, -DB_RANGE, 0.0))
            steps = lead_steps + 1
            controls, state = self._decode(scale_f0(f0)[:, None].expand(-1, steps),
                                           scale_power(power)[:, None].expand(-1, steps), self.state[rows])
            self.state[rows] = state
            if steps > 1:
                controls = Controls(*(c[:, -1:] for c in (controls.amplitude, controls.harmonic_distribution,
                                                          controls.noise_magnitudes)))
        if harmonic_gain is not None:
            gain = torch.from_numpy(np.asarray(harmonic_gain, np.float32))[:, None, None]
            controls = Controls(controls.amplitude * gain, controls.harmonic_distribution,
                                controls.noise_magnitudes)
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
        sounding = self.silent_steps[index] == 0
        # Silent steps only set where the first heard ramp starts: the phase stays at 0.
        self.phase[rows] = torch.where(torch.from_numpy(sounding), phase, self.phase[rows])
        self.silent_steps[index] = np.maximum(self.silent_steps[index] - 1, 0)
        self.next_noise_frame[index] += 1
        prev.amplitude[rows] = controls.amplitude
        prev.harmonic_distribution[rows] = controls.harmonic_distribution
        prev.noise_magnitudes[rows] = controls.noise_magnitudes
        self.previous_f0_hz[rows] = f0
        return harmonic + noise_hop, sounding
