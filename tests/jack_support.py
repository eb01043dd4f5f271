"""A dummy JACK server and JACK test clients: `ddspkit live` driven as a musician's setup would.

A `jackd --no-realtime -d dummy` server is a clocked fake sound card: real callbacks, real
ports, real connections, no hardware. The harness client feeds audio and MIDI to the client
under test and records its outputs, all in the same process cycles, so positions in what it
feeds and what it records are on one sample clock.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

RATE = 48000
_names = itertools.count()


def jackd_or_fail() -> str:
    """jackd's path; outside CI a machine without it skips, in CI (CI=true) that is a failure."""
    path = shutil.which("jackd")
    if path is None:
        message = "jackd is not installed (Debian: apt-get install jackd2; .ci/run installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class JackServer:
    """``jackd -n NAME --no-realtime -d dummy``, with a name no other test run uses."""

    def __init__(self, period: int = 128, rate: int = RATE, realtime: bool = False,
                 name: str | None = None) -> None:
        # A server killed with SIGKILL leaves its slot in JACK's registry (eight in all) until
        # a server of the same name starts again: a test that kills one passes a fixed name.
        self.name = name or f"ddspkit-test-{os.getpid()}-{next(_names)}"
        self.period, self.rate = period, rate
        self._log = open(os.environ.get("JACKD_LOG", os.devnull), "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [jackd_or_fail(), "-n", self.name, "--realtime" if realtime else "--no-realtime",
             "-d", "dummy", "-r", str(rate), "-p", str(period)],
            stdout=self._log, stderr=subprocess.STDOUT,  # JACKD_LOG=file keeps jackd's xrun lines
            env=dict(os.environ, JACK_NO_AUDIO_RESERVATION="1"))
        self.env = dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client("probe").close()
                return
            except Exception:  # noqa: BLE001  (not up yet)
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the dummy JACK server {self.name} did not start") from None
                time.sleep(0.1)

    def client(self, name: str):
        import jack

        return jack.Client(name, servername=self.name, no_start_server=True)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Harness:
    """Two JACK clients around the client under test: ``harness`` plays ``audio`` into its port
    ``feed`` and ``midi`` (sample, bytes) into ``keys``; ``recorder`` records ``rec_L`` and
    ``rec_R``. Two clients, so that the graph has no loop (JACK would delay a looped
    connection by a cycle); both count samples from the cycle :meth:`play` starts, by JACK's
    frame clock, which they share."""

    def __init__(self, server: JackServer, audio: np.ndarray | None = None,
                 midi: list[tuple[int, bytes]] = (), record_s: float = 40.0) -> None:
        self.client = server.client("harness")
        self.recorder = server.client("recorder")
        self.feed = self.client.outports.register("feed")
        self.keys = self.client.midi_outports.register("keys")
        self.rec = [self.recorder.inports.register(n) for n in ("rec_L", "rec_R")]
        self.audio = np.zeros(0, np.float32) if audio is None else audio.astype(np.float32)
        self.midi = sorted(midi)
        self.recorded = np.zeros((2, int(record_s * server.rate)), np.float32)
        self.position = -1  # samples fed since play(); -1: not playing
        self.start_frame: int | None = None  # the server's frame time of feed sample 0
        self._next_midi = 0
        self._callbacks = []
        self.client.set_process_callback(self._play)
        self.recorder.set_process_callback(self._record)
        for client, ports in ((self.client, [self.feed, self.keys]), (self.recorder, self.rec)):
            self._terminal_latencies(client, ports)
            client.activate()

    def _terminal_latencies(self, client, ports) -> None:
        """Like a sound card's ports, the harness's start and end the graph (latency 0)."""
        from ddspkit.stream import jack_backend as jb

        def on_latency(mode: int, _arg) -> None:
            for port in ports:
                jb._set_port_latency(port, mode, 0, 0)

        self._callbacks.append(jb._LATENCY_CALLBACK(on_latency))
        jb._lib().jack_set_latency_callback(jb._address(client._ptr), self._callbacks[-1], None)

    def _play(self, frames: int) -> None:
        out = self.feed.get_array()
        out.fill(0.0)
        self.keys.clear_buffer()
        if self.position < 0:
            return
        if self.start_frame is None:
            self.start_frame = self.client.last_frame_time
        start = self.client.last_frame_time - self.start_frame
        piece = self.audio[start : start + frames]
        out[: len(piece)] = piece
        while self._next_midi < len(self.midi) and self.midi[self._next_midi][0] < start + frames:
            at, data = self.midi[self._next_midi]
            self.keys.write_midi_event(max(0, at - start), data)
            self._next_midi += 1
        self.position = start + frames

    def _record(self, frames: int) -> None:
        if self.start_frame is None:
            return
        start = self.recorder.last_frame_time - self.start_frame
        end = min(start + frames, self.recorded.shape[1])
        if start < 0 or end <= start:
            return
        for channel, port in enumerate(self.rec):
            self.recorded[channel, start:end] = port.get_array()[: end - start]

    def play(self) -> None:
        self.position = 0

    def wait_until(self, samples: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.position < samples:
            assert time.monotonic() < deadline, "the JACK server stopped calling the harness"
            time.sleep(0.05)

    def close(self) -> None:
        for client in (self.client, self.recorder):
            client.deactivate()
            client.close()


def live_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "ddspkit.cli", "live", *args]


def start_live(server: JackServer, *args: str, env_extra: dict | None = None) -> subprocess.Popen:
    """`ddspkit live ...` against ``server``, output captured."""
    env = dict(server.env, **(env_extra or {}))
    return subprocess.Popen(live_args(*args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_ports(server: JackServer, pattern: str, count: int, process: subprocess.Popen,
                   timeout_s: float = 120.0) -> list[str]:
    """The names of ``count`` ports matching ``pattern`` once they appear (the model loads
    first); fails with the process's output if it ends before."""
    probe = server.client("port-probe")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            names = [p.name for p in probe.get_ports(pattern)]
            if len(names) >= count:
                return names
            if process.poll() is not None:
                out, err = process.communicate()
                raise AssertionError(f"ddspkit live ended early ({process.returncode}): {out}{err}")
            assert time.monotonic() < deadline, f"no ports {pattern} after {timeout_s} s"
            time.sleep(0.1)
    finally:
        probe.close()


def connect(client, source: str, destination: str, timeout_s: float = 5.0) -> None:
    """Connect two ports, waiting for their client's activation (ports exist just before)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.connect(source, destination)
            return
        except Exception:  # noqa: BLE001  (jack.JackErrorCode until the client is active)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def port_latencies(server: JackServer, port: str) -> dict[str, tuple[int, int]]:
    """jack_lsp -l's view of a port: {'playback': (min, max), 'capture': (min, max)}."""
    text = subprocess.run(["jack_lsp", "-s", server.name, "-l", port], capture_output=True,
                          text=True, timeout=10).stdout
    found = re.findall(r"port (playback|capture) latency = \[ (\d+) (\d+) \]", text)
    return {kind: (int(low), int(high)) for kind, low, high in found}


def run_in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
