"""``ddspkit live``: microphone -> instrument -> speakers, or MIDI keyboard -> instrument -> speakers.

The audio callback never runs the model: it copies its input block into a ring buffer,
copies the output the worker has ready out of another, and wakes the worker (DDSP-VST's
pattern). The worker runs the engine. The output ring starts with ``slack`` samples of
silence, so the worker has that long, beyond the block, to finish a frame whose compute
lands in a block (a 20 ms frame costs a few ms on a laptop CPU); if it is ever late the
callback plays silence rather than wait, and the underrun is counted. Heard latency:
the engine's (exact, declared) + the slack + the sound card's own buffers.

Audio goes through ``sounddevice`` (PortAudio: ALSA, PulseAudio, PipeWire and JACK on Linux,
CoreAudio, WASAPI/ASIO), MIDI through ``mido`` with ``python-rtmidi``: the optional extra
``pip install 'ddspkit[live]'``. Both sit behind small backends, so the runner is tested with
fake devices on machines without a sound card.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ddspkit.errors import UserError

LIVE_HINT = "pip install 'ddspkit[live]'"
PORTAUDIO_HINT = ("PortAudio is not installed (Debian/Ubuntu: sudo apt-get install libportaudio2; "
                  "Fedora: sudo dnf install portaudio; macOS: brew install portaudio)")


class RingBuffer:
    """A single-producer, single-consumer float32 ring: the audio thread and the worker each
    move one index, so neither ever waits for the other (no lock on the audio thread)."""

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity, np.float32)
        self.capacity = capacity
        self.written = 0  # total samples written (moved by the producer only)
        self.read = 0  # total samples read (moved by the consumer only)

    def available(self) -> int:
        return self.written - self.read

    def write(self, samples: np.ndarray) -> int:
        """Append as many samples as fit; returns how many were written."""
        n = min(len(samples), self.capacity - self.available())
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self.data[start : start + first] = samples[:first]
        self.data[: n - first] = samples[first:n]
        self.written += n
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` from the ring as far as it holds samples; returns how many."""
        n = min(len(out), self.available())
        start = self.read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self.data[start : start + first]
        out[first:n] = self.data[: n - first]
        self.read += n
        return n


@dataclass
class LiveStats:
    blocks: int = 0
    underruns: int = 0  # callbacks that found too little output ready
    overruns: int = 0  # input the worker had no room for (it fell far behind)
    worst_block_ms: float = 0.0  # the worker's longest engine call


class LiveRunner:
    """Drives an engine from an audio callback through a worker thread.

    ``engine.process(block)`` (effect) or ``engine.process(n, events)`` (synth, when
    ``midi_events`` is given: a callable returning the MIDI messages that arrived since the
    last call, each with its arrival time in ``time.perf_counter`` seconds).
    """

    def __init__(self, engine, block_samples: int, slack_samples: int,
                 midi_events: Callable[[], list[tuple[float, object]]] | None = None) -> None:
        self.engine, self.block = engine, block_samples
        capacity = 8 * (block_samples + slack_samples) + 65536
        self.input_ring, self.output_ring = RingBuffer(capacity), RingBuffer(capacity)
        self.output_ring.write(np.zeros(slack_samples, np.float32))
        self.slack_samples = slack_samples
        self.midi_events = midi_events
        self.stats = LiveStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="ddspkit-live-worker", daemon=True)
        self._samples_in = 0  # input samples seen by the callback
        self._clock = (time.perf_counter(), 0)  # (perf_counter, input sample) at the last callback
        self.error: BaseException | None = None

    @property
    def latency_samples(self) -> int:
        """The engine's latency plus the slack: what the player hears (before device buffers)."""
        return self.engine.latency_samples + self.slack_samples

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout=5)

    def callback(self, indata: np.ndarray | None, outdata: np.ndarray, frames: int) -> None:
        """The audio thread's whole job: copy in, copy out, wake the worker. Never blocks."""
        if indata is not None:
            if self.input_ring.write(np.asarray(indata, np.float32).reshape(frames, -1)[:, 0]) < frames:
                self.stats.overruns += 1
        else:  # a synth has no input: the clock alone advances
            self.input_ring.write(np.zeros(frames, np.float32))
        self._samples_in += frames
        self._clock = (time.perf_counter(), self._samples_in)
        mono = np.empty(frames, np.float32)
        got = self.output_ring.read_into(mono)
        if got < frames:
            mono[got:] = 0.0
            self.stats.underruns += 1
        outdata[:] = mono[:, None]
        self.stats.blocks += 1
        self._wake.set()

    def _work(self) -> None:
        block = np.empty(self.block, np.float32)
        pending: list[tuple[float, object]] = []
        processed = 0
        try:
            while not self._stop.is_set():
                self._wake.wait(timeout=0.1)
                self._wake.clear()
                if self.midi_events is not None:
                    pending += self.midi_events()
                while self.input_ring.available() >= self.block:
                    self.input_ring.read_into(block)
                    start = time.perf_counter()
                    if self.midi_events is None:
                        out = self.engine.process(block)
                    else:
                        events, pending = self._events_in_block(pending, processed)
                        out = self.engine.process(self.block, events)
                    self.stats.worst_block_ms = max(self.stats.worst_block_ms,
                                                    1000 * (time.perf_counter() - start))
                    processed += self.block
                    self.output_ring.write(out)
        except BaseException as exc:  # reported by the caller, which then stops cleanly
            self.error = exc

    def _events_in_block(self, pending, block_start: int):
        """Messages placed at their sample in the block being processed, by arrival time.

        A message arriving at perf time t belongs at input sample s(t), extrapolated from the
        last callback; one that falls before this block plays at its start (never dropped)."""
        clock_time, clock_sample = self._clock
        rate = self.engine.sample_rate_hz
        now_events, later = [], []
        for arrival, message in pending:
            sample = clock_sample + (arrival - clock_time) * rate
            offset = int(sample) - block_start
            if offset < self.block:
                now_events.append((min(max(offset, 0), self.block - 1), message))
            else:
                later.append((arrival, message))
        return now_events, later


# --- devices ---------------------------------------------------------------------------------

def _sounddevice():
    try:
        import sounddevice
    except ImportError:
        raise UserError(f"live audio needs the sounddevice package: {LIVE_HINT}") from None
    except OSError:
        raise UserError(f"no audio: {PORTAUDIO_HINT}") from None
    return sounddevice


def audio_devices(backend=None) -> list[dict]:
    """The system's audio devices (sounddevice's dicts: name, max_input_channels, ...)."""
    sd = backend or _sounddevice()
    return [dict(d, index=i) for i, d in enumerate(sd.query_devices())]


def choose_device(devices: list[dict], wanted: str | None, kind: str) -> int | None:
    """A device index by number or by a part of its name; None for the system default."""
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    usable = [d for d in devices if d[key] > 0]
    if not usable:
        raise UserError(f"no audio {kind} device found (ddspkit live --list-devices shows what "
                        "there is)")
    if wanted is None:
        return None
    if wanted.isdigit():
        if any(d["index"] == int(wanted) for d in usable):
            return int(wanted)
        raise UserError(f"--{kind}-device {wanted}: no {kind} device with that number")
    named = [d for d in usable if wanted.lower() in d["name"].lower()]
    if not named:
        raise UserError(f"--{kind}-device '{wanted}': no {kind} device whose name contains it")
    return named[0]["index"]


@contextlib.contextmanager
def _quiet_c_stderr() -> Iterator[None]:
    """ALSA prints its own errors on file descriptor 2; keep the CLI's output to one line."""
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def midi_input_names() -> list[str]:
    try:
        import mido
        import rtmidi  # noqa: F401  (mido's default backend)
    except ImportError:
        raise UserError(f"MIDI input needs mido and python-rtmidi: {LIVE_HINT}") from None
    try:
        with _quiet_c_stderr():
            return list(mido.get_input_names())
    except (OSError, RuntimeError, SystemError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"no MIDI input: the system's MIDI service is unavailable ({reason})") from None


class MidiInput:
    """Messages from a MIDI input port, collected with their arrival times."""

    def __init__(self, port_name: str | None, open_port=None) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        if open_port is None:
            import mido

            names = midi_input_names()
            if not names:
                raise UserError("no MIDI input port found (connect a keyboard, or start a "
                                "virtual port); ddspkit live --list-devices shows what there is")
            name = port_name or names[0]
            if name not in names:
                matches = [n for n in names if name.lower() in n.lower()]
                if not matches:
                    raise UserError(f"--midi '{port_name}': no such MIDI input (there are: "
                                    f"{', '.join(names)})")
                name = matches[0]
            self.name = name
            with _quiet_c_stderr():
                self.port = mido.open_input(name, callback=self._receive)
        else:
            self.name = port_name or "fake"
            self.port = open_port(self._receive)

    def _receive(self, message) -> None:
        self._queue.put((time.perf_counter(), message))

    def drain(self) -> list[tuple[float, object]]:
        events = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                return events

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.port.close()


def run_live(engine, *, block_samples: int, slack_samples: int, input_device: int | None,
             output_device: int | None, midi: MidiInput | None, backend=None,
             should_stop: Callable[[], bool] = lambda: False,
             on_status: Callable[[LiveRunner], None] | None = None) -> LiveStats:
    """Open the devices and play until ``should_stop()`` (or Ctrl-C); returns the stats."""
    sd = backend or _sounddevice()
    runner = LiveRunner(engine, block_samples, slack_samples,
                        midi.drain if midi is not None else None)
    synth = midi is not None

    def callback(indata, outdata, frames, _time, _status) -> None:
        runner.callback(None if synth else indata, outdata, frames)

    kwargs = dict(samplerate=engine.sample_rate_hz, blocksize=block_samples, dtype="float32",
                  callback=callback, latency="low")
    try:
        if synth:
            stream = sd.OutputStream(device=output_device, channels=1, **kwargs)
        else:
            stream = sd.Stream(device=(input_device, output_device), channels=(1, 1), **kwargs)
    except Exception as exc:  # PortAudio's errors: no device, unsupported rate, device busy
        reason = str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot open the audio device ({reason})") from None
    runner.start()
    try:
        with stream:
            while not should_stop():
                time.sleep(0.1)
                if runner.error is not None:
                    raise runner.error
                if on_status is not None:
                    on_status(runner)
    finally:
        runner.stop()
        if midi is not None:
            midi.close()
    return runner.stats
