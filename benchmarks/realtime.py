"""Real-time benchmark of the streaming engines: `python benchmarks/realtime.py`.

For block sizes 32 to 4096 at 48 kHz on one CPU thread, the effect engine (a sung phrase,
tracked and morphed into the Cello) and the synth engine (one voice: a melody; four voices:
four-note chords) process 60 s block by block, as a host's audio callback would call them.
Per configuration: the median and worst block compute time against the block's deadline
(its duration; the worst also in thread CPU time, which leaves out what other processes took
from the thread on a shared machine), the real-time factor (compute time / audio time, over
the whole run and as the median block's share of its deadline), and the declared latency.

References, in the same table: the offline paths measured in this run on the same material
(`transfer` of the 60 s phrase, `render` of the same MIDI: the batch cost the streaming
engine's cost is a ratio of), and two published figures: DDSP-VST's 64 ms latency
(magenta/ddsp-vst, kTotalInferenceLatency_ms) and the DDSP decoder's real-time factor of 1.04
at 64 ms buffers on a laptop CPU (Caspe et al., DDX7, ISMIR 2022).

Acceptance (issue 9): at 480-sample blocks, median block RTF <= 0.25 and no block over its
10 ms deadline in effect mode and in synth mode with one voice; effect latency <= 32 ms,
synth latency <= one block + 5 ms.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import ddspkit
from ddspkit.analysis.onsets import OnsetLags, onset_lags
from ddspkit.audio import resample
from ddspkit.render.signals import isolated_notes_midi, sung_phrase
from ddspkit.render.soundfont import render_midi as render_soundfont_midi
from ddspkit.stream import EffectEngine, SynthEngine, use_one_thread
from ddspkit.stream.files import midi_events, stream_midi_file

BLOCKS = (32, 64, 128, 256, 480, 1024, 4096)
RATE_HZ = 48000
DDSP_VST_LATENCY_MS = 64.0
DDX7_DDSP_RTF_AT_64_MS = 1.04


def melody_midi(path: Path, seconds: float, voices: int) -> Path:
    """A MIDI file of ``seconds``: a stepwise melody, or ``voices``-note chords."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(42, name="part")
    scale = [48, 50, 52, 53, 55, 57, 59, 60]
    t, i = 0.0, 0
    while t < seconds - 1.0:
        length = 0.5 if i % 3 else 0.75
        for v in range(voices):
            pitch = scale[(i + 2 * v) % len(scale)] + 12 * (v // 2)
            inst.notes.append(pretty_midi.Note(velocity=60 + 5 * (i % 8), pitch=pitch,
                                               start=t, end=t + 0.9 * length))
        t += length
        i += 1
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def run_blocks(process, n_blocks: int, warm_up=None) -> tuple[np.ndarray, np.ndarray]:
    """Wall and thread-CPU seconds per call of ``process(i)`` for every block from the first,
    after ``warm_up()`` (a throwaway engine's first blocks: code paths and caches ready, as a
    host's engine is before the performance starts) and gc.freeze (a real-time thread must
    not be stopped by the collector). The CPU time leaves out what other processes on a
    shared machine took from the thread."""
    if warm_up is not None:
        warm_up()
    gc.collect()
    gc.freeze()
    wall, cpu = np.empty(n_blocks), np.empty(n_blocks)
    for i in range(n_blocks):
        start, start_cpu = time.perf_counter(), time.thread_time()
        process(i)
        wall[i], cpu[i] = time.perf_counter() - start, time.thread_time() - start_cpu
    gc.unfreeze()
    return wall, cpu


WARM_UP_S = 1.0


def effect_times(model, audio: np.ndarray, block: int):
    engine = EffectEngine(model, RATE_HZ)
    padded = np.concatenate([audio, np.zeros(block, np.float32)])
    n = len(audio) // block

    def warm_up() -> None:
        spare = EffectEngine(model, RATE_HZ)
        for i in range(int(WARM_UP_S * RATE_HZ) // block):
            spare.process(padded[i * block : (i + 1) * block])

    return run_blocks(lambda i: engine.process(padded[i * block : (i + 1) * block]), n, warm_up), \
        engine.latency_ms


def synth_times(model, midi_path: Path, seconds: float, block: int):
    engine = SynthEngine(model, RATE_HZ)
    events, _, _ = midi_events(midi_path, RATE_HZ)
    n = int(seconds * RATE_HZ) // block
    by_block: list[list] = [[] for _ in range(n)]
    for sample, message in events:
        if sample // block < n:
            by_block[sample // block].append((sample % block, message))

    def warm_up() -> None:
        spare = SynthEngine(model, RATE_HZ)
        for i in range(int(WARM_UP_S * RATE_HZ) // block):
            spare.process(block, by_block[i])

    return run_blocks(lambda i: engine.process(block, by_block[i]), n, warm_up), engine.latency_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per configuration")
    parser.add_argument("--model", default="Cello")
    parser.add_argument("--blocks", type=int, nargs="*", default=list(BLOCKS))
    parser.add_argument("--no-onsets", dest="onsets", action="store_false",
                        help="skip the note-onset table (effect and synth at 64, 256, 480 samples)")
    args = parser.parse_args()
    use_one_thread()
    model = ddspkit.load_model(args.model, "cpu")
    phrase = sung_phrase()
    reps = int(np.ceil(args.seconds * 16000 / len(phrase)))
    # Half a second of silence first: a live engine runs before the performer starts.
    performance = np.concatenate([np.zeros(8000, np.float32), np.tile(phrase, reps)])
    audio = resample(performance[: int(args.seconds * 16000)], 16000, RATE_HZ)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        melodies = {v: melody_midi(Path(tmp) / f"v{v}.mid", args.seconds, v) for v in (1, 4)}
        start = time.perf_counter()
        model.transfer(audio, RATE_HZ)
        offline = {"effect": (time.perf_counter() - start) / args.seconds}
        for voices, path in melodies.items():
            start = time.perf_counter()
            model.render_midi(path, sample_rate_hz=RATE_HZ)
            offline[f"synth, {voices} voice(s)"] = (time.perf_counter() - start) / args.seconds
        for block in args.blocks:
            for mode, voices in (("effect", 0), ("synth, 1 voice(s)", 1), ("synth, 4 voice(s)", 4)):
                if voices == 0:
                    times, latency_ms = effect_times(model, audio, block)
                else:
                    times, latency_ms = synth_times(model, melodies[voices], args.seconds, block)
                deadline_s = block / RATE_HZ
                wall, cpu = times
                rows.append((mode, block, np.median(wall), wall.max(), cpu.max(), deadline_s,
                             wall.sum() / (len(wall) * deadline_s), latency_ms,
                             int((wall > deadline_s).sum()), offline[mode]))
    print_table(rows, args.seconds)
    if args.onsets:
        print_onset_table(onset_rows(model, ONSET_BLOCKS), model.name)


ONSET_BLOCKS = (64, 256, 480)
ONSET_NOTES = 32
BRAVE_LATENCY_MS = 10.0  # "under 10 ms, about 3 ms of jitter" (fcaspe/BRAVE)


def onset_rows(model, blocks) -> list[tuple[str, int, OnsetLags, float]]:
    """Note onsets after silence through both engines at each block size: isolated notes at
    random sub-block times, and for the effect FluidSynth's dry rendering of them as input."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / "notes.mid"
        program = int(model.info.data_recipe.get("program", 40))  # its own instrument (else a violin)
        starts, ends = isolated_notes_midi(midi, ONSET_NOTES, program=program)
        sampled = render_soundfont_midi(midi, sample_rate_hz=RATE_HZ)
        for block in blocks:
            synth = stream_midi_file(midi, model, block_samples=block, sample_rate_hz=RATE_HZ, reverb=False)
            rows.append(("synth", block, onset_lags(synth.audio, RATE_HZ, starts, ends),
                         1000 * synth.latency_samples / RATE_HZ))
            engine = EffectEngine(model, RATE_HZ, reverb=False)
            n = len(sampled) // block * block
            out = np.concatenate([engine.process(sampled[i : i + block]) for i in range(0, n, block)])
            rows.append(("effect", block, onset_lags(out, RATE_HZ, starts, ends, reference=sampled[:n]),
                         engine.latency_ms))
    return rows


def print_onset_table(rows, model_name: str) -> None:
    table = Table("mode", "block", "median onset lag", "worst", "jitter (spread)", "declared latency",
                  "median - declared", "vs DDSP-VST 64 ms", "vs BRAVE <10 ms",
                  title=f"note onsets after silence, {model_name}, {ONSET_NOTES} notes at random "
                        f"sub-block times, {RATE_HZ} Hz, dry")
    for mode, block, lags, declared_ms in sorted(rows, key=lambda r: (r[0], r[1])):
        table.add_row(mode, str(block), f"{lags.median_ms:.1f} ms", f"{lags.worst_ms:.1f} ms",
                      f"{lags.spread_ms:.1f} ms", f"{declared_ms:.1f} ms",
                      f"{lags.median_ms - declared_ms:+.1f} ms",
                      f"{lags.median_ms / DDSP_VST_LATENCY_MS:.2f}x",
                      f"{lags.median_ms / BRAVE_LATENCY_MS:.2f}x")
    Console(highlight=False, width=180).print(table)


def print_table(rows, seconds: float) -> None:
    table = Table("mode", "block", "deadline", "median block", "worst block", "worst (CPU)",
                  "over deadline", "median RTF", "RTF (all)", "vs offline RTF", "latency",
                  title=f"streaming engines, 48 kHz, one CPU thread, {seconds:g} s each")
    for mode, block, median_s, worst_s, worst_cpu_s, deadline_s, rtf, latency_ms, late, offline_rtf in rows:
        table.add_row(mode, str(block), f"{1000 * deadline_s:.2f} ms", f"{1000 * median_s:.3f} ms",
                      f"{1000 * worst_s:.2f} ms", f"{1000 * worst_cpu_s:.2f} ms", str(late),
                      f"{median_s / deadline_s:.3f}",
                      f"{rtf:.3f}", f"{rtf / offline_rtf:.1f}x",
                      f"{latency_ms:.2f} ms ({latency_ms / DDSP_VST_LATENCY_MS:.2f}x DDSP-VST)")
    console = Console(highlight=False, width=180)  # a table to read, not to wrap
    console.print(table)
    offline = sorted({(r[0], r[9]) for r in rows})
    console.print("offline references, same run (compute / audio time): "
                  + ", ".join(f"{mode} {rtf:.3f}" for mode, rtf in offline))
    console.print(f"published references: DDSP-VST latency {DDSP_VST_LATENCY_MS:.0f} ms; DDSP "
                  f"decoder RTF {DDX7_DDSP_RTF_AT_64_MS} at 64 ms buffers (DDX7, ISMIR 2022)")


if __name__ == "__main__":
    main()
