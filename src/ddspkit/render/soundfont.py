"""Render MIDI with a sample-based synthesizer (the FluidSynth program and a GM SoundFont).

Used to make realistic instrument audio for tests and training data, and as the
reference synth that ``ddspkit compare`` plays the same MIDI through.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

from ddspkit.errors import UserError
from ddspkit.midi.score import notes_to_midi

if TYPE_CHECKING:
    pass

SOUNDFONT_ENV_VAR = "DDSPKIT_SOUNDFONT"
DEFAULT_SOUNDFONT_PATHS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
)
INSTALL_HINT = (
    "install it with 'sudo apt-get install fluidsynth fluid-soundfont-gm' (Debian/Ubuntu) "
    "or 'brew install fluid-synth' (macOS)"
)
# FluidSynth resamples the SoundFont's 44.1 kHz samples without an anti-alias filter, so
# rendering directly at 16 kHz aliases pitched-up samples; render here, then resample.
RENDER_SAMPLE_RATE_HZ = 44100

# (pitch_midi, start_s, end_s, velocity)
NoteTuple = tuple[int, float, float, int]  # (pitch_midi, start_s, end_s, velocity)


def find_fluidsynth() -> str:
    """Path of the ``fluidsynth`` executable; raises UserError when it is not installed."""
    path = shutil.which("fluidsynth")
    if path is None:
        raise UserError(f"FluidSynth is not installed: {INSTALL_HINT}")
    return path


def find_soundfont(path: str | Path | None = None) -> Path:
    """The SoundFont (.sf2) to render with.

    ``path`` if given, else ``$DDSPKIT_SOUNDFONT``, else the first existing of the usual
    system locations of FluidR3_GM / the default GM font.
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise UserError(f"SoundFont not found: {path}")
        return path
    env_path = os.environ.get(SOUNDFONT_ENV_VAR)
    if env_path:
        path = Path(env_path).expanduser()
        if not path.is_file():
            raise UserError(f"SoundFont not found: {path} (from ${SOUNDFONT_ENV_VAR})")
        return path
    for candidate in DEFAULT_SOUNDFONT_PATHS:
        if candidate.is_file():
            return candidate
    raise UserError(
        f"No General MIDI SoundFont found: {INSTALL_HINT}, "
        f"or set ${SOUNDFONT_ENV_VAR} to an .sf2 file"
    )


def render_midi(
    midi_path: str | Path,
    *,
    sample_rate_hz: int = 16000,
    soundfont: str | Path | None = None,
    gain: float = 1.0,
) -> np.ndarray:
    """Render a MIDI file with FluidSynth (reverb and chorus off).

    Returns mono float32 audio, shape (num_samples,), at ``sample_rate_hz``. FluidSynth
    keeps rendering about two seconds past the last MIDI event, so release tails survive.
    Levels are not normalised: a single forte note at gain 1.0 peaks around 0.4.
    """
    midi_path = Path(midi_path)
    if not midi_path.is_file():
        raise UserError(f"MIDI file not found: {midi_path}")
    with open(midi_path, "rb") as midi_file:
        # FluidSynth sniffs file types and would report a non-MIDI file confusingly.
        if midi_file.read(4) not in (b"MThd", b"RIFF"):
            raise UserError(f"Not a standard MIDI file: {midi_path}")
    fluidsynth = find_fluidsynth()
    font = find_soundfont(soundfont)
    with tempfile.TemporaryDirectory(prefix="ddspkit-fluidsynth-") as tmp_dir:
        wav_path = Path(tmp_dir) / "render.wav"
        # -O float: a 16-bit file would clip inside FluidSynth before we could rescale.
        command = [
            fluidsynth, "-ni", "-q", "-R", "0", "-C", "0", "-g", f"{gain:g}",
            "-r", str(RENDER_SAMPLE_RATE_HZ), "-O", "float", "-T", "wav",
            "-F", str(wav_path), str(font), str(midi_path),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wav_path.is_file():
            stderr_lines = [line for line in result.stderr.splitlines() if line.strip()]
            last_line = stderr_lines[-1].strip() if stderr_lines else f"exit {result.returncode}"
            raise UserError(f"FluidSynth failed to render {midi_path.name}: {last_line}")
        audio, file_rate_hz = sf.read(wav_path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if file_rate_hz != sample_rate_hz:
        audio = soxr.resample(audio, file_rate_hz, sample_rate_hz, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)


def render_notes(
    notes: Sequence[NoteTuple],
    *,
    program: int,
    sample_rate_hz: int = 16000,
    soundfont: str | Path | None = None,
    gain: float = 1.0,
    tail_s: float = 0.5,
) -> np.ndarray:
    """Render ``(pitch_midi, start_s, end_s, velocity)`` notes on GM ``program`` (0-based).

    Returns mono float32 audio, shape (round((last_end_s + tail_s) * sample_rate_hz),),
    trimmed or zero-padded to exactly that length.
    """
    if not notes:
        raise ValueError("render_notes needs at least one note")
    last_end_s = max(float(end_s) for _, _, end_s, _ in notes)
    num_samples = round((last_end_s + tail_s) * sample_rate_hz)
    with tempfile.TemporaryDirectory(prefix="ddspkit-notes-") as tmp_dir:
        midi_path = Path(tmp_dir) / "notes.mid"
        notes_to_midi(notes, program=program).write(str(midi_path))
        audio = render_midi(
            midi_path, sample_rate_hz=sample_rate_hz, soundfont=soundfont, gain=gain
        )
    if audio.shape[0] >= num_samples:
        return audio[:num_samples]
    return np.pad(audio, (0, num_samples - audio.shape[0]))
