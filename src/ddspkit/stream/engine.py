"""Streaming engines: audio in -> instrument out (effect), MIDI in -> instrument out (synth).

Both take blocks of any size at the host's rate and return blocks of the same size, and hold
all their state (GRU states, oscillator phases, noise-filter tails, resampler and tracker
buffers, the room's convolution history). Inside, everything runs on the model's own grid:
16 kHz, one frame every 320 samples (20 ms), exactly as the offline path.

Latency (:attr:`StreamEngine.latency_samples`, exact): the output is what the offline
rendering of the same frames sounds like, delayed by that many samples. It is the sum of

- effect mode: the tracker's lookahead (10 ms), one frame (each hop ramps from a frame to the
  next: the next must be known) and the two resamplers (about 0.6 ms each way; none at
  16 kHz): 31.2 ms at 48 kHz, 30 ms at 16 kHz. That is the delay of a sustained sound. A
  note after silence is heard sooner: the tracker tries its gates every 4 ms between frames
  and starts the frame grid again where a note is found (the hop that ramps to that frame
  replaces the silence still queued), the decoder is run ahead on it, and its attack sounds
  at least at the model's quietest notes' level, as noise alone while its pitch is not yet
  clear; so a note is heard 10 to 20 ms after the input's onset on sampled flute, cello,
  violin and trumpet notes (``benchmarks/onsets.py``).
- synth mode: the output resampler only (0.65 ms at 48 kHz). A note that finds its voice
  silent starts that voice's frames at its own sample, and each frame is computed one hop
  before it sounds, exactly as ``ddspkit render`` plays a file: a note is heard at its
  note-on, whatever the block size, and that is what an onset measurement finds.

A block's compute time is not in the latency: the caller processes a block within the
block's duration (``ddspkit live`` does it off the audio thread, see :mod:`ddspkit.stream.live`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np
import torch

from ddspkit.config import DB_RANGE, HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.io.model import Model
from ddspkit.io.profiles import model_expression
from ddspkit.midi import Expression, PartPerformance, PerformedVoice, event_order
from ddspkit.midi.curves import CONTROL_LEAD_FRAMES
from ddspkit.midi.performance import phrase_frame_times, to_model_samples
from ddspkit.render.calibration import calibrated
from ddspkit.stream.adjust import OnlineAdjuster
from ddspkit.stream.resample import StreamResampler
from ddspkit.stream.reverb import StreamReverb
from ddspkit.stream.tracker import StreamTracker, TrackedFrame, TrackerSettings
from ddspkit.stream.voices import VoiceBank

MIN_BLOCK, MAX_BLOCK = 1, 1 << 16
LIMIT_FROM = 0.9  # a soft limiter takes over above this: the output never exceeds 0 dBFS
SILENT_PEAK = 1e-3  # a hop whose peak stays under -60 dBFS may be taken back for an onset
ATTACK_RISE_DB = 6.0  # a live input's power rising this much in one frame is an attack
ATTACK_FLOOR_QUANTILE = 5  # %: a note's attack sounds at least at the model's quietest notes' level
ATTACK_MAX_FRAMES = 5  # frames after a note's start that may still count as its attack


def use_one_thread() -> None:
    """Run torch on one thread, as the engines want (a process-wide setting).

    A frame's tensors are tiny (320 samples x 60 harmonics): spread over a thread pool they
    cost more in waiting than in computing, up to ten times more when other programs keep
    the cores busy, which is when a live performance can least afford it.
    """
    torch.set_num_threads(1)


def soft_limit(audio: np.ndarray) -> np.ndarray:
    """Unchanged below LIMIT_FROM; above, bent smoothly towards 1.0, which it never reaches."""
    magnitude = np.abs(audio)
    over = magnitude > LIMIT_FROM
    if not over.any():
        return audio
    head = 1.0 - LIMIT_FROM
    bent = LIMIT_FROM + head * np.tanh((magnitude - LIMIT_FROM) / head)
    return np.where(over, np.sign(audio) * bent, audio).astype(np.float32)


class _OutputStage:
    """16 kHz hops (in order, from model time 0) -> room -> host rate -> FIFO delayed by L.

    The last hop pushed can be taken back while it is still silent (:meth:`rewind`): a note
    found between two frames then starts at once, in place of the rest of that silence.
    """

    def __init__(self, instrument, sample_rate_hz: int, latency_samples: int, reverb: bool) -> None:
        self.room = StreamReverb.for_instrument(instrument) if reverb else None
        self.up = StreamResampler(SAMPLE_RATE_HZ, sample_rate_hz)
        self.fifo = np.zeros(latency_samples, np.float32)
        self.underruns = 0
        self.pushed = latency_samples  # host samples made so far: the FIFO ends there...
        self.pulled = 0  # ...and starts here
        self._skip = 0  # host samples still to drop from what is made next (played already)
        self._rewind_point: tuple | None = None  # (room, resampler, pushed) before the last hop

    def add_hop(self, dry_16k: np.ndarray, silent: bool = False) -> None:
        """Push a hop; ``silent``: it holds no sound, so :meth:`rewind` may take it back."""
        self._rewind_point = ((copy.deepcopy(self.room), copy.deepcopy(self.up), self.pushed)
                              if silent else None)
        self._push(dry_16k)

    @property
    def can_rewind(self) -> bool:
        return self._rewind_point is not None

    def rewind(self, keep_16k: int) -> None:
        """Take back the last (silent) hop but its first ``keep_16k`` samples, which become
        zeros; what of it was already pulled stays played."""
        assert self._rewind_point is not None
        self.room, self.up, pushed = self._rewind_point
        self._rewind_point = None
        self.fifo = self.fifo[: max(0, pushed - self.pulled)]
        self._skip = max(0, self.pulled - pushed)
        self.pushed = pushed
        self._push(np.zeros(keep_16k, np.float32))

    def _push(self, dry_16k: np.ndarray) -> None:
        wet = self.room.process(dry_16k) if self.room is not None else dry_16k
        self.up.push(wet)
        out = self.up.pull(self.up.available())
        self.pushed += len(out)
        skip = min(self._skip, len(out))
        self._skip -= skip
        self.fifo = np.concatenate([self.fifo, out[skip:]])

    def pull(self, n: int) -> np.ndarray:
        out = self.fifo[:n]
        self.fifo = self.fifo[n:]
        self.pulled += n
        if len(out) < n:  # never happens when the latency is right; counted for the tests
            self.underruns += 1
            out = np.concatenate([out, np.zeros(n - len(out), np.float32)])
        return soft_limit(out)


class StreamEngine:
    """What both engines share: the host rate, the declared latency, blocks in and out."""

    sample_rate_hz: int
    latency_samples: int
    frame_index: int  # frames computed so far (frame k is at 16 kHz sample k * 320)

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.latency_samples / self.sample_rate_hz

    @property
    def underruns(self) -> int:
        return self._output.underruns

    def _check_block(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, np.float32).reshape(-1)
        if not MIN_BLOCK <= len(block) <= MAX_BLOCK:
            raise ValueError(f"blocks hold {MIN_BLOCK} to {MAX_BLOCK} samples, not {len(block)}")
        return block


def _up_outputs_ready(up: StreamResampler, synth_end_16k: int) -> int:
    """How many host-rate samples the output resampler can give from ``synth_end_16k`` samples."""
    return max(0, ((synth_end_16k - up.half_width) * up.step_den - 1) // up.step_num + 1)


def _latency(sample_rate_hz: int, frame_ready_at, synth_end_after) -> int:
    """The smallest output delay that never starves: max over block ends n of n minus the
    host samples that can be output from the frames ready by n. ``frame_ready_at(k)``: the
    host input end needed for frame k; ``synth_end_after(k)``: 16 kHz samples synthesized
    once frame k is done. The grid repeats every frame; two frames of block ends suffice."""
    up = StreamResampler(SAMPLE_RATE_HZ, sample_rate_hz)
    period = HOP_SAMPLES * sample_rate_hz // SAMPLE_RATE_HZ
    start = 20 * period  # away from the start-up
    k = 0
    worst = 0
    for n in range(start, start + 2 * period + 1):
        while frame_ready_at(k + 1) <= n:
            k += 1
        worst = max(worst, n - _up_outputs_ready(up, synth_end_after(k)))
    return worst


class EffectEngine(StreamEngine):
    """Audio in -> the instrument playing it, block by block (timbre transfer, live).

    Pitch and power are tracked on the stream (:class:`StreamTracker`), adjusted into the
    model's range as offline transfer does (:class:`OnlineAdjuster`: octave, loudness, manual
    shifts that may change while playing) and played by one voice. Where the tracker's gate
    opens (a note starts), the decoder is run ahead on that frame (``VoiceBank.step``'s
    ``lead_steps``), so that the note sounds at once rather than when the decoder's learned
    answer time has passed. With ``record_features`` the (f0_hz, power_db) the model heard at
    each frame are kept in :attr:`features`, each frame's 16 kHz sample in
    :attr:`frame_centres`, the frames where it was run ahead in :attr:`hurried_frames`, and
    those heard as noise alone (an attack before its pitch is clear) in :attr:`unpitched_frames`.
    """

    def __init__(self, model: Model, sample_rate_hz: int = 48000, *, reverb: bool = True,
                 auto_adjust: bool = True, pitch_shift_semitones: float = 0.0,
                 loudness_shift_db: float = 0.0, tracker: TrackerSettings | None = None,
                 record_features: bool = False) -> None:
        instrument, statistics = _instrument_and_statistics(model)
        self.sample_rate_hz = sample_rate_hz
        self.tracker = StreamTracker(tracker, initial_f0_hz=_mean_f0_hz(statistics))
        self.adjuster = OnlineAdjuster(statistics, auto_adjust, pitch_shift_semitones,
                                       loudness_shift_db)
        self.down = StreamResampler(sample_rate_hz, SAMPLE_RATE_HZ)
        self.voices = VoiceBank(instrument, 1)
        # Primed now, not at the first frame (a GRU preroll costs a small block's deadline), at
        # the pitch the first frame will have if the input starts silent (the tracker's starting
        # pitch, through the adjuster); as offline, at the first frame's pitch (see _frame).
        silent_start = TrackedFrame(self.tracker.f0_hz, 0.0, -DB_RANGE, gate_open=False)
        self._primed_f0_hz = self.adjuster(silent_start)[0]
        self.voices.start(self._primed_f0_hz, seed=0, first_noise_frame=0)
        self.frame_index = 0
        lookahead = self.tracker.settings.lookahead_samples
        down = self.down

        def frame_ready_at(k: int) -> int:  # host input end for 16 kHz samples < k*hop + lookahead
            last = k * HOP_SAMPLES + lookahead - 1
            return (last * down.step_num) // down.step_den + down.half_width + 1

        self.latency_samples = _latency(sample_rate_hz, frame_ready_at, lambda k: k * HOP_SAMPLES)
        self._output = _OutputStage(instrument, sample_rate_hz, self.latency_samples, reverb)
        self.features: list[tuple[float, float]] | None = [] if record_features else None
        self.frame_centres: list[int] = []  # with record_features: each frame's 16 kHz sample
        self.unpitched_frames: list[int] = []  # with record_features: attacks heard as noise only
        self.hurried_frames: list[int] = []  # with record_features: where the decoder was run ahead
        self._gate_was_open, self._last_power_db = False, -DB_RANGE
        self._attack_frames, self._last_input_power_db = 0, -DB_RANGE
        self._was_unpitched = False
        self._attack_floor_db = (statistics.power_quantile_db(ATTACK_FLOOR_QUANTILE / 100)
                                 if statistics is not None else -DB_RANGE)

    def set_pitch_shift(self, semitones: float) -> None:
        self.adjuster.pitch_shift_semitones = float(semitones)

    def set_loudness_shift(self, db: float) -> None:
        self.adjuster.loudness_shift_db = float(db)

    def set_auto_adjust(self, on: bool) -> None:
        self.adjuster.auto = bool(on)

    def process(self, block: np.ndarray) -> np.ndarray:
        """[n] input samples at the host rate -> [n] output samples (float32, within +-1)."""
        block = self._check_block(block)
        self.down.push(np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0))
        self.tracker.push(self.down.pull(self.down.available()))
        while True:
            if self._output.can_rewind and (earlier := self.tracker.early_onset()):
                # A note begins between two frames, after silence: its first frame is taken
                # there, and its first hop replaces the silent rest of the last one.
                self._output.rewind(HOP_SAMPLES - earlier)
            elif self.tracker.ready():
                self._frame()
            else:
                break
        return self._output.pull(len(block))

    def _frame(self) -> None:
        frame = self.tracker.next_frame()
        f0_hz, power_db = self.adjuster(frame)
        if self.frame_index == 0 and np.float32(f0_hz) != np.float32(self._primed_f0_hz):
            self.voices.state[0] = self.voices.primed_state(f0_hz)  # the input began voiced
        power_db = self._attack_power_db(frame, power_db)
        # A note starts, its attack is still rising fast, or its pitch was just found: the
        # decoder answers it now.
        rising = power_db - self._last_power_db >= ATTACK_RISE_DB
        pitch_found = frame.pitched and self._was_unpitched
        attack = frame.gate_open and (not self._gate_was_open or rising or pitch_found)
        if attack and self.features is not None:
            self.hurried_frames.append(self.frame_index)
        self._gate_was_open, self._last_power_db = frame.gate_open, power_db
        unpitched = frame.gate_open and not frame.pitched
        self._was_unpitched = unpitched
        audio, sounding = self.voices.step(np.array([f0_hz]), np.array([power_db]),
                                           np.zeros(1) if unpitched else None,
                                           lead_steps=CONTROL_LEAD_FRAMES if attack else 0)
        if self.features is not None:
            self.features.append((f0_hz, power_db))
            self.frame_centres.append(self.tracker.next_centre - HOP_SAMPLES)
            if unpitched:
                self.unpitched_frames.append(self.frame_index)
        self.frame_index += 1
        if sounding[0]:
            hop = _finite(audio[0].numpy())
            # Silence, or an attack's noise before its pitch is clear, gives way to a note
            # found before the next frame.
            self._output.add_hop(hop, silent=unpitched or (not frame.gate_open
                                                            and np.abs(hop).max() < SILENT_PEAK))


    def _attack_power_db(self, frame: TrackedFrame, power_db: float) -> float:
        """The power (dB) the model hears: at a note's first frames, while the input's level
        rises, at least the model's quietest notes' level.

        The input's level at a note's first frames is that of a sound only beginning (its
        windows still hold the silence before); the model, which learned from windows centred
        on each frame, would answer it with silence for a frame or two. Only where the pitch
        is certain, or the frame sounds as noise alone: a doubtful pitch is not made heard.
        """
        if frame.gate_open and not self._gate_was_open:
            self._attack_frames = ATTACK_MAX_FRAMES
        elif not frame.gate_open or power_db <= self._last_input_power_db:
            self._attack_frames = 0  # the attack is over when the level stops rising
        self._last_input_power_db = power_db
        certain = frame.confidence >= self.tracker.settings.clarity_open
        if self._attack_frames > 0 and (certain or not frame.pitched):
            self._attack_frames -= 1
            return max(power_db, self._attack_floor_db)
        return power_db


class SynthEngine(StreamEngine):
    """Timestamped MIDI in -> the instrument playing it, block by block.

    Each channel is played by a :class:`ddspkit.midi.PartPerformance`, the machine ``render``
    plays a file's parts with (voices, stealing past ``max_voices`` per channel, sustain pedal,
    CC7/CC11, RPN bend range, phrases that start at their note-on's own sample), and each
    frame's controls come from the same :func:`ddspkit.midi.curves.voice_frames`; channel 10
    (drums) is ignored by default. ``channels``: the channels played, in the order that numbers
    their parts (as ``render`` numbers a file's parts). Messages are ``mido`` messages, or
    anything with the same attributes.

    The engine runs on the model's 16 kHz clock: it applies the messages up to the last model
    sample the host's input has reached, computes each voice's frames when they fall due (a
    frame one hop before it sounds; a phrase's first frames at its note-on) and mixes their
    hops; the mix is final up to that sample, so the output waits only for the resampler.
    """

    def __init__(self, model: Model, sample_rate_hz: int = 48000, *, max_voices: int = 8,
                 expression: Expression | None = None, reverb: bool = True,
                 channels: Iterable[int] | None = None) -> None:
        instrument, self.statistics = _instrument_and_statistics(model)
        self.sample_rate_hz = sample_rate_hz
        # the model's learned expression unless told otherwise, calibrated as render plays a file
        expression = model_expression(model.info) if expression is None else expression
        self.expression = calibrated(expression, instrument, self.statistics)
        self.max_voices = max_voices
        # A channel's place in this order is its part's index, which seeds its voices' noise:
        # a file streamed on channels 0, 1, ... sounds as render plays its parts 0, 1, ...
        self.channels = [c for c in range(16) if c != 9] if channels is None else list(channels)
        self.voices = VoiceBank(instrument, max_voices * len(self.channels))
        self.voices.prepare_note_states()  # so that a note-on never waits for a GRU preroll
        self.parts: dict[int, PartPerformance] = {}
        self._part_order: list[int] = []
        self.frame_index = 0  # frames computed so far, all voices together
        self.samples_in = 0  # host samples received so far
        self.known = -1  # the model sample up to which messages are applied and frames computed
        self._pending: list[tuple[int, int, object]] = []  # (model sample, order, message)
        self._mix = np.zeros(0, np.float32)  # 16 kHz mix from model sample self.known + 1 on
        ratio = sample_rate_hz / SAMPLE_RATE_HZ

        def sample_ready_at(m: int) -> int:
            # Host input needed to know every message at model sample m or before: every host
            # sample that rounds to m or earlier (midi.on_model_grid).
            return int(np.floor((m + 0.5) * ratio)) + 1

        self.latency_samples = _latency(sample_rate_hz, sample_ready_at, lambda m: m + 1)
        self._output = _OutputStage(instrument, sample_rate_hz, self.latency_samples, reverb)

    def process(self, block: np.ndarray | int, events: Iterable[tuple[int, object]] = ()) -> np.ndarray:
        """``events``: (sample offset in this block, message); returns the block's output.

        ``block`` may be the number of samples (a synth has no audio input) or an array
        whose length is used.
        """
        n = int(block) if np.isscalar(block) else len(self._check_block(block))
        if not MIN_BLOCK <= n <= MAX_BLOCK:
            raise ValueError(f"blocks hold {MIN_BLOCK} to {MAX_BLOCK} samples, not {n}")
        for offset, message in events:
            if not 0 <= offset < n:
                raise ValueError(f"event offset {offset} is outside the block of {n} samples")
            at = to_model_samples((self.samples_in + int(offset)) / self.sample_rate_hz)
            self._pending.append((max(at, self.known + 1), event_order(message), message))
        self._pending.sort(key=lambda item: (item[0], item[1]))
        self.samples_in += n
        known = int(np.floor(self.samples_in * SAMPLE_RATE_HZ / self.sample_rate_hz - 0.5 + 1e-9))
        self._advance_to(known)
        return self._output.pull(n)

    def _advance_to(self, known: int) -> None:
        """Apply messages and compute frames in time order up to model sample ``known``; a
        message at a frame's known time is applied before the frame."""
        while True:
            event_at = self._pending[0][0] if self._pending else None
            due = self._due_voices()
            frame_at = min(at for at, _, _ in due) if due else None
            if event_at is not None and event_at <= known and (frame_at is None or event_at <= frame_at):
                _, _, message = self._pending.pop(0)
                self._apply(event_at / SAMPLE_RATE_HZ, message)
            elif frame_at is not None and frame_at <= known:
                self._frames([(part, voice) for at, part, voice in due if at == frame_at], frame_at)
            else:
                break
        # Nothing can change the mix up to `known` any more: send it on.
        n_final = known - self.known
        if n_final > 0:
            self._grow_mix(n_final)
            self._output.add_hop(_finite(self._mix[:n_final]))
            self._mix = self._mix[n_final:]
            self.known = known

    def _due_voices(self) -> list[tuple[int, PartPerformance, PerformedVoice]]:
        """(known time of its next frame, part, voice) of every voice whose phrase has frames left."""
        due = []
        for part in (self.parts[c] for c in self._part_order):
            for voice in part.voices:
                if not voice.phrases:
                    continue
                phrase = voice.phrases[-1]
                if phrase.start + max(voice.next_frame, 1) * HOP_SAMPLES <= phrase.end:
                    due.append((phrase.start + max(voice.next_frame - 1, 0) * HOP_SAMPLES, part, voice))
        return due

    def _frames(self, voices: list[tuple[PartPerformance, PerformedVoice]], known: int) -> None:
        """The frames due at model sample ``known``: one for each sounding voice, and for a
        voice starting a phrase its priming frames and its first heard one. Each voice's hop
        from ``known`` on goes into the mix."""
        steps: list[tuple[int, float, float]] = []  # the sounding voices' frames, stepped together
        self._grow_mix(known + HOP_SAMPLES - self.known - 1)
        start = known - self.known - 1
        for part, voice in voices:
            phrase = voice.phrases[-1]
            first = voice.next_frame
            sound, _ = phrase_frame_times(phrase.start, first, 2 if first < 1 else first + 1)
            f0_hz, power_db = part.voice_values(voice, sound, known, self.statistics)
            if first < 1:  # a new phrase: its row begins again, primed at its first pitch
                if voice.row < 0:
                    voice.row = self.voices.start(float(f0_hz[0]), voice.seed, 0)
                # frames -lead .. -1 only prime the decoder, frame 0 sets the first ramp's start,
                # frame 1 is heard from the note-on; frame 0's noise is frame index base + lead
                self.voices.restart(voice.row, float(f0_hz[0]), voice.seed,
                                    phrase.start // HOP_SAMPLES - first, silent_steps=1)
                hop = self.voices.start_phrase(voice.row, f0_hz, power_db)
                self._mix[start : start + HOP_SAMPLES] += hop.numpy()
            else:
                steps.append((voice.row, float(f0_hz[0]), float(power_db[0])))
            voice.next_frame = 2 if first < 1 else first + 1
        if steps:
            rows, f0s, powers = (np.array(column) for column in zip(*steps, strict=True))
            audio, sounding = self.voices.step_rows(rows, f0s, powers)
            if sounding.any():
                self._mix[start : start + HOP_SAMPLES] += audio[torch.from_numpy(sounding)].sum(dim=0).numpy()
        self.frame_index += len(voices)

    def _grow_mix(self, n: int) -> None:
        if len(self._mix) < n:
            self._mix = np.concatenate([self._mix, np.zeros(n - len(self._mix), np.float32)])

    def _apply(self, time_s: float, message) -> None:
        channel = getattr(message, "channel", 0)
        if channel not in self.channels:
            return
        if channel not in self.parts:
            self.parts[channel] = PartPerformance(self.channels.index(channel), self.max_voices,
                                                  expression=self.expression)
            self._part_order.append(channel)
        self.parts[channel].apply(time_s, message)


def _finite(audio: np.ndarray) -> np.ndarray:
    """Never let a NaN out: a non-finite hop becomes silence."""
    return audio if np.isfinite(audio).all() else np.zeros_like(audio)


def _instrument_and_statistics(model: Model):
    """(Instrument in eval mode on the CPU, DatasetStatistics) of a loaded model."""
    instrument = model.instrument.cpu().eval()
    return instrument, model.info.statistics


def _mean_f0_hz(statistics) -> float:
    from ddspkit.dsp.core import midi_to_hz

    return float(midi_to_hz(statistics.mean_pitch_midi)) if statistics is not None else 220.0
