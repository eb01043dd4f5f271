"""Audio file I/O: read any common format to mono float32, resample, write atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ddspkit.errors import UserError

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc")


def load_audio(path: str | Path, sample_rate_hz: int | None = None) -> tuple[np.ndarray, int, int]:
    """Read an audio file as mono float32, optionally resampled.

    Channels are averaged. Non-finite samples (NaN, Inf) are replaced by silence so that
    they can never reach a model; their count is returned so callers can warn.

    Args:
        path: a file soundfile can read (wav, flac, mp3, ogg/opus, aiff).
        sample_rate_hz: resample to this rate (soxr, high quality); None keeps the file's.
    Returns:
        (audio [T] float32, sample rate in Hz, number of non-finite samples replaced).
    Raises:
        UserError: the file is missing, unreadable or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        data, file_rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: cannot read audio ({reason})") from None
    if data.size == 0:
        raise UserError(f"{path}: the file holds no audio samples")
    audio = data.mean(axis=1)
    bad = ~np.isfinite(audio)
    n_bad = int(bad.sum())
    if n_bad:
        audio[bad] = 0.0
    if sample_rate_hz is not None and file_rate_hz != sample_rate_hz:
        audio = resample(audio, file_rate_hz, sample_rate_hz)
    else:
        sample_rate_hz = file_rate_hz
    return np.ascontiguousarray(audio, dtype=np.float32), int(sample_rate_hz), n_bad


def to_mono(audio: np.ndarray) -> np.ndarray:
    """[T], [channels, T] or [T, channels] (the shorter side taken as the channels) -> finite
    mono float32 [T]: channels averaged, NaN and infinite samples replaced by silence."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[1] else 1)
    return np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)


def resample(audio: np.ndarray, from_rate_hz: int, to_rate_hz: int) -> np.ndarray:
    """Resample [T] float audio with soxr (high quality)."""
    if from_rate_hz == to_rate_hz:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio.astype(np.float32), from_rate_hz, to_rate_hz, quality="HQ")


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; give them normal modes
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete temporaries that ``atomic_write`` left beside ``path`` when its process was killed.

    A kill -9 between creating and renaming the temporary leaves ``.<name>.XXXX<suffix>``;
    the target itself is always whole. Returns the files removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = list(path.parent.glob(f".{path.name}.*{path.suffix}"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def write_audio(path: str | Path, audio: np.ndarray, sample_rate_hz: int) -> Path:
    """Write [T] float audio (16-bit PCM for wav/flac/aiff), atomically.

    Samples beyond [-1, 1] are clipped by the PCM encoding; callers normalise beforehand.
    """
    path = Path(path)
    ext = path.suffix.lower()
    try:
        fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aif": "AIFF",
               ".aiff": "AIFF"}[ext]
    except KeyError:
        raise UserError(f"{path}: unsupported output format '{ext}' (use .wav, .flac, .ogg, "
                        ".mp3 or .aiff)") from None
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "AIFF": "PCM_16"}.get(fmt)
    data = np.clip(np.nan_to_num(audio.astype(np.float32)), -1.0, 1.0)
    return atomic_write(
        path, lambda tmp: sf.write(str(tmp), data, sample_rate_hz, format=fmt, subtype=subtype)
    )
