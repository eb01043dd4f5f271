"""Run an engine over a file block by block, exactly as live: ``ddspkit stream``.

An audio file goes through the effect engine, a MIDI file through the synth engine (its
tracks become MIDI channels, its events arrive in the blocks they fall in). The output is
what a listener would hear: the engine's latency included, the tail played out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddspkit.audio import load_audio, resample, write_audio
from ddspkit.errors import UserError
from ddspkit.io.model import Model
from ddspkit.midi import Expression
from ddspkit.stream.engine import EffectEngine, SynthEngine

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
DRUM_CHANNEL = 9
TAIL_S = 1.0  # played out after the last note's release, as render does


@dataclass
class StreamResult:
    audio: np.ndarray  # [T] at sample_rate_hz, the latency included
    sample_rate_hz: int
    latency_samples: int
    block_samples: int
    n_blocks: int
    underruns: int


def midi_events(midi_path: str | Path, sample_rate_hz: int, part_selection: list[str] | None = None
                ) -> tuple[list[tuple[int, object]], float, list[int]]:
    """A MIDI file's selected parts as (sample, mido message) events, each part on its own
    channel (channel 10 skipped: the engine treats it as drums); the end time in s; and the
    channels in part order.

    The parts' raw messages (notes, sustain pedal, CC7/CC11, RPN bend range, bends) are sent,
    so the engine performs them itself, as it does live.
    """
    from ddspkit.midi import parts, read_midi, select_parts

    chosen = select_parts(parts(read_midi(midi_path)), part_selection)
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    if len(chosen) > len(channels):
        raise UserError(f"{midi_path}: {len(chosen)} parts; streaming plays at most {len(channels)}")
    events: list[tuple[int, object]] = []
    for channel, part in zip(channels, chosen, strict=False):
        events += [(int(round(time_s * sample_rate_hz)), message.copy(channel=channel))
                   for time_s, message in part.events]
    events.sort(key=lambda e: e[0])  # stable: each part's order at one instant is kept
    end_s = max(n.end_s for part in chosen for n in part.notes)
    return events, end_s, channels[: len(chosen)]


def stream_audio_file(input_path: str | Path, model: Model, *, block_samples: int = 480,
                      sample_rate_hz: int = 48000, on_block: Callable[[int, int], None] | None = None,
                      **options) -> StreamResult:
    """Stream an audio file through an :class:`EffectEngine` (options go to it)."""
    audio, file_rate_hz, _ = load_audio(input_path)
    audio = resample(audio, file_rate_hz, sample_rate_hz)
    engine = EffectEngine(model, sample_rate_hz, **options)
    n_out = len(audio) + engine.latency_samples  # the last input sample is heard too
    padded = np.concatenate([audio, np.zeros(n_out - len(audio) + block_samples, np.float32)])
    return _run(lambda block, _start: engine.process(block), padded, n_out, engine, block_samples,
                on_block)


def stream_midi_file(midi_path: str | Path, model: Model, *, block_samples: int = 480,
                     sample_rate_hz: int = 48000, part_selection: list[str] | None = None,
                     expression: Expression | None = None,
                     on_block: Callable[[int, int], None] | None = None, **options) -> StreamResult:
    """Stream a MIDI file's events through a :class:`SynthEngine` (options go to it)."""
    events, end_s, channels = midi_events(midi_path, sample_rate_hz, part_selection)
    engine = SynthEngine(model, sample_rate_hz, expression=expression, channels=channels, **options)
    release_s = engine.expression.longest_release_s()
    n_out = int(np.ceil((end_s + release_s + TAIL_S) * sample_rate_hz)) + engine.latency_samples
    cursor = 0

    def run_block(block: np.ndarray, start: int) -> np.ndarray:
        nonlocal cursor
        inside = []
        while cursor < len(events) and events[cursor][0] < start + len(block):
            sample, message = events[cursor]
            inside.append((max(0, sample - start), message))
            cursor += 1
        return engine.process(len(block), inside)

    return _run(run_block, np.zeros(n_out + block_samples, np.float32), n_out, engine,
                block_samples, on_block)


def _run(process, source: np.ndarray, n_out: int, engine, block_samples: int,
         on_block: Callable[[int, int], None] | None) -> StreamResult:
    if not 1 <= block_samples <= 1 << 16:
        raise UserError(f"--block {block_samples}: choose 1 to 65536 samples")
    pieces = []
    n_blocks = -(-n_out // block_samples)
    for i in range(n_blocks):
        start = i * block_samples
        pieces.append(process(source[start : start + block_samples], start))
        if on_block is not None:
            on_block(i + 1, n_blocks)
    audio = np.concatenate(pieces)[:n_out]
    return StreamResult(audio, engine.sample_rate_hz, engine.latency_samples, block_samples,
                        n_blocks, engine.underruns)


def stream_file(input_path: str | Path, output_path: str | Path, model: Model, **options) -> StreamResult:
    """``ddspkit stream``: MIDI files through the synth engine, anything else through the
    effect engine; the result written to ``output_path`` (atomically)."""
    input_path = Path(input_path)
    if not input_path.is_file():
        raise UserError(f"{input_path}: no such file")
    if input_path.suffix.lower() in MIDI_SUFFIXES:
        result = stream_midi_file(input_path, model, **options)
    else:
        for key in ("part_selection", "expression", "max_voices"):
            options.pop(key, None)
        result = stream_audio_file(input_path, model, **options)
    write_audio(output_path, result.audio, result.sample_rate_hz)
    return result
