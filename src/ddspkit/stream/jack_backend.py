"""``ddspkit live`` as a JACK client (JACK, or PipeWire's JACK layer), through ``JACK-Client``.

Ports: ``in`` (effect mode, audio) or ``midi_in`` (synth mode, JACK MIDI, sample-accurate),
and ``out_L`` / ``out_R`` (the instrument on both). The rate and the block are the server's.
The runner's latency (the engine's + the slack) is registered on the ports through JACK's
latency callback, so a DAW that records the output compensates for it.

JACK-Client does not wrap the latency API; the few functions it needs are called through
``ctypes`` on the same ``libjack``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading

from ddspkit.errors import UserError
from ddspkit.stream.live import LIVE_HINT, SERVER_STOPPED, LiveRunner, match_name, quiet_c_stderr

CAPTURE, PLAYBACK = 0, 1  # jack_latency_callback_mode_t
NO_SERVER_HINT = "start one with `jackd -d alsa` or PipeWire's pipewire-jack"


def server_name() -> str:
    """The server a client connects to: $JACK_DEFAULT_SERVER, else 'default'."""
    return os.environ.get("JACK_DEFAULT_SERVER") or "default"


def _jack():
    try:
        import jack
    except ImportError:
        raise UserError(f"the JACK backend needs the JACK-Client package: {LIVE_HINT}") from None
    except OSError:  # JACK-Client is there, libjack is not
        raise UserError("the JACK library is not installed (Debian/Ubuntu: sudo apt-get install "
                        "libjack-jackd2-0, or PipeWire's pipewire-jack)") from None
    return jack


def jack_available() -> bool:
    """Whether a JACK server (or PipeWire's JACK layer) answers, without starting one."""
    try:
        open_client("ddspkit-probe").close()
    except UserError:
        return False
    return True


def open_client(name: str):
    jack = _jack()
    try:
        with quiet_c_stderr():  # libjack prints its own lines when no server answers
            return jack.Client(name, no_start_server=True)
    except jack.JackOpenError:
        raise UserError(f"no JACK server is running (server '{server_name()}'): "
                        f"{NO_SERVER_HINT}") from None


class _LatencyRange(ctypes.Structure):
    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


_LATENCY_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)
_libjack = None


def _lib():
    global _libjack
    if _libjack is None:
        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        for name in ("jack_port_get_latency_range", "jack_port_set_latency_range"):
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int,
                                           ctypes.POINTER(_LatencyRange)]
            getattr(lib, name).restype = None
        lib.jack_set_latency_callback.argtypes = [ctypes.c_void_p, _LATENCY_CALLBACK, ctypes.c_void_p]
        lib.jack_set_latency_callback.restype = ctypes.c_int
        _libjack = lib
    return _libjack


def _address(cdata) -> int:
    jack = _jack()
    return int(jack._ffi.cast("uintptr_t", cdata))


def port_latency_range(port, mode: int) -> tuple[int, int]:
    """(min, max) latency in frames of any JACK port (a ``jack.Port``): CAPTURE (since the
    sound entered the graph) or PLAYBACK (until it leaves it)."""
    latency = _LatencyRange()
    _lib().jack_port_get_latency_range(_address(port._ptr), mode, ctypes.byref(latency))
    return latency.min, latency.max


def _set_port_latency(port, mode: int, low: int, high: int) -> None:
    _lib().jack_port_set_latency_range(_address(port._ptr), mode,
                                       ctypes.byref(_LatencyRange(low, high)))


class JackBackend:
    """A JACK client: opened (rate and period known) before the engine is built, started
    with the runner."""

    name = "JACK"

    def __init__(self, *, client_name: str, synth: bool, rate_hz: int | None,
                 block_samples: int | None, connect_inputs: list[str] | None,
                 connect_outputs: list[str] | None, midi_port: str | None,
                 auto_connect: bool = True) -> None:
        self.client = open_client(client_name)
        self.synth = synth
        self.sample_rate_hz = self.client.samplerate
        self.block_samples = self.client.blocksize
        where = f"the JACK server '{server_name()}'"
        if rate_hz is not None and rate_hz != self.sample_rate_hz:
            self.client.close()
            raise UserError(f"--rate {rate_hz}: {where} runs at {self.sample_rate_hz} Hz; leave "
                            "--rate out to play at the server's rate, or restart the server at "
                            f"{rate_hz} Hz")
        if block_samples is not None and block_samples != self.block_samples:
            self.client.close()
            raise UserError(f"--block {block_samples}: {where} runs in blocks of "
                            f"{self.block_samples}; leave --block out, or change the server's "
                            "period (jackd -p, or PipeWire's quantum)")
        self.connect_inputs, self.connect_outputs = connect_inputs, connect_outputs
        self.midi_port, self.auto_connect = midi_port, auto_connect
        self.full_name = self.client.name  # JACK may add a suffix when the name is taken
        self.source = self.outputs = None  # registered at start: a port is usable once active
        self._stopped = threading.Event()
        self.xruns = 0  # the server's: a client (this one or another) missed its cycle
        self.stop_message = SERVER_STOPPED
        self.first_frame_time: int | None = None  # the server's frame time of the first cycle
        self._closed = False
        self._latency_callback = None
        self._check_connections_exist()

    def describe(self) -> str:
        return f"JACK client '{self.full_name}' on server '{server_name()}'"

    def _ports(self, **kind) -> list[str]:
        return [p.name for p in self.client.get_ports(**kind)]

    def _resolve(self, wanted: list[str], option: str, **kind) -> list[str]:
        names = [n for n in self._ports(**kind) if not n.startswith(self.full_name + ":")]
        return [match_name(names, w, option) for w in wanted]

    def _check_connections_exist(self) -> None:
        """Unknown port names fail before the model loads (--connect-* and --midi-port)."""
        try:
            if self.connect_inputs:
                self._resolve(self.connect_inputs, "--connect-input", is_audio=True, is_output=True)
            if self.connect_outputs:
                self._resolve(self.connect_outputs, "--connect-output", is_audio=True, is_input=True)
            if self.midi_port:
                self._resolve([self.midi_port], "--midi-port", is_midi=True, is_output=True)
        except UserError:
            self.client.close()
            raise

    def start(self, runner: LiveRunner) -> None:
        self.source = (self.client.midi_inports.register("midi_in") if self.synth
                       else self.client.inports.register("in"))
        self.outputs = [self.client.outports.register(n) for n in ("out_L", "out_R")]
        outputs, source = self.outputs, self.source
        period = self.block_samples
        client = self.client
        expected = [None]  # the frame time the next cycle should start at

        def process(frames: int) -> None:
            now = client.last_frame_time
            if expected[0] is None:
                self.first_frame_time = now
            else:
                gap = (now - expected[0]) & 0xFFFFFFFF  # frame times wrap at 2**32
                if gap < 1 << 31:
                    runner.missed(gap)
            expected[0] = now + frames
            out = outputs[0].get_array()
            if self.synth:
                events = [(offset, _message(data)) for offset, data in source.incoming_midi_events()]
                runner.callback(None, out, frames, [e for e in events if e[1] is not None])
            else:
                runner.callback(source.get_array(), out, frames)
            outputs[1].get_array()[:] = out

        def xrun(_delay_us) -> None:
            self.xruns += 1

        def shutdown(_status, _reason) -> None:
            self._stopped.set()

        def period_changed(frames: int) -> None:
            if frames != period:  # the slack (whole periods) no longer fits: say so, not crackle
                self.stop_message = (f"the JACK server's period changed ({period} -> {frames} "
                                     "frames): start ddspkit live again")
                self._stopped.set()

        self.client.set_process_callback(process)
        self.client.set_shutdown_callback(shutdown)
        self.client.set_xrun_callback(xrun)
        self.client.set_blocksize_callback(period_changed)
        self._register_latency(runner.latency_samples)
        self.client.activate()
        self._connect()

    def _register_latency(self, latency_samples: int) -> None:
        """JACK asks every client, on each graph change, how late its outputs are: the
        source's capture latency plus ours; and its inputs' playback latency: the outputs'
        plus ours (JACK's latency API, as jack_set_latency_callback documents)."""
        outputs, source = self.outputs, self.source

        def on_latency(mode: int, _arg) -> None:
            if mode == CAPTURE:
                low, high = port_latency_range(source, CAPTURE)
                for port in outputs:
                    _set_port_latency(port, CAPTURE, low + latency_samples, high + latency_samples)
            else:
                ranges = [port_latency_range(port, PLAYBACK) for port in outputs]
                low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
                _set_port_latency(source, PLAYBACK, low + latency_samples, high + latency_samples)

        self._latency_callback = _LATENCY_CALLBACK(on_latency)  # kept: JACK holds a pointer
        _lib().jack_set_latency_callback(_address(self.client._ptr), self._latency_callback, None)

    def _connect(self) -> None:
        client = self.client
        if self.synth:
            sources = (self._resolve([self.midi_port], "--midi-port", is_midi=True, is_output=True)
                       if self.midi_port else
                       self._ports(is_midi=True, is_output=True, is_physical=True)
                       if self.auto_connect else [])
            for name in sources:
                client.connect(name, self.source)
        else:
            sources = (self._resolve(self.connect_inputs, "--connect-input", is_audio=True,
                                     is_output=True) if self.connect_inputs else
                       self._ports(is_audio=True, is_output=True, is_physical=True)[:1]
                       if self.auto_connect else [])
            for name in sources:
                client.connect(name, self.source)
        sinks = (self._resolve(self.connect_outputs, "--connect-output", is_audio=True, is_input=True)
                 if self.connect_outputs else
                 self._ports(is_audio=True, is_input=True, is_physical=True)[:2]
                 if self.auto_connect else [])
        for port, name in zip(self.outputs, sinks, strict=False):
            client.connect(port, name)

    def connections(self) -> str:
        """One line: what the client's ports are connected to."""
        parts = []
        for port in [self.source, *self.outputs]:
            try:
                linked = ", ".join(p.name for p in self.client.get_all_connections(port)) or "nothing"
            except Exception:  # noqa: BLE001  (a listing only)
                linked = "?"
            parts.append(f"{port.shortname} <-> {linked}")
        return "; ".join(parts)

    def server_stopped(self) -> bool:
        return self._stopped.is_set()

    def close(self) -> None:
        """Deactivate and close; after the server died, in a thread that may not return."""
        if self._closed:
            return
        self._closed = True

        def close_client() -> None:
            with contextlib.suppress(Exception):
                self.client.deactivate()
                self.client.close()

        closer = threading.Thread(target=close_client, daemon=True)
        with quiet_c_stderr():  # libjack's own complaints about a server that went away
            closer.start()
            closer.join(timeout=1.0)


def _message(data: bytes):
    import mido

    try:
        return mido.Message.from_bytes(bytes(data))
    except (ValueError, TypeError):  # sysex fragments, realtime bytes mido does not parse
        return None


def list_jack() -> tuple[str, list[str], list[str], list[str]]:
    """(status line, audio sources, audio sinks, MIDI sources) of the running JACK server."""
    try:
        client = open_client("ddspkit-list")
    except UserError as exc:
        return str(exc), [], [], []
    try:
        status = (f"JACK server '{server_name()}' running at {client.samplerate} Hz, "
                  f"period {client.blocksize}")
        names = [[p.name for p in client.get_ports(**kind)] for kind in (
            dict(is_audio=True, is_output=True), dict(is_audio=True, is_input=True),
            dict(is_midi=True, is_output=True))]
    finally:
        client.close()
    return status, *names
