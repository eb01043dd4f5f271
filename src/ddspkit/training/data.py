"""Prepare a folder of recordings for training: decode, resample, extract features, cache.

A prepared file holds 16 kHz mono audio and its :class:`~ddspkit.analysis.features.Features`. The
cache is keyed by path, size, modification time and feature version, so a re-run only
processes new or changed files.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ddspkit import paths
from ddspkit.analysis.features import Features, extract_features_and_tracked_f0
from ddspkit.analysis.statistics import DatasetStatistics, compute_statistics
from ddspkit.audio import AUDIO_EXTENSIONS, atomic_write, load_audio
from ddspkit.config import FRAME_RATE_HZ, HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.dsp.core import note_name
from ddspkit.errors import UserError

log = logging.getLogger(__name__)

FEATURES_VERSION = "4"  # bump when feature extraction changes, to invalidate caches
MIN_USABLE_MINUTES = 1.0
RECOMMENDED_MINUTES = 10.0
SILENT_FRAME_POWER_DB = -60.0  # frames below this are silence
LONG_SILENCE_S = 2.0
CLIP_LEVEL = 0.999


@dataclass
class PreparedFile:
    path: Path
    audio: np.ndarray  # [T] float32 at 16 kHz
    features: Features
    clipped_share: float = 0.0
    n_nonfinite: int = 0
    # [F] the tracker's own pitch (note changes not sharpened), for learning the player's
    # expression; None from a cache written before it was kept
    f0_tracked_hz: np.ndarray | None = None

    def tracked_features(self) -> Features | None:
        """The features with the tracker's own pitch (as ``extract_features(audio,
        sharpen=False)``), None when not kept."""
        if self.f0_tracked_hz is None:
            return None
        return Features(self.f0_tracked_hz, self.features.f0_confidence, self.features.power_db)


@dataclass
class Summary:
    """What prepare found; printed for the user and stored in the model's provenance."""

    n_files: int = 0
    skipped: list[str] = field(default_factory=list)  # "path: reason" lines
    total_minutes: float = 0.0
    usable_minutes: float = 0.0
    long_silence_minutes: float = 0.0
    voiced_share: float = 0.0  # of non-silent frames
    mean_confidence: float = 0.0  # over non-silent frames
    pitch_range_hz: tuple[float, float] = (0.0, 0.0)  # 5th..95th percentile, voiced frames
    power_range_db: tuple[float, float] = (-80.0, -80.0)  # 5th..95th percentile, non-silent
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "n_files": self.n_files, "n_skipped": len(self.skipped),
            "total_minutes": round(self.total_minutes, 3),
            "usable_minutes": round(self.usable_minutes, 3),
            "voiced_share": round(self.voiced_share, 4),
            "pitch_range_hz": [round(v, 2) for v in self.pitch_range_hz],
            "power_range_db": [round(v, 2) for v in self.power_range_db],
            "warnings": self.warnings,
        }


@dataclass
class PreparedDataset:
    files: list[PreparedFile]
    summary: Summary
    statistics: DatasetStatistics


def find_audio_files(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursively, hidden folders skipped), sorted."""
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _cache_path(path: Path, cache: Path) -> Path:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{FEATURES_VERSION}"
    return cache / (hashlib.sha1(key.encode()).hexdigest() + ".npz")


def prepare_file(path: Path, cache: Path | None) -> PreparedFile:
    """Decode, resample and analyse one file, through the cache. Raises UserError."""
    cached = _cache_path(path, cache) if cache is not None else None
    if cached is not None and cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as data:
                features = Features(data["f0_hz"], data["f0_confidence"], data["power_db"])
                tracked = data["f0_tracked_hz"] if "f0_tracked_hz" in data.files else None
                return PreparedFile(path, data["audio"], features, float(data["clipped_share"]),
                                    int(data["n_nonfinite"]), tracked)
        except (OSError, KeyError, ValueError):
            log.warning("%s: cache entry unreadable, recomputing", path)
    audio, _, n_nonfinite = load_audio(path, SAMPLE_RATE_HZ)
    if len(audio) < HOP_SAMPLES * 4:
        raise UserError(f"{path}: too short ({len(audio) / SAMPLE_RATE_HZ:.2f} s)")
    clipped_share = float(np.mean(np.abs(audio) >= CLIP_LEVEL))
    features, tracked = extract_features_and_tracked_f0(audio)
    if cached is not None:
        arrays = dict(audio=audio, f0_hz=features.f0_hz, f0_confidence=features.f0_confidence,
                      power_db=features.power_db, f0_tracked_hz=tracked,
                      clipped_share=clipped_share, n_nonfinite=n_nonfinite)
        atomic_write(cached, lambda tmp: np.savez(tmp, **arrays))
    return PreparedFile(path, audio, features, clipped_share, n_nonfinite, tracked)


@dataclass
class FileDescription:
    """One prepared file at a glance: length in seconds, shares of frames, median pitch."""

    seconds: float
    usable_share: float  # frames above SILENT_FRAME_POWER_DB
    voiced_share: float  # of the usable frames
    median_note: str | None  # note name of the median voiced pitch; None if nothing voiced


def describe_file(prepared: PreparedFile) -> FileDescription:
    feats = prepared.features
    active = feats.power_db > SILENT_FRAME_POWER_DB
    voiced = active & feats.voiced
    return FileDescription(
        seconds=len(prepared.audio) / SAMPLE_RATE_HZ,
        usable_share=float(active.mean()) if feats.n_frames else 0.0,
        voiced_share=float(voiced.sum() / max(active.sum(), 1)),
        median_note=note_name(float(np.median(feats.f0_hz[voiced]))) if voiced.any() else None,
    )


def _longest_runs_s(mask: np.ndarray, min_s: float) -> float:
    """Total seconds in runs of True at least ``min_s`` long."""
    total, run = 0, 0
    min_frames = int(min_s * FRAME_RATE_HZ)
    for value in np.append(mask, False):
        if value:
            run += 1
        else:
            if run >= min_frames:
                total += run
            run = 0
    return total / FRAME_RATE_HZ


def summarize(files: list[PreparedFile], skipped: list[str]) -> Summary:
    summary = Summary(n_files=len(files), skipped=list(skipped))
    if not files:
        return summary
    all_power = np.concatenate([f.features.power_db for f in files])
    all_conf = np.concatenate([f.features.f0_confidence for f in files])
    all_f0 = np.concatenate([f.features.f0_hz for f in files])
    active = all_power > SILENT_FRAME_POWER_DB
    summary.total_minutes = sum(len(f.audio) for f in files) / SAMPLE_RATE_HZ / 60
    summary.long_silence_minutes = sum(
        _longest_runs_s(f.features.power_db <= SILENT_FRAME_POWER_DB, LONG_SILENCE_S) for f in files
    ) / 60
    summary.usable_minutes = active.sum() / FRAME_RATE_HZ / 60
    if active.any():
        voiced = active & (all_conf >= 0.5)
        summary.voiced_share = float(voiced.sum() / active.sum())
        summary.mean_confidence = float(all_conf[active].mean())
        summary.power_range_db = tuple(float(v) for v in np.percentile(all_power[active], [5, 95]))
        if voiced.any():
            summary.pitch_range_hz = tuple(float(v) for v in np.percentile(all_f0[voiced], [5, 95]))
    w = summary.warnings
    if summary.usable_minutes < RECOMMENDED_MINUTES:
        w.append(f"only {summary.usable_minutes:.1f} minutes of usable audio: "
                 f"{RECOMMENDED_MINUTES:.0f} or more give a better model")
    clipped = [f for f in files if f.clipped_share > 1e-4]
    if clipped:
        w.append(f"{len(clipped)} file(s) clip (e.g. {clipped[0].path.name}: "
                 f"{100 * clipped[0].clipped_share:.2f} % of samples at full scale)")
    if summary.long_silence_minutes > 0.1 * max(summary.total_minutes, 1e-9):
        w.append(f"{summary.long_silence_minutes:.1f} minutes are long silences "
                 f"(> {LONG_SILENCE_S:.0f} s below {SILENT_FRAME_POWER_DB:.0f} dB); they are not trained on")
    if active.any() and (summary.voiced_share < 0.5 or summary.mean_confidence < 0.5):
        w.append(f"low pitch confidence (voiced on {100 * summary.voiced_share:.0f} % of sound): "
                 "the input may be polyphonic, noisy or unpitched; DDSP needs one clear voice")
    n_nonfinite = sum(f.n_nonfinite for f in files)
    if n_nonfinite:
        w.append(f"{n_nonfinite} NaN/Inf samples were replaced by silence")
    return summary


def prepare(
    folder: str | Path,
    cache: Path | None = None,
    on_file: Callable[[Path, str | None], None] | None = None,
    min_usable_minutes: float = MIN_USABLE_MINUTES,
) -> PreparedDataset:
    """Prepare every audio file under ``folder``.

    Unreadable files are skipped (reported through ``on_file(path, reason)`` and in the
    summary). ``on_file(path, None)`` is called after each good file, for progress.

    Raises:
        UserError: the folder is missing, holds no audio, or under ``min_usable_minutes``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    candidates = find_audio_files(folder)
    if not candidates:
        raise UserError(f"{folder}: no audio files (looked for {', '.join(AUDIO_EXTENSIONS)})")
    cache = paths.cache_dir() if cache is None else cache
    files, skipped = [], []
    for path in candidates:
        try:
            files.append(prepare_file(path, cache))
            if on_file:
                on_file(path, None)
        except UserError as exc:
            skipped.append(str(exc))
            if on_file:
                on_file(path, str(exc))
    summary = summarize(files, skipped)
    if summary.usable_minutes < min_usable_minutes:
        raise UserError(
            f"{folder}: only {summary.usable_minutes * 60:.0f} s of usable audio in "
            f"{len(files)} readable file(s); at least {min_usable_minutes:g} minute(s) are "
            f"needed ({RECOMMENDED_MINUTES:g}+ recommended){skipped_text(folder, skipped)}"
        )
    try:
        statistics = compute_statistics([f.features for f in files])
    except ValueError as exc:
        raise UserError(f"{folder}: {exc}") from None
    return PreparedDataset(files, summary, statistics)


def skipped_text(folder: Path, skipped: list[str], most: int = 5) -> str:
    """'; skipped 2 file(s): a.wav (cannot read audio ...), ...' for an error line ('' if none):
    which files were left out of ``folder`` and why, paths relative to it."""
    if not skipped:
        return ""
    prefix = f"{folder}/"
    shown = []
    for line in skipped[:most]:
        where, _, why = (line[len(prefix):] if line.startswith(prefix) else line).partition(": ")
        shown.append(f"{where} ({why})" if why else where)
    more = f" and {len(skipped) - most} more" if len(skipped) > most else ""
    return f"; skipped {len(skipped)} file(s): {', '.join(shown)}{more}"


@dataclass
class Examples:
    """Training windows: (file index, first frame) pairs, each ``n_frames`` frames long."""

    file_index: np.ndarray
    start_frame: np.ndarray
    n_frames: int

    def __len__(self) -> int:
        return len(self.file_index)


VALIDATION_SECONDS = 4.0


def cut_examples(
    files: list[PreparedFile],
    example_seconds: float,
    hop_seconds: float,
    validation_share: float = 0.05,
    max_validation: int = 32,
) -> tuple[Examples, Examples]:
    """Training windows, and held-out validation windows from the end of each file.

    The last ``validation_share`` of every file long enough (at least one 4 s window) is held
    out; training windows of ``example_seconds`` every ``hop_seconds`` lie before it, and
    validation windows are always 4 s, so that recipes with different example lengths are
    compared on the same material. Entirely silent windows are dropped.
    Returns (training examples, validation examples).
    """
    window = int(round(example_seconds * FRAME_RATE_HZ))
    val_window = int(round(VALIDATION_SECONDS * FRAME_RATE_HZ))
    hop = max(1, int(round(hop_seconds * FRAME_RATE_HZ)))
    train, val = [], []
    # Long files give their last few percent to validation; among short files, whole files
    # are held out (every 20th, at least one when there are several).
    short = [i for i, f in enumerate(files) if f.features.n_frames - 1 < 4 * val_window]
    stride = max(2, int(round(1 / validation_share)))
    held_out = set(short[stride - 1 :: stride]) or ({short[-1]} if len(short) >= 2 else set())
    for index, f in enumerate(files):
        n = f.features.n_frames - 1  # the last frame only closes the final hop
        if index in held_out:
            split = 0
        elif n >= 4 * val_window:
            split = n - max(val_window, int(n * validation_share))
        else:
            split = n
        for start in range(0, split - window + 1, hop):
            if f.features.power_db[start : start + window].max() > SILENT_FRAME_POWER_DB:
                train.append((index, start))
        for start in range(split, n - val_window + 1, val_window):
            if f.features.power_db[start : start + val_window].max() > SILENT_FRAME_POWER_DB:
                val.append((index, start))
    if len(val) > max_validation:  # evenly spread, to keep evaluation quick
        val = [val[i] for i in np.linspace(0, len(val) - 1, max_validation).astype(int)]

    def pack(rows: list[tuple[int, int]], frames: int) -> Examples:
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        return Examples(arr[:, 0], arr[:, 1], frames + 1)

    return pack(train, window), pack(val, val_window)


def batch(files: list[PreparedFile], examples: Examples, indices: np.ndarray):
    """Stack examples into arrays: audio [B, (F-1)*320], f0_hz [B, F], power_db [B, F]."""
    n_frames = examples.n_frames
    n_samples = (n_frames - 1) * HOP_SAMPLES
    audio = np.empty((len(indices), n_samples), np.float32)
    f0 = np.empty((len(indices), n_frames), np.float32)
    power = np.empty((len(indices), n_frames), np.float32)
    for row, i in enumerate(indices):
        f = files[examples.file_index[i]]
        start = int(examples.start_frame[i])
        audio[row] = f.audio[start * HOP_SAMPLES : start * HOP_SAMPLES + n_samples]
        f0[row] = f.features.f0_hz[start : start + n_frames]
        power[row] = f.features.power_db[start : start + n_frames]
    return audio, f0, power


@dataclass
class Phrase:
    """A stretch of one prepared file: [T] float32 audio at 16 kHz, from ``start_s`` seconds."""

    audio: np.ndarray
    path: Path
    start_s: float

    @property
    def label(self) -> str:
        return f"{self.path.name}, {self.start_s:.1f}-{self.start_s + len(self.audio) / SAMPLE_RATE_HZ:.1f} s"


def held_out_phrase(files: list[PreparedFile]) -> Phrase | None:
    """The held-out window (never trained on) with the most voiced sound, or None if none.

    Held-out windows are :func:`cut_examples`' validation windows: 4 s from the end of each long
    file, or whole short files; they do not depend on the recipe, so this is what training set
    aside whichever recipe it used.
    """
    _, held_out = cut_examples(files, VALIDATION_SECONDS, VALIDATION_SECONDS)
    if len(held_out) == 0:
        return None

    def voiced_frames(i: int) -> int:
        f = files[held_out.file_index[i]].features
        window = slice(held_out.start_frame[i], held_out.start_frame[i] + held_out.n_frames - 1)
        return int((f.voiced[window] & (f.power_db[window] > SILENT_FRAME_POWER_DB)).sum())

    best = max(range(len(held_out)), key=voiced_frames)
    prepared = files[held_out.file_index[best]]
    start = int(held_out.start_frame[best]) * HOP_SAMPLES
    n_samples = (held_out.n_frames - 1) * HOP_SAMPLES
    return Phrase(prepared.audio[start : start + n_samples].copy(), prepared.path,
                  start / SAMPLE_RATE_HZ)
