"""Build real-sample training and held-out audio for one instrument, fully offline.

Monophonic melodies come from the corpus bundled with music21 (Bach chorale parts, Ryan's
Mammoth Collection fiddle tunes). Each gets a tempo, phrase-level dynamics and articulation,
and is rendered with FluidSynth and a GM SoundFont through ``ddspkit.render.soundfont``.

    PYTHONPATH=src python scripts/make_instrument_data.py cello \\
        --minutes 10 --heldout-minutes 1 -o data/cello [--seed 0]

Writes (16 kHz mono PCM_16 unless told otherwise, each file 20-90 s):

    OUT/train/train_NNN.wav
    OUT/heldout/heldout_NNN.wav  and  heldout_NNN.mid (exactly the notes that were rendered)
    OUT/manifest.json            instrument, program, files with their pieces, tempi and split
    OUT/.melody_cache.json       parsed corpus melodies, so re-runs skip the slow parsing

Splits are by piece (a chorale tune or a fiddle tune is never in both), and the output is
deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ddspkit.errors import UserError
from ddspkit.midi.score import notes_to_midi
from ddspkit.render.soundfont import find_soundfont, render_notes

# (pitch_midi, start_beats, dur_beats), as stored in the melody cache
Melody = list[list[float]]
# (pitch_midi, start_s, end_s, velocity), as ddspkit.render.soundfont renders them
Note = tuple[int, float, float, int]

CACHE_VERSION = 1
LEAD_S = 0.25  # silence before the first note of a file
TAIL_S = 0.5  # release tail after the last written note end
MIN_FILE_S = 20.0
MAX_FILE_S = 90.0
MAX_LINE_S = MAX_FILE_S - LEAD_S - TAIL_S - 2.0  # longer lines are cut at a note boundary
TEMPO_RANGE_QPM = (60.0, 140.0)
GAP_BETWEEN_PIECES_S = (0.5, 1.5)
FILE_TARGET_S = (25.0, 70.0)
MIN_NOTES_PER_LINE = 8
TUNE_KEY_NOTES = 16  # melodies that agree on this many leading notes count as one tune


@dataclass(frozen=True)
class InstrumentSpec:
    program: int  # General MIDI program, 0-based
    source: str  # "chorales" or "ryans"
    # (part role, shifts in semitones to pick from per line, applied before range fitting)
    lines: tuple[tuple[str, tuple[int, ...]], ...]
    pitch_range_midi: tuple[int, int]  # playable range, inclusive
    legato_probability: float  # chance that a phrase is played legato rather than detached


INSTRUMENTS = {
    # Bass lines of the chorales, plus tenor lines for more material: an octave down half
    # the time, at pitch otherwise, so the cello's upper range (above D4) is covered too.
    "cello": InstrumentSpec(42, "chorales", (("bass", (0,)), ("tenor", (-12, 0))), (36, 76), 0.6),
    # Fiddle tunes sit low in the violin's and flute's ranges; an octave up now and then
    # reaches the upper registers (range fitting folds back anything out of range).
    "violin": InstrumentSpec(40, "ryans", (("melody", (0, 0, 12)),), (55, 96), 0.5),
    "flute": InstrumentSpec(73, "ryans", (("melody", (0, 12)),), (60, 96), 0.5),
    "trumpet": InstrumentSpec(56, "chorales", (("soprano", (0,)),), (54, 84), 0.4),
    # The rest of DDSP-VST's built-in instruments, each in its usual range. Bass-clef
    # instruments take chorale bass and tenor lines; treble ones fiddle tunes, at pitch or
    # an octave off now and then, so that the whole range is covered.
    "saxophone": InstrumentSpec(65, "ryans", (("melody", (0, -12)),), (49, 81), 0.6),  # alto sax
    "bassoon": InstrumentSpec(70, "chorales", (("bass", (0,)), ("tenor", (-12, 0))), (34, 72), 0.5),
    "clarinet": InstrumentSpec(71, "ryans", (("melody", (0, 0, 12)),), (50, 91), 0.5),
    # A melodica is a mouth-blown free reed; General MIDI has none, its harmonica is nearest.
    "melodica": InstrumentSpec(22, "ryans", (("melody", (0, 12)),), (53, 89), 0.5),
    "sitar": InstrumentSpec(104, "ryans", (("melody", (0, -12)),), (48, 84), 0.3),
    "trombone": InstrumentSpec(57, "chorales", (("bass", (0,)), ("tenor", (0,))), (40, 74), 0.5),
    # An octave below the chorale bass; the pitch tracker reads down to 47 Hz (MIDI 30).
    "tuba": InstrumentSpec(58, "chorales", (("bass", (-12, 0)),), (33, 62), 0.5),
    # A sung "ah": soprano and tenor lines of the chorales.
    "vowels": InstrumentSpec(52, "chorales", (("soprano", (0, -12)), ("tenor", (0,))), (48, 79), 0.6),
}


@dataclass
class Line:
    """One performed melody line; note times are relative to the line's first note."""

    source: str  # music21 corpus path
    title: str
    role: str
    notes: list[Note]
    duration_s: float  # end of the last written note
    tempo_qpm: float
    transpose_semitones: int
    truncated: bool
    signature: tuple[int, ...]


@dataclass
class Piece:
    source: str
    tune_key: tuple[int, ...]  # pieces sharing a tune stay in one split
    lines: list[Line]


# --------------------------------------------------------------------------- corpus


def list_sources(source: str) -> dict[str, str]:
    """Corpus paths of every piece of ``source`` -> title, in a stable order."""
    if source == "chorales":
        from music21.corpus import chorales

        # The list that chorales.Iterator uses; several numbers share one BWV file.
        by_number = chorales.ChoraleListRKBWV().byRiemenschneider
        titles: dict[str, str] = {}
        for number in sorted(by_number):
            info = by_number[number]
            titles.setdefault(f"bach/bwv{info['bwv']}", info["title"])
        return titles
    from music21 import corpus

    # One tune per .abc file in the installed corpus (not one big opus).
    entries = corpus.search("ryansMammoth")
    titles = {
        str(entry.sourcePath): entry.metadata.title or Path(str(entry.sourcePath)).stem
        for entry in entries
        if str(entry.sourcePath).startswith("ryansMammoth/")
    }
    return dict(sorted(titles.items()))


def extract_melody(part) -> Melody:
    """Monophonic [pitch_midi, start_beats, dur_beats] list from a music21 part/stream."""
    from music21 import chord, note

    events: list[tuple[float, int, float]] = []
    for element in part.stripTies().flatten().notes:
        duration_beats = float(element.quarterLength)
        if element.duration.isGrace or duration_beats <= 0:
            continue  # grace notes have no written length
        if isinstance(element, chord.Chord):
            pitch_midi = max(p.midi for p in element.pitches)  # the top note carries the tune
        elif isinstance(element, note.Note):
            pitch_midi = element.pitch.midi
        else:
            continue
        events.append((float(element.offset), pitch_midi, duration_beats))
    events.sort(key=lambda event: (event[0], -event[1]))
    melody: Melody = []
    for start_beats, pitch_midi, duration_beats in events:
        if melody:
            previous = melody[-1]
            if start_beats - previous[1] < 1e-6:
                continue  # simultaneous onset (another voice): keep the higher note
            previous[2] = min(previous[2], start_beats - previous[1])  # stay monophonic
        melody.append([pitch_midi, start_beats, duration_beats])
    return [[int(p), round(s, 4), round(d, 4)] for p, s, d in melody]


def parse_piece(path: str, source: str) -> dict[str, Melody]:
    """Melody of every role the piece has: soprano/tenor/bass for chorales, else melody."""
    from music21 import corpus

    parts = list(corpus.parse(path).parts)
    if source == "ryans":
        return {"melody": extract_melody(parts[0])} if parts else {}
    roles: dict[str, object] = {}
    for part in parts:
        name = (part.partName or "").strip().lower()
        for role in ("soprano", "tenor", "bass"):
            if name.startswith(role):
                roles.setdefault(role, part)
    if len(roles) < 3 and len(parts) == 4:  # a few chorales have unnamed SATB parts
        roles = {"soprano": parts[0], "tenor": parts[2], "bass": parts[3]}
    return {role: extract_melody(part) for role, part in roles.items()}


class MelodyCache:
    """Parsed melodies keyed by corpus path, persisted as JSON."""

    def __init__(self, path: Path) -> None:
        import music21

        self.path = path
        self.music21_version = music21.__version__
        self.pieces: dict[str, dict[str, Melody]] = {}
        self.dirty = False
        if path.is_file():
            data = json.loads(path.read_text())
            if (
                data.get("version") == CACHE_VERSION
                and data.get("music21_version") == self.music21_version
            ):
                self.pieces = data["pieces"]

    def get(self, path: str, source: str) -> dict[str, Melody]:
        if path not in self.pieces:
            try:
                self.pieces[path] = parse_piece(path, source)
            except Exception as error:  # a broken corpus file should not stop the run
                print(f"  skipping {path}: {type(error).__name__}: {error}", file=sys.stderr)
                self.pieces[path] = {}
            self.dirty = True
        return self.pieces[path]

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": CACHE_VERSION,
            "music21_version": self.music21_version,
            "pieces": self.pieces,
        }
        tmp_path = self.path.with_suffix(".tmp")
        tmp_path.write_text(json.dumps(data, separators=(",", ":")))
        tmp_path.replace(self.path)
        self.dirty = False


# --------------------------------------------------------------------------- performance


def melody_signature(melody: Melody, max_notes: int | None = None) -> tuple[int, ...]:
    """Transposition-invariant key: pitch intervals and durations (in 1/48 beats)."""
    melody = melody[:max_notes] if max_notes else melody
    intervals = [int(b[0] - a[0]) for a, b in zip(melody, melody[1:], strict=False)]
    durations = [round(d * 48) for _, _, d in melody]
    return tuple(intervals) + (-1000,) + tuple(durations)


def fit_to_range(pitches_midi: np.ndarray, low: int, high: int) -> tuple[np.ndarray, int]:
    """Shift by the octave that puts most notes in [low, high] (smallest shift on ties),
    then fold any remaining outliers individually by octaves."""
    shifts = (0, 12, -12, 24, -24, 36, -36)
    in_range = [
        np.count_nonzero((pitches_midi + s >= low) & (pitches_midi + s <= high)) for s in shifts
    ]
    shift = shifts[int(np.argmax(in_range))]  # argmax takes the first, i.e. smallest, shift
    fitted = pitches_midi + shift
    while np.any(fitted < low) or np.any(fitted > high):
        fitted = np.where(fitted < low, fitted + 12, fitted)
        fitted = np.where(fitted > high, fitted - 12, fitted)
    return fitted, shift


def perform(
    melody: Melody, spec: InstrumentSpec, role_shift: int, rng: np.random.Generator
) -> tuple[list[Note], float, float, int, bool]:
    """Turn a written melody into timed notes with dynamics and articulation.

    Returns (notes, written duration_s, tempo_qpm, transpose_semitones, truncated).
    """
    tempo_qpm = float(rng.uniform(*TEMPO_RANGE_QPM))
    seconds_per_beat = 60.0 / tempo_qpm
    pitches = np.array([p for p, _, _ in melody], dtype=np.int64) + role_shift
    starts_b = np.array([s for _, s, _ in melody]) - melody[0][1]
    durations_b = np.array([d for _, _, d in melody])
    pitches, octave_shift = fit_to_range(pitches, *spec.pitch_range_midi)

    keep = (starts_b + durations_b) * seconds_per_beat <= MAX_LINE_S
    truncated = not bool(keep.all())
    count = int(np.count_nonzero(keep))  # notes are sorted, so `keep` is a prefix
    pitches, starts_b, durations_b = pitches[:count], starts_b[:count], durations_b[:count]
    ends_b = starts_b + durations_b

    notes: list[Note] = []
    first = 0
    while first < count:
        # A phrase spans a few beats and never continues across a rest.
        phrase_beats = rng.uniform(4.0, 12.0)
        stop = first + 1
        while (
            stop < count
            and starts_b[stop] - starts_b[first] < phrase_beats
            and starts_b[stop] <= ends_b[stop - 1] + 1e-6
        ):
            stop += 1
        start_velocity = rng.uniform(50.0, 105.0)
        end_velocity = float(np.clip(start_velocity + rng.uniform(-30.0, 30.0), 45.0, 115.0))
        legato = rng.random() < spec.legato_probability
        span_b = max(starts_b[stop - 1] - starts_b[first], 1e-6)
        for index in range(first, stop):
            position = (starts_b[index] - starts_b[first]) / span_b
            velocity = start_velocity + (end_velocity - start_velocity) * position
            velocity = int(np.clip(round(velocity + rng.normal(0.0, 6.0)), 40, 120))
            hold = rng.uniform(0.95, 1.0) if legato else rng.uniform(0.6, 0.85)
            start_s = starts_b[index] * seconds_per_beat
            end_s = start_s + max(durations_b[index] * seconds_per_beat * hold, 0.03)
            if index + 1 < count and pitches[index + 1] == pitches[index]:
                # A repeated pitch needs a gap, or the synth merges the two notes.
                end_s = min(end_s, starts_b[index + 1] * seconds_per_beat - 0.01)
            notes.append((int(pitches[index]), float(start_s), float(end_s), velocity))
        first = stop
    duration_s = float(ends_b[-1] * seconds_per_beat)
    return notes, duration_s, tempo_qpm, role_shift + octave_shift, truncated


def stable_seed(*parts: str) -> list[int]:
    """Seed material that does not depend on Python's randomised str hash."""
    return [zlib.crc32(part.encode()) for part in parts]


def iter_pieces(
    spec: InstrumentSpec, instrument: str, seed: int, cache: MelodyCache
) -> Iterator[Piece]:
    """Pieces in a seeded shuffled order, parsed lazily and performed."""
    titles = list_sources(spec.source)
    paths = list(titles)
    order = np.random.default_rng([seed, *stable_seed(instrument)]).permutation(len(paths))
    tune_role = "melody" if spec.source == "ryans" else "soprano"
    for index in order:
        path = paths[int(index)]
        melodies = cache.get(path, spec.source)
        tune = melodies.get(tune_role) or next(iter(melodies.values()), None)
        if not tune:
            continue
        lines = []
        for role, role_shifts in spec.lines:
            melody = melodies.get(role)
            if not melody or len(melody) < MIN_NOTES_PER_LINE:
                continue
            # Each line gets its own generator, so its performance does not depend on
            # which pieces came before it.
            rng = np.random.default_rng([seed, *stable_seed(instrument, path, role)])
            role_shift = int(rng.choice(role_shifts))
            notes, duration_s, tempo_qpm, transpose, truncated = perform(
                melody, spec, role_shift, rng
            )
            lines.append(
                Line(
                    source=path,
                    title=titles[path],
                    role=role,
                    notes=notes,
                    duration_s=duration_s,
                    tempo_qpm=tempo_qpm,
                    transpose_semitones=transpose,
                    truncated=truncated,
                    signature=melody_signature(melody),
                )
            )
        if lines:
            yield Piece(path, melody_signature(tune, TUNE_KEY_NOTES), lines)


# --------------------------------------------------------------------------- planning

PlannedFile = list[tuple[float, Line]]  # (offset_s in the file, line)


def file_length_s(planned: PlannedFile) -> float:
    offset_s, line = planned[-1]
    return offset_s + line.duration_s + TAIL_S


@dataclass
class SplitPlanner:
    """Fills the splits one after another from one stream of pieces."""

    pieces: Iterator[Piece]
    seed: int

    def __post_init__(self) -> None:
        self.tune_split: dict[tuple[int, ...], str] = {}
        self.used_signatures: set[tuple[int, ...]] = set()
        self.exhausted = False

    def plan(self, split: str, budget_s: float) -> list[PlannedFile]:
        """Files for ``split`` whose total length is as close to ``budget_s`` as whole
        lines allow; every file is 20-90 s unless the corpus runs out."""
        if budget_s <= 0:
            return []
        rng = np.random.default_rng([self.seed, *stable_seed("plan", split)])
        files: list[PlannedFile] = []
        current: PlannedFile = []

        def current_s() -> float:
            return file_length_s(current) if current else 0.0

        def total_s() -> float:
            return sum(file_length_s(planned) for planned in files) + current_s()

        def draw_target_s() -> float:
            remaining_s = max(budget_s - total_s(), MIN_FILE_S)
            return min(float(rng.uniform(*FILE_TARGET_S)), remaining_s)

        target_s = draw_target_s()
        for piece in self.pieces:
            if self.tune_split.setdefault(piece.tune_key, split) != split:
                continue  # this tune already belongs to the other split
            lines = [line for line in piece.lines if line.signature not in self.used_signatures]
            self.used_signatures.update(line.signature for line in lines)
            for line in lines:
                gap_s = float(rng.uniform(*GAP_BETWEEN_PIECES_S))
                closable = not current or current_s() >= MIN_FILE_S
                # Stop once adding this line would overshoot the budget by more than
                # stopping now undershoots it.
                if closable and total_s() > 0 and total_s() >= budget_s - line.duration_s / 2:
                    if current:
                        files.append(current)
                    return files
                if not current:
                    current = [(LEAD_S, line)]
                else:
                    offset_s = current_s() - TAIL_S + gap_s
                    extended_s = offset_s + line.duration_s + TAIL_S
                    overshoots_target = current_s() >= MIN_FILE_S and abs(
                        extended_s - target_s
                    ) > abs(current_s() - target_s)
                    if extended_s <= MAX_FILE_S and not overshoots_target:
                        current.append((offset_s, line))
                    elif current_s() >= MIN_FILE_S:
                        files.append(current)
                        current = [(LEAD_S, line)]
                        target_s = draw_target_s()
                    else:  # too short to close, too long to extend: the line stands alone
                        files.append([(LEAD_S, line)])
                if current_s() >= target_s:
                    files.append(current)
                    current = []
                    target_s = draw_target_s()
                if total_s() >= budget_s and (not current or current_s() >= MIN_FILE_S):
                    # Done; the rest of this piece's lines go unused, in no split.
                    if current:
                        files.append(current)
                    return files
        self.exhausted = True
        if current:
            files.append(current)
        return files


# --------------------------------------------------------------------------- output


def render_file(
    planned: PlannedFile, spec: InstrumentSpec, sample_rate_hz: int, soundfont: Path
) -> tuple[np.ndarray, list[Note], float]:
    """Render one planned file; returns (audio float32 (num_samples,), notes, scale)."""
    notes = [
        (pitch, offset_s + start_s, offset_s + end_s, velocity)
        for offset_s, line in planned
        for pitch, start_s, end_s, velocity in line.notes
    ]
    last_end_s = max(end_s for _, _, end_s, _ in notes)
    audio = render_notes(
        notes,
        program=spec.program,
        sample_rate_hz=sample_rate_hz,
        soundfont=soundfont,
        tail_s=file_length_s(planned) - last_end_s,
    )
    # Keep FluidSynth's natural level (it carries the velocity dynamics); only avoid clipping.
    peak = float(np.max(np.abs(audio)))
    scale = 0.99 / peak if peak > 0.99 else 1.0
    return (audio * scale).astype(np.float32), notes, scale


def clear_previous_output(split_dir: Path, split: str) -> None:
    """Remove files an earlier run wrote here, so the manifest matches the folder."""
    for stale in list(split_dir.glob(f"{split}_*.wav")) + list(split_dir.glob(f"{split}_*.mid")):
        stale.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instrument", choices=sorted(INSTRUMENTS))
    parser.add_argument("--minutes", type=float, default=10.0, help="training audio to make")
    parser.add_argument("--heldout-minutes", type=float, default=1.0, help="held-out audio")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate-hz", type=int, default=16000)
    parser.add_argument("--soundfont", type=Path, default=None, help="GM .sf2 to render with")
    parser.add_argument(
        "--cache", type=Path, default=None, help="melody cache (default OUT/.melody_cache.json)"
    )
    args = parser.parse_args(argv)

    spec = INSTRUMENTS[args.instrument]
    out_dir: Path = args.output
    try:
        soundfont = find_soundfont(args.soundfont)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    cache = MelodyCache(args.cache or out_dir / ".melody_cache.json")

    started = time.perf_counter()
    planner = SplitPlanner(iter_pieces(spec, args.instrument, args.seed, cache), args.seed)
    try:
        plans = {
            "heldout": planner.plan("heldout", args.heldout_minutes * 60.0),
            "train": planner.plan("train", args.minutes * 60.0),
        }
    finally:
        cache.save()
    planned_at = time.perf_counter()
    if planner.exhausted:
        print(
            "warning: ran out of corpus pieces; the output is shorter than asked", file=sys.stderr
        )

    manifest_files = []
    stats: dict[str, dict[str, float]] = {}
    for split, planned_files in plans.items():
        split_dir = out_dir / split
        split_dir.mkdir(parents=True, exist_ok=True)
        clear_previous_output(split_dir, split)
        pitches: list[int] = []
        seconds = 0.0
        peaks: list[float] = []
        for index, planned in enumerate(planned_files):
            audio, notes, scale = render_file(planned, spec, args.sample_rate_hz, soundfont)
            wav_path = split_dir / f"{split}_{index:03d}.wav"
            sf.write(wav_path, audio, args.sample_rate_hz, subtype="PCM_16")
            entry: dict[str, object] = {
                "path": wav_path.relative_to(out_dir).as_posix(),
                "split": split,
                "duration_s": round(audio.shape[0] / args.sample_rate_hz, 3),
                "peak": round(float(np.max(np.abs(audio))), 4),
                "scaled_down": scale < 1.0,
                "pieces": [
                    {
                        "source": line.source,
                        "title": line.title,
                        "part": line.role,
                        "tempo_qpm": round(line.tempo_qpm, 1),
                        "transpose_semitones": line.transpose_semitones,
                        "start_s": round(offset_s, 3),
                        "end_s": round(offset_s + line.duration_s, 3),
                        "truncated": line.truncated,
                    }
                    for offset_s, line in planned
                ],
            }
            if split == "heldout":
                midi_path = wav_path.with_suffix(".mid")
                notes_to_midi(notes, program=spec.program).write(str(midi_path))
                entry["midi"] = midi_path.relative_to(out_dir).as_posix()
            manifest_files.append(entry)
            pitches.extend(pitch for pitch, _, _, _ in notes)
            seconds += audio.shape[0] / args.sample_rate_hz
            peaks.append(float(entry["peak"]))
        stats[split] = {
            "files": len(planned_files),
            "minutes": round(seconds / 60.0, 2),
            "pitch_min_midi": min(pitches, default=0),
            "pitch_max_midi": max(pitches, default=0),
            "peak_max": max(peaks, default=0.0),
        }

    manifest = {
        "instrument": args.instrument,
        "program": spec.program,
        "sample_rate_hz": args.sample_rate_hz,
        "seed": args.seed,
        "soundfont": soundfont.name,
        "source": spec.source,
        "pitch_range_midi": list(spec.pitch_range_midi),
        "splits": stats,
        "files": manifest_files,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))

    for split, split_stats in stats.items():
        print(
            f"{split:8s} {split_stats['files']:3d} files  {split_stats['minutes']:6.2f} min  "
            f"pitch {split_stats['pitch_min_midi']}-{split_stats['pitch_max_midi']} MIDI  "
            f"peak {split_stats['peak_max']:.2f}"
        )
    render_s = time.perf_counter() - planned_at
    print(
        f"{args.instrument} (GM program {spec.program}) -> {out_dir}  "
        f"[parse+plan {planned_at - started:.1f} s, render {render_s:.1f} s]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
