"""``ddspkit live``: microphone -> instrument -> speakers, or MIDI keyboard -> instrument -> speakers.

The audio callback never runs the model: it copies its input block into a ring buffer,
copies the output the worker has ready out of another, and wakes the worker (DDSP-VST's
pattern). The worker runs the engine. The output ring starts with ``slack`` samples of
silence (a whole number of blocks: the worker only ever gets whole blocks of input, so a
fraction of a block would add latency without adding time to compute), so the worker has
that long to finish a frame whose compute lands in a block (a 20 ms frame costs 1-4 ms on a
laptop CPU). If it is ever late the callback plays silence rather than wait, counts a
dropout, and once the worker catches up skips the output that came too late: the latency
always returns to the declared one (the engine's + the slack), it never creeps.

Two backends drive the same :class:`LiveRunner`: JACK (:mod:`ddspkit.stream.jack_backend`,
JACK or PipeWire's JACK layer on Linux: named ports, stereo, JACK MIDI, the latency reported
to the server) and PortAudio (:class:`PortAudioBackend`, through ``sounddevice``: ALSA,
PulseAudio, CoreAudio, WASAPI/ASIO; MIDI through ``mido`` with ``python-rtmidi``). Both are
in the optional extra ``pip install 'ddspkit[live]'``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ddspkit.errors import UserError

LIVE_HINT = "pip install 'ddspkit[live]'"
PORTAUDIO_HINT = ("PortAudio is not installed (Debian/Ubuntu: sudo apt-get install libportaudio2; "
                  "Fedora: sudo dnf install portaudio; macOS: brew install portaudio)")
SERVER_STOPPED = "the audio server stopped"
# A test hook: "T:D,T:D..." stalls the worker D seconds at T seconds into the run, as a
# machine too busy to compute would (the runner must then drop the late time, not keep it).
STALL_ENV = "DDSPKIT_LIVE_TEST_STALLS"
# A measuring hook: a file to write, at the end, the server's frame time of the first block
# and the engine samples before it (the warm-up), so that a benchmark can run the engine
# offline on the very same sample grid (benchmarks/jack_latency.py).
CLOCK_ENV = "DDSPKIT_LIVE_TEST_CLOCK"
FADE_SAMPLES = 48  # 1 ms at 48 kHz: the fade out into a dropout and back in after it
MAX_CHUNK = 8192  # the worker's largest engine call after it fell behind
WARM_UP_S = 0.3
SWITCH_INTERVAL_S = 0.0002  # see run_live
PROBE_S = 1.5  # how long frame_cost_ms plays notes
SLACK_MARGIN = 1.25  # a frame's cost varies: the slack covers a quarter more than the 90th percentile
WAKE_UP_MS = 0.5  # the worker's wake-up after the audio callback, on a loaded machine


class AudioServerStopped(UserError):
    """The audio server (JACK, PipeWire, the sound card's driver) went away during the run."""

    def __init__(self, message: str = SERVER_STOPPED) -> None:
        super().__init__(message)


class RingBuffer:
    """A single-producer, single-consumer float32 ring: the audio thread and the worker each
    move one index, so neither ever waits for the other (no lock on the audio thread)."""

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity, np.float32)
        self.capacity = capacity
        self.written = 0  # total samples written (moved by the producer only)
        self.read = 0  # total samples read or skipped (moved by the consumer only)

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

    def skip(self, n: int) -> int:
        """Drop up to ``n`` samples unread; returns how many."""
        n = min(n, self.available())
        self.read += n
        return n


@dataclass
class LiveStats:
    blocks: int = 0
    samples: int = 0  # samples played
    dropouts: int = 0  # runs of callbacks that found too little output ready
    largest_gap_samples: int = 0  # the longest of those runs (silence played), in samples
    skipped_samples: int = 0  # late output dropped to bring the latency back
    server_skipped_samples: int = 0  # cycles the server did not run this client in (JACK xruns)
    overruns: int = 0  # input the worker had no room for (it fell far behind)
    worst_block_ms: float = 0.0  # the worker's longest engine call


class LiveRunner:
    """Drives an engine from an audio callback through a worker thread.

    ``engine.process(block)`` (effect) or, with ``synth=True``, ``engine.process(n, events)``
    with the MIDI messages given to :meth:`callback` (sample offsets, JACK MIDI) or to
    :meth:`add_midi_at_time` (arrival times, rtmidi) placed at their samples.
    Heard latency: :attr:`latency_samples` (the engine's + the slack), constant.
    """

    def __init__(self, engine, slack_samples: int, synth: bool = False) -> None:
        self.engine, self.synth = engine, synth
        capacity = 8 * slack_samples + 4 * MAX_CHUNK + 65536
        self.input_ring, self.output_ring = RingBuffer(capacity), RingBuffer(capacity)
        self.output_ring.write(np.zeros(slack_samples, np.float32))
        self.slack_samples = slack_samples
        self.stats = LiveStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="ddspkit-live-worker", daemon=True)
        self._samples_in = 0  # input samples seen by the callback
        self._input_dropped = 0  # of those, the ones the input ring had no room for
        self._clock = (time.perf_counter(), 0)  # (perf_counter, input sample) at the last callback
        self._midi: queue.SimpleQueue = queue.SimpleQueue()  # (input sample, message)
        self._gap_run = 0  # silence played in the current dropout, samples
        self._fade_in = False
        self._stall_s = 0.0
        self._audio_thread_real_time: bool | None = None  # known at the first callback
        self._window_start, self._window_min, self._last_window_min = 0, 1 << 62, 1 << 62
        self.error: BaseException | None = None

    @property
    def latency_samples(self) -> int:
        """The engine's latency plus the slack: what the player hears (before device buffers)."""
        return self.engine.latency_samples + self.slack_samples

    @property
    def behind_samples(self) -> int:
        """How far the output is behind the declared latency right now (0 when on time)."""
        return self.stats.samples - self._input_dropped - self.output_ring.read

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout=5)

    def stall_worker(self, seconds: float) -> None:
        """Test hook: the worker sleeps this long before its next engine call."""
        self._stall_s = seconds
        self._wake.set()

    def add_midi_at_time(self, arrival_s: float, message) -> None:
        """A message that arrived at ``time.perf_counter()`` seconds (rtmidi's callback)."""
        clock_time, clock_sample = self._clock
        sample = clock_sample + (arrival_s - clock_time) * self.engine.sample_rate_hz
        self._midi.put((int(sample), message))

    def missed(self, samples: int) -> None:
        """The server skipped this many samples of this client's cycles (a JACK xrun): keep
        the input's and the output's timelines on the server's, as if they were silence in
        and late output out, so that the latency stays the declared one in the server's time."""
        if samples <= 0:
            return
        self.input_ring.write(np.zeros(min(samples, self.input_ring.capacity // 4), np.float32))
        self._samples_in += samples
        self.stats.samples += samples
        self.stats.server_skipped_samples += samples
        self._fade_in = True

    def callback(self, indata: np.ndarray | None, outdata: np.ndarray, frames: int,
                 midi: list[tuple[int, object]] = ()) -> None:
        """The audio thread's whole job: copy in, copy out, wake the worker. Never blocks.

        ``indata``: [frames] or [frames, channels] (the first is used), None for a synth;
        ``outdata``: [frames] or [frames, channels], every channel gets the instrument;
        ``midi``: (offset in this block, message) as JACK delivers them.
        """
        if self._audio_thread_real_time is None:
            self._audio_thread_real_time = _is_real_time_thread()
        for offset, message in midi:
            self._midi.put((self._samples_in + int(offset), message))
        if indata is not None:
            block = np.asarray(indata, np.float32).reshape(frames, -1)[:, 0]
        else:  # a synth has no input: the clock alone advances
            block = np.zeros(frames, np.float32)
        written = self.input_ring.write(block)
        if written < frames:
            self.stats.overruns += 1
            self._input_dropped += frames - written
        self._samples_in += frames
        self._clock = (time.perf_counter(), self._samples_in)
        mono = self._next_output(frames)
        outdata[:] = mono.reshape((frames,) + (1,) * (np.ndim(outdata) - 1))
        self.stats.blocks += 1
        self.stats.samples += frames
        self._track_settled_latency()
        self._wake.set()

    def _track_settled_latency(self) -> None:
        """The least the output was behind over the last whole second (two windows): where the
        latency settled, not a moment of catching up when the run happened to stop."""
        behind = max(0, self.behind_samples)
        self._window_min = min(self._window_min, behind)
        if self.stats.samples - self._window_start >= self.engine.sample_rate_hz:
            self._last_window_min, self._window_min = self._window_min, behind
            self._window_start = self.stats.samples

    @property
    def settled_behind_samples(self) -> int:
        return min(self._last_window_min, self._window_min)

    def _next_output(self, frames: int) -> np.ndarray:
        """``frames`` samples at the declared latency: late output is skipped, missing played
        as silence (faded out into the gap and back in after it)."""
        mono = np.zeros(frames, np.float32)
        behind = self.behind_samples
        start = 0
        if behind > 0:  # the worker caught up with output that is now too late: drop it
            skipped = self.output_ring.skip(behind)
            self.stats.skipped_samples += skipped
        elif behind < 0:  # input was lost: its output never comes, wait for the rest
            start = min(-behind, frames)
        got = self.output_ring.read_into(mono[start:])
        if self._fade_in and got:
            n = min(FADE_SAMPLES, got)
            mono[start : start + n] *= np.linspace(0.0, 1.0, n + 1, dtype=np.float32)[1:]
            self._fade_in = False
        missing = frames - start - got
        if missing > 0:
            n = min(FADE_SAMPLES, got)
            if n:
                mono[start + got - n : start + got] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
            if self._gap_run == 0:
                self.stats.dropouts += 1
            self._gap_run += missing
            self.stats.largest_gap_samples = max(self.stats.largest_gap_samples, self._gap_run)
            self._fade_in = True
        else:
            self._gap_run = 0
        return mono

    def _work(self) -> None:
        chunk = np.empty(MAX_CHUNK, np.float32)
        pending: list[tuple[int, object]] = []
        processed = 0
        elevated = False
        try:
            while not self._stop.is_set():
                self._wake.wait(timeout=0.1)
                self._wake.clear()
                if self._stall_s:
                    time.sleep(self._stall_s)
                    self._stall_s = 0.0
                if self._audio_thread_real_time and not elevated:
                    elevated = _real_time_priority()
                while not self._stop.is_set() and self.input_ring.available() > 0:
                    n = self.input_ring.read_into(chunk[: min(MAX_CHUNK, self.input_ring.available())])
                    start = time.perf_counter()
                    if self.synth:
                        pending += self._drain_midi()
                        events, pending = _events_in_block(pending, processed, n)
                        out = self.engine.process(n, events)
                    else:
                        out = self.engine.process(chunk[:n])
                    self.stats.worst_block_ms = max(self.stats.worst_block_ms,
                                                    1000 * (time.perf_counter() - start))
                    processed += n
                    self.output_ring.write(out)
        except BaseException as exc:  # reported by the caller, which then stops cleanly
            self.error = exc

    def _drain_midi(self) -> list[tuple[int, object]]:
        events = []
        while True:
            try:
                events.append(self._midi.get_nowait())
            except queue.Empty:
                return events


def _is_real_time_thread() -> bool:
    """Whether the calling thread runs under a real-time policy (JACK started with -R)."""
    if not hasattr(os, "sched_getscheduler"):
        return False
    return os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR)


def _real_time_priority() -> bool:
    """Ask for the lowest real-time priority for the calling thread (Linux SCHED_FIFO 1, where
    the user may: JACK's audio group, root): above every ordinary program, below the audio
    server's own threads. On a busy machine an ordinary thread waits for the CPU for
    milliseconds, and the audio callback waits for it (Python's GIL). Only when the audio
    callback itself runs real-time: above an ordinary audio thread it would starve it.
    False where refused."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (OSError, PermissionError):
        return False
    return True


def _events_in_block(pending, block_start: int, n: int):
    """(offset, message) for the messages before the block's end, and the later ones.

    One that falls before this block plays at its start (never dropped)."""
    now_events, later = [], []
    for sample, message in sorted(pending, key=lambda item: item[0]):
        offset = sample - block_start
        if offset < n:
            now_events.append((min(max(offset, 0), n - 1), message))
        else:
            later.append((sample, message))
    return now_events, later


def frame_cost_ms(engine, synth: bool, block_samples: int, seconds: float = PROBE_S) -> float:
    """What a frame of ``engine`` costs on this machine, in ms: the 90th percentile of the
    engine calls that computed one, while a copy of the engine (its state untouched) plays
    notes at this block size (a 220 Hz tone starting and stopping, or MIDI note-ons and
    offs, so that note starts, the dearest frames, are in). The worker must finish such a
    burst within the slack, or the block it is in comes late."""
    import copy

    import mido

    probe = copy.deepcopy(engine)
    rate = engine.sample_rate_hz
    period = rate // 4  # a note starts every 250 ms
    times_ms = []
    for i in range(int(seconds * rate) // block_samples):
        start = i * block_samples
        phase = start % (2 * period)
        note = 48 + (start // (2 * period)) % 12
        events = []
        if synth and phase < block_samples:
            events = [(0, mido.Message("note_on", note=note, velocity=100))]
        elif synth and period <= phase < period + block_samples:
            events = [(0, mido.Message("note_off", note=note, velocity=0))]
        samples = np.arange(start, start + block_samples)
        tone = (0.3 * np.sin(2 * np.pi * 220.0 * samples / rate)
                * (samples % (2 * period) < period)).astype(np.float32)
        frames_before = probe.frame_index
        began = time.perf_counter()
        probe.process(block_samples, events) if synth else probe.process(tone)
        if probe.frame_index > frames_before and start >= rate // 4:  # past its first frames
            times_ms.append(1000 * (time.perf_counter() - began))
    return float(np.quantile(times_ms, 0.9)) if times_ms else 0.0


def auto_slack_ms(frame_ms: float) -> float:
    """The slack that lets the worker finish a frame's burst of ``frame_ms`` in time, with
    room for the scheduler to wake it (:data:`SLACK_MARGIN`, :data:`WAKE_UP_MS`)."""
    return SLACK_MARGIN * frame_ms + WAKE_UP_MS


def choose_slack(engine, synth: bool, block_samples: int, rate_hz: int,
                 slack_ms: float | None) -> tuple[int, str]:
    """(slack in samples, where it came from, for the start-up line): ``slack_ms`` (the
    user's ``--slack-ms``), or by default measured on this machine (:func:`frame_cost_ms`,
    :func:`auto_slack_ms`). Raises UserError for a slack outside 0..1000 ms."""
    if slack_ms is not None:
        if not 0 <= slack_ms <= 1000:
            raise UserError(f"--slack-ms {slack_ms:g}: choose between 0 and 1000 ms")
        return slack_in_blocks(slack_ms, block_samples, rate_hz), "--slack-ms"
    frame_ms = frame_cost_ms(engine, synth, block_samples)
    return (slack_in_blocks(auto_slack_ms(frame_ms), block_samples, rate_hz),
            f"a frame takes {frame_ms:.1f} ms here")


def slack_in_blocks(slack_ms: float, block_samples: int, rate_hz: int) -> int:
    """The slack in samples: the smallest whole number of blocks (at least one) that covers
    ``slack_ms``. The worker gets input a whole block at a time, so a part of a block would
    add latency and no time to compute."""
    wanted = slack_ms / 1000 * rate_hz
    return block_samples * max(1, int(np.ceil(wanted / block_samples - 1e-9)))


# --- the run ---------------------------------------------------------------------------------

@dataclass
class LiveResult:
    stats: LiveStats
    latency_samples: int  # declared (engine + slack)
    latency_at_end_samples: int  # where the output's delay settled in the run's last second
    ended_by: str  # "seconds", "interrupt" (Ctrl-C) or "stop" (should_stop)
    server_xruns: int | None = None  # JACK's count of missed cycles (any client's), if known


def _stall_plan() -> list[tuple[float, float]]:
    text = os.environ.get(STALL_ENV, "").strip()
    plan = []
    for item in filter(None, text.split(",")):
        at_s, _, seconds = item.partition(":")
        plan.append((float(at_s), float(seconds)))
    return sorted(plan)


def warm_up(engine, synth: bool, block_samples: int, seconds: float = WARM_UP_S) -> None:
    """Run the engine over silence before the audio starts: its first frames are several
    times slower than the rest (code paths, caches, allocations), which would be dropouts.
    The performance then begins after a moment of silence, which changes nothing else."""
    silence = np.zeros(block_samples, np.float32)
    for _ in range(int(seconds * engine.sample_rate_hz) // block_samples):
        engine.process(block_samples, ()) if synth else engine.process(silence)
    gc.collect()
    gc.freeze()  # the collector then has far less to walk while the audio runs


def run_live(engine, backend, *, slack_samples: int, synth: bool,
             seconds: float | None = None, should_stop: Callable[[], bool] = lambda: False,
             on_status: Callable[[LiveRunner], None] | None = None,
             warm_up_s: float = WARM_UP_S) -> LiveResult:
    """Play ``engine`` through an opened ``backend`` until ``seconds`` pass, ``should_stop()``,
    or Ctrl-C; raises :class:`AudioServerStopped` if the server goes away (within 0.1 s).
    ``engine`` first plays ``warm_up_s`` of silence (see :func:`warm_up`)."""
    warm_up(engine, synth, backend.block_samples, warm_up_s)
    block = backend.block_samples
    warm_up_samples = int(warm_up_s * engine.sample_rate_hz) // block * block
    runner = LiveRunner(engine, slack_samples, synth)
    # Python hands the GIL over every 5 ms by default: the audio callback (Python too) would
    # wait that long behind the worker, longer than a whole block; 0.2 ms keeps it on time.
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    stalls = _stall_plan()
    runner.start()
    ended_by = "stop"
    try:
        backend.start(runner)
        began = time.perf_counter()
        while True:
            if seconds is not None and time.perf_counter() - began >= seconds:
                ended_by = "seconds"
                break
            if should_stop():
                break
            time.sleep(0.05)
            if backend.server_stopped():
                raise AudioServerStopped(getattr(backend, "stop_message", SERVER_STOPPED))
            if runner.error is not None:
                raise runner.error
            while stalls and time.perf_counter() - began >= stalls[0][0]:
                runner.stall_worker(stalls.pop(0)[1])
            if on_status is not None:
                on_status(runner)
    except KeyboardInterrupt:
        ended_by = "interrupt"
    finally:
        backend.close()
        runner.stop()
        sys.setswitchinterval(previous_interval)
        gc.unfreeze()  # what warm_up froze
        if os.environ.get(CLOCK_ENV):
            with open(os.environ[CLOCK_ENV], "w") as clock:
                json.dump({"first_frame_time": getattr(backend, "first_frame_time", None),
                           "warm_up_samples": warm_up_samples}, clock)
    return LiveResult(runner.stats, runner.latency_samples,
                      runner.latency_samples + min(max(0, runner.behind_samples),
                                                   runner.settled_behind_samples), ended_by,
                      getattr(backend, "xruns", None))


def report_line(result: LiveResult, rate_hz: int) -> str:
    """The run's one-line report: blocks, dropouts, largest gap, worst compute, latency."""
    stats = result.stats

    def ms(samples: int) -> str:
        return f"{1000 * samples / rate_hz:.1f} ms"

    return (f"stopped: {stats.blocks} blocks ({stats.samples / rate_hz:.1f} s), {stats.dropouts} "
            f"dropouts (largest gap {ms(stats.largest_gap_samples)}), slowest block "
            f"{stats.worst_block_ms:.1f} ms, latency {ms(result.latency_at_end_samples)} "
            f"(declared {ms(result.latency_samples)})"
            + ("" if result.server_xruns is None else f", {result.server_xruns} server xruns"))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextlib.contextmanager
def quiet_c_stderr() -> Iterator[None]:
    """ALSA and JACK print their own errors on file descriptor 2; keep the CLI's to one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# --- PortAudio -------------------------------------------------------------------------------

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


def _default_device(sd, devices: list[dict], kind: str) -> dict:
    index = sd.default.device[0 if kind == "input" else 1]
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    if index is None or index < 0 or index >= len(devices):
        return next(d for d in devices if d[key] > 0)
    return devices[index]


class PortAudioBackend:
    """Audio through PortAudio (``sounddevice``): the system's devices, mono in, mono or
    stereo out. ``sd`` may be a stand-in with sounddevice's ``query_devices``, ``default``,
    ``Stream`` and ``OutputStream`` (the tests' fake sound card)."""

    name = "PortAudio"

    def __init__(self, *, input_device: str | None, output_device: str | None, synth: bool,
                 rate_hz: int | None, block_samples: int | None, midi: MidiInput | None = None,
                 sd=None) -> None:
        self.sd = sd or _sounddevice()
        self.midi = midi
        devices = audio_devices(self.sd)
        self.synth = synth
        self.input_index = None if synth else choose_device(devices, input_device, "input")
        self.output_index = choose_device(devices, output_device, "output")
        out = (devices[self.output_index] if self.output_index is not None
               else _default_device(self.sd, devices, "output"))
        self.output_channels = min(2, int(out["max_output_channels"]))
        # The device's own rate unless asked otherwise: on PortAudio's JACK or PipeWire
        # devices it is the server's, the only one they accept.
        self.sample_rate_hz = int(rate_hz or out.get("default_samplerate") or 48000)
        self.block_samples = block_samples or 128
        self.stream = None
        self._closing = False

    def describe(self) -> str:
        return f"PortAudio, {self.output_channels} output channel(s)"

    def start(self, runner: LiveRunner) -> None:
        if self.midi is not None:
            self.midi.attach(runner)

        def duplex(indata, outdata, frames, _time, _status) -> None:
            runner.callback(indata, outdata, frames)

        def output_only(outdata, frames, _time, _status) -> None:  # OutputStream's signature
            runner.callback(None, outdata, frames)

        options = dict(samplerate=self.sample_rate_hz, blocksize=self.block_samples,
                       dtype="float32", latency="low")
        try:
            if self.synth:
                self.stream = self.sd.OutputStream(device=self.output_index, callback=output_only,
                                                   channels=self.output_channels, **options)
            else:
                self.stream = self.sd.Stream(device=(self.input_index, self.output_index),
                                             callback=duplex, channels=(1, self.output_channels),
                                             **options)
            self.stream.start()
        except Exception as exc:  # PortAudio's errors: no device, unsupported rate, device busy
            raise UserError(f"cannot open the audio device ({_first_line(exc)})") from None

    def server_stopped(self) -> bool:
        """PortAudio's stream stops by itself only when its device or server went away."""
        return self.stream is not None and not self._closing and not self.stream.active

    def close(self) -> None:
        if self.midi is not None:
            self.midi.close()
        if self.stream is None:
            return
        dead = self.server_stopped()
        self._closing = True
        if dead:
            # PortAudio's stop and close wait forever for a dead server: leave the stream,
            # and keep sounddevice's exit handler from waiting on it too.
            with contextlib.suppress(AttributeError):
                atexit.unregister(self.sd._exit_handler)
            return
        with contextlib.suppress(Exception):
            self.stream.stop()
            self.stream.close()


# --- MIDI through rtmidi (the PortAudio backend's) -------------------------------------------

def rtmidi_backends() -> list:
    """mido's rtmidi backends to look for inputs in: on Linux the ALSA sequencer where there
    is one, then JACK MIDI (containers and many PipeWire setups have no ALSA sequencer), so
    that MIDO_BACKEND is never needed."""
    try:
        import mido
        import rtmidi  # noqa: F401  (mido's default backend)
    except ImportError:
        raise UserError(f"MIDI input needs mido and python-rtmidi: {LIVE_HINT}") from None
    apis = [""]
    if sys.platform.startswith("linux"):
        apis = ([""] if os.path.exists("/dev/snd/seq") else []) + ["/UNIX_JACK"]
    return [mido.Backend("mido.backends.rtmidi" + api, load=True) for api in apis]


def midi_inputs() -> list[tuple[object, str]]:
    """(backend, port name) of every MIDI input the system's MIDI services show."""
    found, failures = [], []
    backends = rtmidi_backends()
    for backend in backends:
        try:
            with quiet_c_stderr():
                found += [(backend, name) for name in backend.get_input_names()]
        except (OSError, RuntimeError, SystemError) as exc:
            failures.append(exc)
    if len(failures) == len(backends):
        if sys.platform.startswith("linux") and not os.path.exists("/dev/snd/seq"):
            raise UserError("no MIDI input: there is no ALSA sequencer (modprobe snd-seq) and no "
                            "JACK server (start JACK or PipeWire's pipewire-jack)")
        raise UserError("no MIDI input: the system's MIDI service is unavailable "
                        f"({_first_line(failures[0])})")
    return found


def midi_input_names() -> list[str]:
    return [name for _, name in midi_inputs()]


def match_name(names: list[str], wanted: str, what: str) -> str:
    """The name equal to ``wanted``, else the first that contains it (any case)."""
    if wanted in names:
        return wanted
    matches = [n for n in names if wanted.lower() in n.lower()]
    if not matches:
        raise UserError(f"{what} '{wanted}': no such port (there are: {', '.join(names) or 'none'})")
    return matches[0]


class MidiInput:
    """Messages from an rtmidi input port, handed to the runner with their arrival times."""

    def __init__(self, port_name: str | None, open_port=None) -> None:
        self._runner: LiveRunner | None = None
        self._early: list[tuple[float, object]] = []
        if open_port is None:
            inputs = midi_inputs()
            if not inputs:
                raise UserError("no MIDI input port found (connect a keyboard, or start a "
                                "virtual port); ddspkit live --list-devices shows what there is")
            names = [name for _, name in inputs]
            self.name = match_name(names, port_name, "--midi-port") if port_name else names[0]
            backend = inputs[names.index(self.name)][0]
            with quiet_c_stderr():
                self.port = backend.open_input(self.name, callback=self._receive)
        else:
            self.name = port_name or "fake"
            self.port = open_port(self._receive)

    def attach(self, runner: LiveRunner) -> None:
        self._runner = runner

    def _receive(self, message) -> None:
        if self._runner is not None:
            self._runner.add_midi_at_time(time.perf_counter(), message)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.port.close()
