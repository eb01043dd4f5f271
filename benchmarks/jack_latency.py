"""What the I/O layer adds to a note's onset through JACK: `python benchmarks/jack_latency.py`.

For JACK periods 64, 128 and 256 at 48 kHz, a dummy JACK server (Debian's jackd2) runs
`ddspkit live` as a real client, in effect mode (tone bursts fed by a JACK client) and in synth
mode (JACK MIDI notes), at random times off every block and frame grid; another client records
the output on the same frame clock. The same input also goes through the engine offline, block
by block as `ddspkit stream` runs it: the engine's own onset lag. Onset: per note, the time the
2 ms RMS envelope (dB) first rises half-way from the quiet before the note to the note's peak.

Added by the I/O layer = median over notes of (lag through JACK - the engine's own lag for
the same note), the engine run offline on the live engine's own sample grid (a note's onset
depends on where it falls in the engine's 20 ms frames; the live engine starts before the
input does, so the offline run gets the same silence first). Acceptance (issue 21): at most
one period + 2 ms. The table also shows the slack (the worker's time to compute, whole
periods), the run's dropouts and the server's xruns, and whether the latency JACK reports on
the output port equals the declared one. `--realtime` runs jackd with real-time priority, as
a musician's setup does (it needs the rights: root or the audio group).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import mido
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import ddspkit  # noqa: E402
from ddspkit.stream import EffectEngine, SynthEngine, use_one_thread  # noqa: E402
from ddspkit.stream.live import CLOCK_ENV, slack_in_blocks  # noqa: E402
from jack_support import (  # noqa: E402
    RATE,
    Harness,
    JackServer,
    connect,
    port_latencies,
    start_live,
    wait_for_ports,
)

PERIODS = (64, 128, 256)
REALTIME = False


def note_times(n_notes: int, seed: int) -> list[tuple[float, float, int]]:
    """(start_s, length_s, MIDI note): random gaps, so onsets fall anywhere in a block/frame."""
    rng = np.random.default_rng(seed)
    notes, t = [], 0.5
    for _ in range(n_notes):
        length = rng.uniform(0.3, 0.45)
        notes.append((t, length, int(rng.choice([45, 48, 50, 52, 55, 57]))))
        t += length + rng.uniform(0.45, 0.7)
    return notes


def tone_bursts(notes, seconds: float) -> np.ndarray:
    """A bowed-like tone per note: harmonics, 5 ms attack, 5 Hz vibrato; silence between."""
    audio = np.zeros(int(seconds * RATE), np.float32)
    for start, length, note in notes:
        t = np.arange(int(length * RATE)) / RATE
        f0 = 440 * 2 ** ((note - 69) / 12) * (1 + 0.004 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / RATE
        tone = sum(np.sin(k * phase) / k for k in range(1, 8))
        envelope = np.minimum(1, t / 0.005) * np.minimum(1, (length - t) / 0.02)
        first = int(start * RATE)
        audio[first : first + len(t)] = 0.25 * tone * envelope
    return audio


def onsets_s(audio: np.ndarray, notes) -> np.ndarray:
    """Per note: seconds from its start to the output's half-way (dB) rise, or NaN."""
    window = int(0.002 * RATE)
    power = np.convolve(audio.astype(np.float64) ** 2, np.ones(window) / window, mode="same")
    level_db = 10 * np.log10(power + 1e-12)
    lags = []
    for start, _length, _note in notes:
        first = int(start * RATE)
        quiet = np.median(level_db[max(0, first - int(0.1 * RATE)) : first])
        search = level_db[first : first + int(0.4 * RATE)]
        half = (quiet + search.max()) / 2
        above = np.nonzero(search > half)[0]
        lags.append(above[0] / RATE if len(above) and search.max() > quiet + 20 else np.nan)
    return np.array(lags)


def offline(engine, feed: np.ndarray | None, events, n_samples: int, period: int,
            lead: int) -> np.ndarray:
    """The engine alone, block by block as `ddspkit stream` runs it, after ``lead`` samples of
    silence (then cut off: the output is on the feed's timeline)."""
    if feed is not None:
        feed = np.concatenate([np.zeros(lead, np.float32), feed])
    events = [(at + lead, message) for at, message in events]
    n_samples += lead
    out = []
    for start in range(0, n_samples, period):
        if feed is not None:
            out.append(engine.process(feed[start : start + period]))
        else:
            block = [(at - start, message) for at, message in events if start <= at < start + period]
            out.append(engine.process(period, block))
    return np.concatenate(out)[lead:n_samples]


def midi_events(notes) -> list[tuple[int, mido.Message]]:
    events = []
    for start, length, note in notes:
        events.append((int(start * RATE), mido.Message("note_on", note=note, velocity=100)))
        events.append((int((start + length) * RATE), mido.Message("note_off", note=note)))
    return sorted(events, key=lambda e: e[0])


def through_jack(period: int, mode: str, notes, feed, model: str, slack_ms: float | None) -> dict:
    """One run of `ddspkit live` (``slack_ms`` None: its default, measured at start)."""
    seconds = notes[-1][0] + notes[-1][1] + 1.0
    server = JackServer(period, realtime=REALTIME)
    events = midi_events(notes)
    harness = Harness(server, audio=feed, record_s=seconds,
                      midi=[(at, bytes(m.bytes())) for at, m in events])
    args = (["-m", model, "--client-name", "Bench", "--no-connect", "--no-reverb"]
            + ([] if slack_ms is None else ["--slack-ms", str(slack_ms)])
            + (["--midi"] if mode == "synth" else []))
    clock_path = Path(tempfile.mkdtemp()) / "clock.json"
    process = start_live(server, *args, env_extra={CLOCK_ENV: str(clock_path)})
    try:
        wait_for_ports(server, "Bench:", 3, process)
        connect(harness.client, "harness:keys" if mode == "synth" else "harness:feed",
                "Bench:midi_in" if mode == "synth" else "Bench:in")
        connect(harness.client, "Bench:out_L", "recorder:rec_L")
        harness.play()
        harness.wait_until(int(seconds * RATE) - period, seconds + 30)
        reported = port_latencies(server, "Bench:out_L")["capture"]
        process.send_signal(2)  # Ctrl-C: the run's report
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        harness.close()
        server.stop()
    numbers = re.search(r"(\d+) dropouts.*?(\d+) server xruns", out)
    slack = re.search(r"\+ ([\d.]+) ms slack", out)
    clock = json.loads(clock_path.read_text())
    # Feed sample 0 is the live engine's sample `lead`: its warm-up, then the cycles before play.
    lead = clock["warm_up_samples"] + (harness.start_frame - clock["first_frame_time"]) % (1 << 32)
    return dict(lead=lead, recorded=harness.recorded[0], reported=reported, stderr=err.strip(),
                slack=round(float(slack.group(1)) * RATE / 1000 / period) * period if slack else -1,
                dropouts=int(numbers.group(1)) if numbers else -1,
                xruns=int(numbers.group(2)) if numbers else -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Cello")
    parser.add_argument("--notes", type=int, default=16)
    parser.add_argument("--periods", type=int, nargs="*", default=list(PERIODS))
    parser.add_argument("--slack-ms", nargs="*", default=["auto", "2"],
                        help="ddspkit live's --slack-ms values to measure ('auto': its default, "
                        "what a frame costs on this machine, measured at start)")
    parser.add_argument("--realtime", action="store_true", help="run jackd with real-time "
                        "priority (as a musician's setup does; needs the rights: root or the "
                        "audio group)")
    args = parser.parse_args()
    global REALTIME
    REALTIME = args.realtime
    use_one_thread()
    model = ddspkit.load_model(args.model, "cpu")
    notes = note_times(args.notes, seed=1)
    seconds = notes[-1][0] + notes[-1][1] + 1.0
    feed = tone_bursts(notes, seconds)
    rows = []
    for period in args.periods:
        for mode in ("effect", "synth"):
            for slack_option in args.slack_ms:
                slack_ms = None if slack_option == "auto" else float(slack_option)
                run = through_jack(period, mode, notes, feed if mode == "effect" else None,
                                   args.model, slack_ms)
                slack = run["slack"] if slack_ms is None else slack_in_blocks(slack_ms, period, RATE)
                engine = (EffectEngine(model, RATE, reverb=False) if mode == "effect"
                          else SynthEngine(model, RATE, reverb=False))
                own = onsets_s(offline(engine, feed if mode == "effect" else None, midi_events(notes),
                                       int(seconds * RATE), period, run["lead"]), notes)
                lags = onsets_s(run["recorded"], notes)
                added_ms = 1000 * np.nanmedian(lags - own)
                declared = engine.latency_samples + slack
                rows.append((period, mode, slack_option, 1000 * slack / RATE, 1000 * np.nanmedian(own),
                             1000 * np.nanmedian(lags), added_ms, 1000 * period / RATE + 2,
                             run["dropouts"], run["xruns"], run["reported"] == (declared, declared),
                             int(np.isfinite(lags - own).sum())))
                if run["stderr"]:
                    print(f"stderr ({period}, {mode}): {run['stderr']}")
    table = Table("period", "mode", "--slack-ms", "slack", "engine's onset lag", "through JACK",
                  "added", "limit", "dropouts", "xruns", "port latency = declared", "notes",
                  title=f"onset lag through a dummy JACK server, 48 kHz, {args.model}, no reverb")
    for period, mode, slack_ms, slack, own_ms, jack_ms, added, limit, drops, xruns, same, n in rows:
        table.add_row(str(period), mode, slack_ms, f"{slack:.2f} ms", f"{own_ms:.1f} ms",
                      f"{jack_ms:.1f} ms", f"{added:.2f} ms", f"{limit:.2f} ms", str(drops), str(xruns),
                      "yes" if same else "NO", f"{n}/{len(notes)}")
    Console(highlight=False, width=200).print(table)


if __name__ == "__main__":
    main()
