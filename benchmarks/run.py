"""Speed benchmarks: `python benchmarks/run.py` prints a table with ratios to references
measured in the same run.

- Training step (CPU): the reference recipe (batch 16 x 4 s) and the default 'fast' recipe
  (batch 8 x 2 s), seconds per step; ratio = reference step / this step.
- Oscillator bank: ddspkit's blocked synth against the textbook version (upsample every
  harmonic's amplitude to the sample rate, then sum), same inputs; ratio = textbook / ours.
- MIDI rendering of one minute, one voice and four voices: real-time factor.
- Transfer end to end on a 60 s file (read, resample, pitch tracking, decoder, synth, write):
  real-time factor = audio seconds / wall seconds; target >= 50.
- Polyphonic input, 60 s of four-voice audio (the model's own four-voice rendering): note
  transcription alone, and polyphonic transfer (transcription + one voice per line); ratio
  against the monophonic transfer of 60 s measured above.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from rich.console import Console
from rich.table import Table

from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.dsp.core import upsample_frames
from ddspkit.dsp.losses import multiscale_spectral_loss
from ddspkit.dsp.synths import harmonic_synth
from ddspkit.model import Instrument
from ddspkit.render.signals import sung_phrase
from ddspkit.training.recipes import RECIPES


def timed(fn, repeats: int, warmup: int = 1) -> float:
    """Median seconds of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def training_step_seconds(batch_size: int, example_seconds: float, repeats: int) -> float:
    torch.manual_seed(0)
    model = Instrument()
    optimizer = torch.optim.Adam(model.parameters(), 3e-4)
    n_samples = int(example_seconds * SAMPLE_RATE_HZ)
    n_frames = n_samples // HOP_SAMPLES + 1
    f0 = 100 + 200 * torch.rand(batch_size, n_frames)
    power = -60 + 40 * torch.rand(batch_size, n_frames)
    target = 0.1 * torch.randn(batch_size, n_samples)

    def step() -> None:
        loss = multiscale_spectral_loss(model(f0, power, n_samples), target)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
        optimizer.step()

    return timed(step, repeats)


def textbook_harmonic_synth(f0_hz, amplitude, distribution, n_samples):
    """Reference: every harmonic's amplitude upsampled to audio rate, then summed."""
    k = torch.arange(1, distribution.shape[-1] + 1, dtype=f0_hz.dtype)
    amps = upsample_frames(amplitude * distribution, n_samples)
    f0_up = upsample_frames(f0_hz[..., None], n_samples)[..., 0]
    phase = torch.remainder(torch.cumsum(2 * math.pi * f0_up.double() / SAMPLE_RATE_HZ, -1),
                            2 * math.pi).float()
    amps = amps * (f0_up[..., None] * k < SAMPLE_RATE_HZ / 2)
    return (amps * torch.sin(phase[..., None] * k)).sum(-1)


def synth_seconds(repeats: int) -> tuple[float, float]:
    n_frames = 3001  # 60 s
    f0 = torch.full((1, n_frames), 110.0) * (1 + 0.01 * torch.randn(1, n_frames))
    amp, dist = torch.rand(1, n_frames, 1), torch.softmax(torch.randn(1, n_frames, 60), -1)
    n = (n_frames - 1) * HOP_SAMPLES
    with torch.no_grad():
        ours = timed(lambda: harmonic_synth(f0, amp, dist, n), repeats)
        ref = timed(lambda: textbook_harmonic_synth(f0, amp, dist, n), repeats)
    return ours, ref


def transfer_seconds(model: str, repeats: int) -> tuple[float, float]:
    from ddspkit.api import load_model

    with tempfile.TemporaryDirectory() as tmp:
        phrase = sung_phrase(sample_rate_hz=44100)
        reps = int(np.ceil(60 * 44100 / len(phrase)))
        audio = np.tile(phrase, reps)[: 60 * 44100]
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(src, audio, 44100)
        instrument = load_model(model, device="cpu")
        seconds = timed(lambda: instrument.transfer_file(src, dst), repeats)
    return seconds, len(audio) / 44100


def render_seconds(model: str, n_voices: int, repeats: int) -> tuple[float, float]:
    """Render one minute of MIDI: a monophonic line, or n_voices parts of chords."""
    import pretty_midi

    from ddspkit.api import load_model

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    for v in range(n_voices):
        inst = pretty_midi.Instrument(42, name=f"voice{v}")
        for i in range(120):  # 120 half-second notes = 60 s
            pitch = 43 + 7 * v + (i * 5) % 12
            inst.notes.append(pretty_midi.Note(80, pitch, 0.5 * i, 0.5 * i + 0.48))
        pm.instruments.append(inst)
    instrument = load_model(model, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.mid"
        pm.write(str(path))
        seconds = timed(lambda: instrument.render_midi(path, sample_rate_hz=44100), repeats)
    return seconds, 60.0


def polyphonic_seconds(model: str, repeats: int) -> tuple[float, float, int]:
    """Transcribe, then transfer polyphonically, 60 s of four-voice audio (16 kHz)."""
    import pretty_midi

    from ddspkit.api import load_model, transcribe

    instrument = load_model(model, device="cpu")

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    for v in range(4):
        inst = pretty_midi.Instrument(42, name=f"voice{v}")
        for i in range(60):  # one-second chords, a different progression per voice
            inst.notes.append(pretty_midi.Note(80, 43 + 7 * v + (i * 5) % 12, i, i + 0.95))
        pm.instruments.append(inst)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chords.mid"
        pm.write(str(path))
        audio = instrument.render_midi(path, sample_rate_hz=16000).audio[: 60 * 16000]
    notes = transcribe(audio, 16000)
    transcription = timed(lambda: transcribe(audio, 16000), repeats)
    transfer = timed(lambda: instrument.transfer_polyphonic(audio, 16000), repeats)
    return transcription, transfer, len(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description="ddspkit speed benchmarks (CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="Cello", help="model for the transfer benchmark")
    parser.add_argument("--skip-training", action="store_true", help="skip the training-step rows")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    table = Table("benchmark", "measure", "reference", "ratio", title=(
        f"ddspkit benchmarks: CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"))
    ref_recipe, fast_recipe = RECIPES["reference"], RECIPES["fast"]
    if not args.skip_training:
        training_rows(table, ref_recipe, fast_recipe, args.repeats)
    rendering_rows(table, args)
    Console().print(table)


def training_rows(table: Table, ref_recipe, fast_recipe, repeats: int) -> None:
    ref_step = training_step_seconds(ref_recipe.batch_size, ref_recipe.example_seconds, repeats)
    fast_step = training_step_seconds(fast_recipe.batch_size, fast_recipe.example_seconds, repeats)
    for recipe, seconds in ((ref_recipe, ref_step), (fast_recipe, fast_step)):
        table.add_row(
            f"train step, {recipe.name} recipe ({recipe.batch_size} x {recipe.example_seconds:g} s)",
            f"{seconds:.3f} s/step", f"{ref_step:.3f} s/step (reference recipe)",
            f"{ref_step / seconds:.2f}x")
        table.add_row(f"  {recipe.name}: {recipe.n_steps} steps", f"{recipe.n_steps * seconds / 3600:.2f} h",
                      "", "")


def rendering_rows(table: Table, args: argparse.Namespace) -> None:
    ours, textbook = synth_seconds(args.repeats)
    table.add_row("oscillator bank, 60 s, 60 harmonics", f"{ours:.3f} s",
                  f"{textbook:.3f} s (textbook)", f"{textbook / ours:.2f}x")
    seconds, audio_seconds = transfer_seconds(args.model, args.repeats)
    rtf = audio_seconds / seconds
    table.add_row("transfer 60 s file end to end (44.1 kHz wav)", f"{seconds:.2f} s = {rtf:.0f}x "
                  "real time", "50x real time (target)", f"{rtf / 50:.2f}x target")
    mono = seconds
    transcription, poly, n_notes = polyphonic_seconds(args.model, args.repeats)
    table.add_row(f"transcribe 60 s of 4-voice audio ({n_notes} notes)", f"{transcription:.2f} s = "
                  f"{60 / transcription:.0f}x real time", f"{mono:.2f} s (monophonic transfer)",
                  f"{transcription / mono:.2f}x")
    table.add_row("polyphonic transfer, 60 s of 4-voice audio", f"{poly:.2f} s = {60 / poly:.0f}x "
                  "real time", f"{mono:.2f} s (monophonic transfer)", f"{poly / mono:.2f}x")
    for voices in (1, 4):
        seconds, audio_seconds = render_seconds(args.model, voices, args.repeats)
        table.add_row(f"render 60 s of MIDI, {voices} voice(s), 44.1 kHz", f"{seconds:.2f} s = "
                      f"{audio_seconds / seconds:.0f}x real time", "1x real time (real time)",
                      f"{audio_seconds / seconds:.0f}x")


if __name__ == "__main__":
    main()
