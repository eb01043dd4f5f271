"""`ddspkit live` as a real client of a real (dummy) JACK server, fed and recorded by JACK clients.

The synth and the effect each play 30 s, on pitch and on time; a killed server ends the run
in one line; Ctrl-C prints the report; the latency registered on the ports is the declared one.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import mido
import numpy as np
import pytest

import ddspkit
from ddspkit.analysis.features import extract_features
from ddspkit.audio import resample
from ddspkit.render.signals import sung_phrase
from ddspkit.stream import EffectEngine, SynthEngine
from ddspkit.stream.live import auto_slack_ms, slack_in_blocks
from jack_support import (
    RATE,
    Harness,
    JackServer,
    connect,
    live_args,
    port_latencies,
    start_live,
    wait_for_ports,
)

PERIOD = 128


@pytest.fixture(scope="module")
def jack_server():
    server = JackServer(PERIOD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cello():
    return ddspkit.load_model("Cello", "cpu")


def declared_latency(engine, stdout: str) -> int:
    """The engine's latency plus the slack that `ddspkit live` chose by default, measuring a
    frame's cost on this machine, as its first line says (rounded to 0.1 ms there; the slack
    is whole periods)."""
    found = re.search(r"\+ ([\d.]+) ms slack \(a frame takes ([\d.]+) ms here\)", stdout)
    assert found, f"no measured slack in: {stdout}"
    slack_ms, frame_ms = float(found.group(1)), float(found.group(2))
    slack = round(slack_ms * RATE / 1000 / PERIOD) * PERIOD
    # the slack covers the measured frame with the margin, in as few periods as do (the
    # printed frame time is rounded to 0.1 ms)
    assert slack in {slack_in_blocks(auto_slack_ms(frame_ms + d), PERIOD, RATE) for d in (-0.05, 0.05)}
    return engine.latency_samples + slack


def report(stdout: str) -> dict:
    """The numbers of the run's report line."""
    found = re.search(r"stopped: (\d+) blocks .*?, (\d+) dropouts \(largest gap ([\d.]+) ms\), "
                      r"slowest block ([\d.]+) ms, latency ([\d.]+) ms \(declared ([\d.]+) ms\)",
                      stdout)
    assert found, f"no report in: {stdout}"
    blocks, dropouts, gap_ms, _worst, latency_ms, declared_ms = found.groups()
    xruns = re.search(r", (\d+) server xruns", stdout)
    return dict(blocks=int(blocks), dropouts=int(dropouts), gap_ms=float(gap_ms),
                latency_ms=float(latency_ms), declared_ms=float(declared_ms),
                server_xruns=int(xruns.group(1)) if xruns else 0)


def finish(process: subprocess.Popen, timeout_s: float = 30.0) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout_s)
    assert "Traceback" not in err, err
    return out, err


def envelope_lag(recorded: np.ndarray, reference: np.ndarray, max_lag: int) -> int:
    """The lag (samples) of ``recorded`` behind ``reference``: the peak of their 2 ms RMS
    envelopes' cross-correlation (envelopes: robust to frame-phase differences)."""
    def envelope(x):
        return np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(96) / 96, mode="same"))

    a, b = envelope(recorded), envelope(reference)
    a, b = a - a.mean(), b - b.mean()
    scores = [np.dot(a[max_lag + lag : len(a) - max_lag + lag], b[max_lag : len(b) - max_lag])
              for lag in range(-max_lag, max_lag + 1)]
    return int(np.argmax(scores)) - max_lag


def pitch_cents_modulo_octave(measured_hz, reference_hz) -> np.ndarray:
    cents = 1200 * np.log2(np.asarray(measured_hz) / np.asarray(reference_hz))
    return (cents + 600) % 1200 - 600


@pytest.mark.slow
def test_effect_plays_30_s_through_jack_on_pitch_on_time_and_latency_never_creeps(jack_server, cello):
    phrase = resample(sung_phrase(), 16000, RATE)
    feed = np.tile(phrase, int(np.ceil(30 * RATE / len(phrase))))[: 30 * RATE]
    harness = Harness(jack_server, audio=feed, record_s=31)
    # Two stalls of the worker (a machine too busy to compute): 0.65 s of late output that
    # must be dropped, not kept as latency.
    process = start_live(jack_server, "-m", "Cello", "--client-name", "TestCello", "--no-connect",
                         "--seconds", "32", env_extra={"DDSPKIT_LIVE_TEST_STALLS": "9:0.25,15:0.4"})
    try:
        wait_for_ports(jack_server, "TestCello:", 3, process)
        client = harness.client
        connect(client, "harness:feed", "TestCello:in")
        connect(client, "TestCello:out_L", "recorder:rec_L")
        connect(client, "TestCello:out_R", "recorder:rec_R")
        harness.play()
        harness.wait_until(2 * RATE, 30)
        on_ports = (port_latencies(jack_server, "TestCello:out_L")["capture"],
                    port_latencies(jack_server, "TestCello:in")["playback"])
        harness.wait_until(31 * RATE - PERIOD, 60)
        out, err = finish(process)
    finally:
        process.kill()
        harness.close()
    assert process.returncode == 0 and err.strip() == "", err
    declared = declared_latency(EffectEngine(cello, RATE), out)
    # What a DAW reads on the ports: the output is `declared` later than the input's source;
    # the input reaches the recorder `declared` later.
    assert on_ports == ((declared, declared), (declared, declared))
    numbers = report(out)
    assert numbers["dropouts"] >= 2 and numbers["gap_ms"] >= 200  # the stalls were heard...
    assert numbers["latency_ms"] == numbers["declared_ms"]  # ...and the latency came back
    assert abs(numbers["declared_ms"] - 1000 * declared / RATE) < 0.06
    heard = harness.recorded[0, : 30 * RATE]
    # Stereo: both sides the same (but in the cycles of a busy machine's xruns, where JACK
    # hands the recorder whatever a late client had written).
    assert np.mean(harness.recorded[1, : 30 * RATE] == heard) > 0.97
    assert np.sqrt(np.mean(heard**2)) > 0.01
    # On time after the stalls: the last 10 s are the offline stream's, the slack later.
    offline = EffectEngine(cello, RATE)
    expected = np.concatenate([offline.process(feed[i : i + PERIOD]) for i in range(0, len(feed), PERIOD)])
    tail = slice(20 * RATE, 30 * RATE)
    lag = envelope_lag(heard[tail], expected[tail], max_lag=RATE // 10)
    # Within 5 ms on a server that ran every cycle. A loaded machine's xruns hand the recorder
    # stale cycles, which blur and shift the envelopes (measured up to 10 ms on a busy 2-core
    # CI machine): then within one control frame. The exact, one-block check of the latency
    # after stalls is test_live.py's stall test; the runner's own report is checked above.
    tolerance = RATE // 200 if numbers["server_xruns"] == 0 else RATE // 50
    assert abs(lag - (declared - offline.latency_samples)) <= tolerance, numbers
    # On pitch: the output's pitch follows the input's (modulo the auto-adjusted octave).
    played = extract_features(resample(feed, RATE, 16000))
    got = extract_features(resample(np.roll(heard, -declared), RATE, 16000))
    both = played.voiced & got.voiced
    both[: 5 * 50] = False  # the stalls' neighbourhood aside, everything after the first notes
    errors = np.abs(pitch_cents_modulo_octave(got.f0_hz[both], played.f0_hz[both]))
    # (over 1000 frames on a quiet machine; a loaded one's xruns and dropouts leave fewer)
    assert both.sum() > 100 and np.median(errors) < 20


def melody(seconds: float, seed: int = 3) -> list[tuple[float, float, int]]:
    """(start_s, end_s, MIDI note): Cello-range notes at times off every block and frame grid."""
    rng = np.random.default_rng(seed)
    notes, t = [], 0.3
    while t < seconds - 1.0:
        length = rng.uniform(0.4, 0.9)
        notes.append((t, t + length, int(rng.choice([45, 47, 48, 50, 52, 53, 55, 57]))))
        t += length + rng.uniform(0.15, 0.4)
    return notes


def midi_bytes(notes) -> list[tuple[int, bytes]]:
    events = []
    for start, end, note in notes:
        events.append((int(start * RATE), bytes(mido.Message("note_on", note=note, velocity=90).bytes())))
        events.append((int(end * RATE), bytes(mido.Message("note_off", note=note).bytes())))
    return events


def assert_notes_on_pitch(heard: np.ndarray, notes, delay_samples: int, heard_fraction: float = 0.9) -> None:
    """Nine notes in ten sound (above -40 dBFS) with a pitch, and the median error over the
    notes is under 20 cents. (On a loaded machine JACK may skip a late client's cycle, and
    the MIDI in it: a note lost, or held into the next one, as a real setup would play it.)"""
    features = extract_features(resample(heard, RATE, 16000))
    errors = []
    for start, end, note in notes:
        frames = slice(int((start + delay_samples / RATE + 0.12) * 50),
                       int((end + delay_samples / RATE - 0.05) * 50))
        voiced = features.voiced[frames]
        if features.power_db[frames].max() > -40 and voiced.any():
            f0 = np.median(features.f0_hz[frames][voiced])
            errors.append(1200 * np.log2(f0 / (440 * 2 ** ((note - 69) / 12))))
    assert len(errors) >= heard_fraction * len(notes), f"{len(notes) - len(errors)} of {len(notes)} unheard"
    assert np.median(np.abs(errors)) < 20, errors


@pytest.mark.slow
def test_synth_plays_30_s_of_jack_midi_on_pitch_and_ctrl_c_prints_the_report(jack_server, cello):
    notes = melody(30)
    harness = Harness(jack_server, midi=midi_bytes(notes), record_s=31)
    process = start_live(jack_server, "-m", "Cello", "--midi", "--client-name", "TestSynth",
                         "--no-connect", "--no-reverb")
    try:
        wait_for_ports(jack_server, "TestSynth:", 3, process)
        client = harness.client
        connect(client, "harness:keys", "TestSynth:midi_in")
        connect(client, "TestSynth:out_L", "recorder:rec_L")
        connect(client, "TestSynth:out_R", "recorder:rec_R")
        harness.play()
        harness.wait_until(2 * RATE, 30)
        on_port = port_latencies(jack_server, "TestSynth:out_L")["capture"]
        harness.wait_until(30 * RATE + RATE // 2, 60)
        process.send_signal(signal.SIGINT)  # Ctrl-C
        started = time.monotonic()
        out, err = finish(process)
        assert time.monotonic() - started < 3
    finally:
        process.kill()
        harness.close()
    assert process.returncode == 0 and err.strip() == "", err
    declared = declared_latency(SynthEngine(cello, RATE, reverb=False), out)
    assert on_port == (declared, declared)
    numbers = report(out)
    # (JACK skips a late client's cycles, as xruns: they are not blocks, and move nothing)
    assert numbers["blocks"] > 25 * RATE / PERIOD and numbers["latency_ms"] == numbers["declared_ms"]
    # (a loaded machine's xruns lose the MIDI in the cycles JACK skips: a few notes lost or held)
    # Two notes in three at least: on a busy 2-core CI machine JACK skips late cycles and the
    # MIDI in them (22 of 31 notes heard once, every note on an idle machine).
    assert_notes_on_pitch(harness.recorded[0, : 30 * RATE], notes, declared, heard_fraction=0.66)


def test_portaudio_synth_plays_jack_midi_through_rtmidi(jack_server):
    """PortAudio's OutputStream (four-argument callback) and rtmidi on JACK, without MIDO_BACKEND."""
    notes = melody(8, seed=5)
    harness = Harness(jack_server, midi=midi_bytes(notes), record_s=9)
    process = start_live(jack_server, "-m", "Cello", "--midi", "--backend", "portaudio",
                         "--midi-port", "harness:keys", "--no-reverb", "--seconds", "11")
    try:
        ports = wait_for_ports(jack_server, "PortAudio.*:out", 2, process)
        for port, rec in zip(ports, ("recorder:rec_L", "recorder:rec_R"), strict=False):
            connect(harness.client, port, rec)
        time.sleep(0.3)  # rtmidi's own JACK client connects to harness:keys
        harness.play()
        harness.wait_until(8 * RATE, 30)
        out, err = finish(process)
    finally:
        process.kill()
        harness.close()
    assert process.returncode == 0 and err.strip() == "", err
    assert "MIDI from harness:keys" in out and report(out)["blocks"] > 0
    heard = harness.recorded[0, : 8 * RATE]
    delay = int(np.argmax(np.abs(heard) > 0.01)) - int(notes[0][0] * RATE)
    assert 0 < delay < RATE // 5  # the first note sounded, and soon: PortAudio adds its buffers
    assert_notes_on_pitch(heard, notes, delay, heard_fraction=0.75)  # (PortAudio's MIDI: rtmidi's
    # own JACK client, timed by arrival, and no xrun accounting: less exact than the JACK backend)


@pytest.mark.parametrize("backend", ["jack", "portaudio"])
def test_a_killed_server_ends_the_run_within_2_s_in_one_line(backend):
    server = JackServer(PERIOD, name=f"ddspkit-test-killed-{backend}")
    try:
        process = start_live(server, "-m", "Cello", "--backend", backend)
        wait_for_ports(server, "ddspkit:out_L" if backend == "jack" else "PortAudio.*:out", 1, process)
        time.sleep(1.0)
        server.kill()
        started = time.monotonic()
        out, err = finish(process, timeout_s=10)
        assert time.monotonic() - started < 2.0
    finally:
        process.kill()
        server.stop()
    assert process.returncode == 1
    assert err.strip() == "error: the audio server stopped", err


def one_line_error(server: JackServer, *args: str, env_extra=None) -> str:
    result = subprocess.run(live_args(*args),
                            env=dict(server.env, **(env_extra or {})), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_jack_errors_name_the_server_and_what_to_do(jack_server):
    line = one_line_error(jack_server, "-m", "Cello", "--rate", "44100")
    assert f"the JACK server '{jack_server.name}' runs at 48000 Hz" in line
    line = one_line_error(jack_server, "-m", "Cello", "--connect-input", "nowhere:at_all")
    assert "--connect-input 'nowhere:at_all': no such port" in line and "system:capture_1" in line
    line = one_line_error(jack_server, "-m", "Cello", "--backend", "jack",
                          env_extra={"JACK_DEFAULT_SERVER": "ddspkit-no-such-server"})
    assert line == ("error: no JACK server is running (server 'ddspkit-no-such-server'): start one "
                    "with `jackd -d alsa` or PipeWire's pipewire-jack")


def test_list_devices_shows_both_backends_and_the_jack_ports(jack_server):
    harness = Harness(jack_server, record_s=1)
    try:
        result = subprocess.run(live_args("--list-devices"), env=jack_server.env,
                                capture_output=True, text=True, timeout=120)
    finally:
        harness.close()
    assert result.returncode == 0, result.stderr
    assert f"JACK backend: JACK server '{jack_server.name}' running at 48000 Hz, period 128" in result.stdout
    assert "harness:feed" in result.stdout and "harness:keys" in result.stdout
    assert "PortAudio backend:" in result.stdout and "MIDI inputs" in result.stdout
