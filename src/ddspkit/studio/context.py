"""The studio's settings and what its tabs share (folders, the job runner)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ddspkit.studio.jobs import JobRunner
from ddspkit.studio.workspace import Workspace

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class StudioSettings:
    """How the studio serves: loopback only unless ``host`` says otherwise; per-file upload
    cap in MB (Gradio refuses bigger uploads); audio longer than ``max_audio_minutes`` is
    refused before it is decoded."""

    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: float = 200.0
    max_audio_minutes: float = 20.0
    queue_size: int = 16  # events waiting at once; more are refused with a message


def host_warning(host: str) -> str | None:
    """The warning to print when the studio listens beyond this computer, else None."""
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        return None
    return (f"the studio listens on {host}: other computers on the network can use it, read "
            "and train on folders of this one, and upload files; there is no password")


@dataclass
class Studio:
    """What every tab uses."""

    settings: StudioSettings
    workspace: Workspace
    runner: JobRunner = field(default_factory=JobRunner)
