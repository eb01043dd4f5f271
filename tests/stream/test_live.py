"""`ddspkit live` on fake devices: the audio callback never computes, the sound is the stream's."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import mido
import numpy as np
import pytest
from test_cli import assert_one_line_error

import ddspkit
from ddspkit.audio import resample
from ddspkit.errors import UserError
from ddspkit.render.signals import sung_phrase
from ddspkit.stream import EffectEngine, SynthEngine
from ddspkit.stream.live import (
    STALL_ENV,
    LiveRunner,
    MidiInput,
    PortAudioBackend,
    RingBuffer,
    auto_slack_ms,
    choose_device,
    choose_slack,
    frame_cost_ms,
    run_live,
    slack_in_blocks,
    warm_up,
)

RATE = 48000
BLOCK = 256


class FakeStream:
    """A sound card in a thread: calls the callback every block, at real-time pace, with
    exactly the arguments sounddevice passes (a Stream's five, an OutputStream's four), and
    accepts only the options sounddevice's own class accepts."""

    def __init__(self, backend, real_class, **options):
        import sounddevice

        inspect.signature(getattr(sounddevice, real_class)).bind(**options)  # a TypeError if not
        self.backend, self.duplex = backend, real_class == "Stream"
        self.callback, self.block = options["callback"], options["blocksize"]
        self.rate = options["samplerate"]
        channels = options["channels"]
        self.outputs = channels[1] if isinstance(channels, tuple) else channels
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = threading.Event()
        self.active = False

    def start(self):
        self.active = True
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.active = False

    def close(self):
        pass

    def _run(self):
        source = self.backend.input
        start = time.perf_counter()
        for i in range(len(source) // self.block):
            if self._stop.is_set():
                return
            indata = source[i * self.block : (i + 1) * self.block, None]
            outdata = np.zeros((self.block, self.outputs), np.float32)
            if self.duplex:
                self.callback(indata, outdata, self.block, None, None)
            else:
                self.callback(outdata, self.block, None, None)
            self.backend.output.append(outdata[:, 0].copy())
            wait = start + (i + 1) * self.block / self.rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        self.backend.done.set()


class FakeSoundDevice:
    """The slice of sounddevice that ddspkit uses, with one duplex device."""

    default = SimpleNamespace(device=[0, 0])

    def __init__(self, input_audio: np.ndarray):
        self.input = input_audio.astype(np.float32)
        self.output: list[np.ndarray] = []
        self.done = threading.Event()

    def query_devices(self):
        return [{"name": "Fake duplex [USB]", "max_input_channels": 1, "max_output_channels": 2,
                 "default_samplerate": 48000.0}]

    def Stream(self, **options):  # noqa: N802  (sounddevice's names)
        return FakeStream(self, "Stream", **options)

    def OutputStream(self, **options):  # noqa: N802
        return FakeStream(self, "OutputStream", **options)


def play(engine, device, *, slack: int, midi=None, **options):
    backend = PortAudioBackend(input_device=None, output_device=None, synth=midi is not None,
                               rate_hz=RATE, block_samples=BLOCK, midi=midi, sd=device)
    return run_live(engine, backend, slack_samples=slack, synth=midi is not None,
                    should_stop=device.done.is_set, **options)


@pytest.fixture(scope="module")
def cello():
    return ddspkit.load_model("Cello", "cpu")


def test_ring_buffer_wraps_and_never_overfills():
    ring = RingBuffer(8)
    assert ring.write(np.arange(5, dtype=np.float32)) == 5
    out = np.zeros(3, np.float32)
    assert ring.read_into(out) == 3 and out.tolist() == [0, 1, 2]
    assert ring.write(np.arange(5, 12, dtype=np.float32)) == 6  # 2 left + 6 free = 8: full
    out = np.zeros(10, np.float32)
    assert ring.read_into(out) == 8 and out[:8].tolist() == [3, 4, 5, 6, 7, 8, 9, 10]


@pytest.mark.slow
def test_live_effect_sounds_like_the_stream_and_never_drops(cello):
    phrase = resample(sung_phrase()[: 3 * 16000], 16000, RATE)
    device = FakeSoundDevice(np.concatenate([phrase, np.zeros(RATE, np.float32)]))
    engine = EffectEngine(cello, RATE)
    slack = int(0.5 * RATE)  # generous: a loaded CI machine (2 cores, 5 busy) must not drop a block
    stats = play(engine, device, slack=slack).stats
    heard = np.concatenate(device.output)
    assert stats.dropouts == 0 and stats.blocks == len(device.output)
    # What the player hears is the offline stream, the slack later.
    reference = EffectEngine(cello, RATE)
    warm_up(reference, False, BLOCK)  # the silence live plays before the audio starts
    expected = np.concatenate([reference.process(device.input[i : i + BLOCK])
                               for i in range(0, len(heard) - slack, BLOCK)])
    np.testing.assert_allclose(heard[slack:], expected[: len(heard) - slack], atol=1e-6)
    assert np.sqrt(np.mean(heard**2)) > 0.01  # it played


@pytest.mark.slow
def test_live_midi_keyboard_plays_notes_on_pitch(cello):
    from ddspkit.analysis.features import extract_features

    device = FakeSoundDevice(np.zeros(3 * RATE, np.float32))
    keyboard: dict = {}

    class FakePort:
        def close(self):
            keyboard["closed"] = True

    def open_port(receive):
        keyboard["send"] = receive
        return FakePort()

    midi = MidiInput("Fake keys", open_port=open_port)

    def press():
        time.sleep(0.6)  # after the warm-up
        keyboard["send"](mido.Message("note_on", note=57, velocity=100))
        time.sleep(1.0)
        keyboard["send"](mido.Message("note_off", note=57))

    engine = SynthEngine(cello, RATE, reverb=False)  # the note alone, without the room's tail
    player = threading.Thread(target=press)
    player.start()
    stats = play(engine, device, slack=int(0.5 * RATE), midi=midi).stats
    player.join()
    heard = np.concatenate(device.output)
    assert stats.dropouts == 0 and keyboard.get("closed")
    features = extract_features(resample(heard, RATE, 16000))
    sounding = features.voiced & (features.power_db > features.power_db.max() - 20)
    assert 0.8 < sounding.sum() / 50 < 1.4  # the second the key was held, and the release
    error_cents = 1200 * np.log2(np.median(features.f0_hz[sounding]) / 220.0)
    assert abs(error_cents) < 20


def test_runner_never_blocks_the_callback_when_the_worker_is_late(cello):
    class SlowEngine:
        sample_rate_hz, latency_samples = RATE, 0

        def process(self, block):
            time.sleep(0.05)
            return block

    runner = LiveRunner(SlowEngine(), slack_samples=BLOCK)
    runner.start()
    try:
        out = np.zeros((BLOCK, 1), np.float32)
        start = time.perf_counter()
        for _ in range(5):
            runner.callback(np.ones((BLOCK, 1), np.float32), out, BLOCK)
        assert time.perf_counter() - start < 0.02  # five callbacks, no waiting on the worker
        assert runner.stats.dropouts >= 1 and runner.stats.largest_gap_samples >= 3 * BLOCK
    finally:
        runner.stop()


def test_device_choice_by_number_name_and_default():
    devices = [dict(d, index=i) for i, d in enumerate(
        [{"name": "Built-in Mic", "max_input_channels": 2, "max_output_channels": 0},
         {"name": "Speakers", "max_input_channels": 0, "max_output_channels": 2}])]
    assert choose_device(devices, None, "input") is None
    assert choose_device(devices, "mic", "input") == 0 and choose_device(devices, "1", "output") == 1
    with pytest.raises(UserError, match="no output device whose name contains it"):
        choose_device(devices, "mic", "output")
    with pytest.raises(UserError, match="no audio input device found"):
        choose_device([devices[1]], None, "input")


def test_live_without_a_sound_card_says_so_in_one_line():
    for args in (["live", "-m", "Cello"], ["live", "-m", "Cello", "--midi"]):
        result = subprocess.run([sys.executable, "-m", "ddspkit.cli", *args], capture_output=True,
                                text=True, timeout=300)
        assert_one_line_error(result, "audio")


class DelayEngine:
    """A stand-in engine: its input, exactly ``latency_samples`` later."""

    sample_rate_hz, latency_samples = RATE, 300

    def __init__(self):
        self.fifo = np.zeros(self.latency_samples, np.float32)

    def process(self, block):
        self.fifo = np.concatenate([self.fifo, block])
        out, self.fifo = self.fifo[: len(block)], self.fifo[len(block) :]
        return out


def test_latency_returns_to_the_declared_one_after_the_worker_stalls(monkeypatch):
    """Three stalls (0.45 s the worker could not compute) are dropouts, not latency: at the end
    the output is the input exactly the declared latency later (it crept by every stall)."""
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 3 * RATE).astype(np.float32)
    device = FakeSoundDevice(noise)
    monkeypatch.setenv(STALL_ENV, "0.5:0.15,1.1:0.15,1.7:0.15")
    slack = 2 * BLOCK
    result = play(DelayEngine(), device, slack=slack, warm_up_s=0)
    heard = np.concatenate(device.output)
    assert result.stats.dropouts >= 3 and result.stats.largest_gap_samples >= 0.1 * RATE
    assert result.latency_at_end_samples == result.latency_samples == DelayEngine.latency_samples + slack
    tail = slice(len(heard) - RATE // 2, len(heard))
    lags = range(0, RATE // 2)
    scores = [np.dot(heard[tail], noise[tail.start - lag : tail.stop - lag]) for lag in lags]
    assert abs(int(np.argmax(scores)) - result.latency_samples) <= BLOCK
    # Faded into and out of each gap: no step larger than the signal's own.
    assert np.abs(np.diff(heard)).max() < 1.01


def test_live_help_shows_the_jack_options():
    result = subprocess.run([sys.executable, "-m", "ddspkit.cli", "live", "--help"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0
    for option in ("--backend", "--client-name", "--connect-input", "--connect-output", "--no-connect",
                   "--midi-port", "--slack-ms", "--list-devices"):
        assert option in result.stdout, option


def test_slack_is_whole_blocks_covering_the_wanted_time():
    assert slack_in_blocks(4.0, 128, RATE) == 256  # 5.33 ms: 2.67 would not cover 4
    assert slack_in_blocks(4.0, 64, RATE) == 192 and slack_in_blocks(4.0, 256, RATE) == 256
    assert slack_in_blocks(0.0, 480, RATE) == 480  # at least one block


class FrameEngine:
    """A stand-in engine whose frames (one every 20 ms) cost ``frame_s`` of compute."""

    def __init__(self, frame_s: float):
        self.sample_rate_hz, self.latency_samples, self.frame_s = RATE, 0, frame_s
        self.frame_index, self.samples = 0, 0

    def process(self, block, events=()):
        n = int(block) if np.isscalar(block) else len(block)
        self.samples += n
        while self.frame_index < self.samples // 960:
            self.frame_index += 1
            time.sleep(self.frame_s)
        return np.zeros(n, np.float32)


@pytest.mark.parametrize("synth", [False, True])
def test_default_slack_covers_what_a_frame_costs_on_this_machine(synth):
    """`ddspkit live` measures a frame's cost on a copy of the engine (the engine itself is
    not moved on), and the slack covers it: a machine twice as slow gets a longer slack."""
    engine = FrameEngine(0.006)
    cost_ms = frame_cost_ms(engine, synth, 128)
    assert engine.samples == 0 and engine.frame_index == 0
    assert 6.0 <= cost_ms < 12.0  # a sleep lasts at least its time
    slack = slack_in_blocks(auto_slack_ms(cost_ms), 128, RATE)
    assert slack * 1000 / RATE >= 1.25 * 6.0 and slack % 128 == 0
    slower = slack_in_blocks(auto_slack_ms(frame_cost_ms(FrameEngine(0.012), synth, 128)), 128, RATE)
    assert slower > slack


def test_frame_cost_of_the_real_engines_includes_note_starts():
    """The synth's probe plays note-ons (a phrase's first frames, the dearest) and its frames are
    measured; the probe leaves the engine where it was."""
    model = ddspkit.load_model("Cello", "cpu")
    synth = SynthEngine(model, RATE, reverb=False)
    assert frame_cost_ms(synth, True, 256) > 0.0
    assert synth.samples_in == 0 and synth.frame_index == 0 and not synth.parts
    effect = EffectEngine(model, RATE, reverb=False)
    assert frame_cost_ms(effect, False, 256) > 0.0 and effect.frame_index == 0


def test_slack_given_or_measured_and_a_bad_one_refused():
    engine = FrameEngine(0.003)
    assert choose_slack(engine, False, 128, RATE, 4.0) == (256, "--slack-ms")
    slack, source = choose_slack(engine, False, 128, RATE, None)
    assert source.startswith("a frame takes ") and slack >= 1.25 * 0.003 * RATE and slack % 128 == 0
    with pytest.raises(UserError, match="--slack-ms -1"):
        choose_slack(engine, False, 128, RATE, -1.0)
