"""The studio's folders and what may enter them.

Everything temporary lives under ``<ddspkit home>/cache/studio``: ``uploads/`` is Gradio's
upload folder (``GRADIO_TEMP_DIR``: uploads, and Gradio's copies of the files the studio
returns) and ``results/`` holds one folder per job (audio, figures, exports). Only
``results/`` is handed to Gradio as an allowed path; Gradio serves its own uploads and
nothing else. Folders older than ``max_age_s`` (left by a studio that was killed) are removed
when the studio opens; each job's folder, and every upload and copy Gradio made in
``uploads/`` since the studio opened, when it closes.

Recordings uploaded for training are kept, not cached: they go to
``<ddspkit home>/recordings/<instrument>``, so that a training can be resumed later.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path

import soundfile as sf

from ddspkit import paths
from ddspkit.errors import UserError

MAX_AGE_S = 12 * 3600


class Workspace:
    """The studio's cache folders (see the module's docstring)."""

    def __init__(self, root: Path | None = None, max_age_s: float = MAX_AGE_S) -> None:
        self.root = Path(root) if root is not None else paths.home() / "cache" / "studio"
        self.uploads = self.root / "uploads"
        self.results = self.root / "results"
        self.max_age_s = max_age_s
        self._created: list[Path] = []
        self._uploads_before: set[str] = set()

    def open(self) -> Workspace:
        """Create the folders and remove what an earlier studio left behind."""
        for folder in (self.uploads, self.results):
            folder.mkdir(parents=True, exist_ok=True)
            self.remove_older_than(folder, self.max_age_s)
        self._uploads_before = {entry.name for entry in self.uploads.iterdir()}
        return self

    @staticmethod
    def remove_older_than(folder: Path, age_s: float) -> list[Path]:
        """Delete the entries of ``folder`` last modified more than ``age_s`` ago."""
        now, removed = time.time(), []
        for entry in folder.iterdir():
            try:
                if now - entry.lstat().st_mtime <= age_s:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
            except OSError:
                continue
        return removed

    def job_folder(self, kind: str) -> Path:
        """A new, empty folder for one job's results (``results/<time>-<kind>-<id>``)."""
        folder = self.results / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        self._created.append(folder)
        return folder

    def close(self) -> None:
        """Remove every job folder this studio made, and what Gradio put into the upload
        folder since the studio opened (uploads, and its copies of the files the studio
        returned: Gradio's own clean-up leaves some), then the folders left empty."""
        for folder in self._created:
            shutil.rmtree(folder, ignore_errors=True)
        self._created.clear()
        if self.uploads.is_dir():
            for entry in self.uploads.iterdir():
                if entry.name in self._uploads_before:
                    if entry.is_dir() and not entry.is_symlink() and not any(entry.iterdir()):
                        entry.rmdir()
                elif entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def readable(self, message: str) -> str:
        """``message`` with upload paths shortened to the uploaded file's own name: an upload
        is stored as ``uploads/<hash>/<name>``, and the user knows it by ``<name>``."""
        return re.sub(re.escape(str(self.uploads)) + r"/[^/\s]+/", "", message)


def recordings_dir(name: str) -> Path:
    """Where recordings uploaded to train ``name`` are kept (not a cache: resuming needs them)."""
    return paths.recordings_dir() / name


def safe_stem(text: str) -> str:
    """``text`` reduced to a file-name stem: letters, digits, '-', '_' (others become '_')."""
    stem = re.sub(r"[^\w\-]+", "_", text, flags=re.ASCII).strip("_")
    return stem[:80] or "audio"


def check_audio_upload(path: str | Path | None, what: str, max_minutes: float) -> Path:
    """An uploaded or recorded audio file's path, after checking that there is one and that
    it is not longer than ``max_minutes`` (from its header, so that an hour-long file is
    refused before it is decoded). Reading it says what else may be wrong. Raises UserError.
    """
    if not path:
        raise UserError(f"no {what}: upload a file or record one first")
    path = Path(path)
    try:
        seconds = sf.info(str(path)).duration
    except Exception:  # not audio: reading it names the problem
        seconds = 0.0
    if seconds > 60 * max_minutes:
        raise UserError(f"{path}: {seconds / 60:.0f} minutes long; the studio takes up to "
                        f"{max_minutes:g} minutes (cut it, or use 'ddspkit transfer')")
    return path
