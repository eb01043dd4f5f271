"""The plugin's ``metadata.json``: written after the flatbuffer as a stored zip, read back,
and the dataset statistics it carries (ddspkit's own, or a guess from the plugin's range box).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone

from ddspkit._version import __version__
from ddspkit.analysis.statistics import DatasetStatistics
from ddspkit.config import POWER_FRAME_SAMPLES
from ddspkit.io.ddsp_vst.contract import FRAME_RATE_HZ, N_HARMONICS, N_NOISE_BANDS, SAMPLE_RATE_HZ


def plugin_metadata(statistics: DatasetStatistics, name: str,
                    export_time: str | None = None) -> dict:
    """The ``metadata.json`` the plugin reads, plus the keys ddsp also wrote."""
    return {
        "name": name,
        "mean_min_pitch_note_hz": float(statistics.mean_min_pitch_note_hz),
        "mean_max_pitch_note_hz": float(statistics.mean_max_pitch_note_hz),
        "mean_min_power_note": float(statistics.mean_min_power_note),
        "mean_max_power_note": float(statistics.mean_max_power_note),
        "version": f"ddspkit {__version__}",
        # Microseconds make the identity unique even for exports in the same second.
        "export_time": export_time or datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "num_harmonics": N_HARMONICS, "num_noise_amps": N_NOISE_BANDS, "frame_rate": FRAME_RATE_HZ,
        "frame_size": POWER_FRAME_SAMPLES, "sample_rate": SAMPLE_RATE_HZ,
        "ddspkit_statistics": statistics.to_dict(),
    }


def append_metadata_zip(model_bytes: bytes, metadata: dict) -> bytes:
    """Append a stored (uncompressed) zip holding ``metadata.json``, as tflite_support did.

    ``metadata`` gains the flatbuffer's length and SHA-256, so that any damage to a ddspkit
    export is found (the plugin ignores keys it does not know).
    """
    metadata = {**metadata, "ddspkit_flatbuffer_bytes": len(model_bytes),
                "ddspkit_flatbuffer_sha256": hashlib.sha256(model_bytes).hexdigest()}
    buffer = io.BytesIO(model_bytes)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, mode="a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata, indent=2))
    return buffer.getvalue()


def read_vst_metadata(data: bytes) -> dict:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return json.loads(archive.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        return {}


def statistics_from_metadata(metadata: dict) -> DatasetStatistics | None:
    """Full statistics from a ddspkit export; else a guess from the plugin's range box."""
    if "ddspkit_statistics" in metadata:
        return DatasetStatistics.from_dict(metadata["ddspkit_statistics"])
    keys = ("mean_min_pitch_note_hz", "mean_max_pitch_note_hz", "mean_min_power_note",
            "mean_max_power_note")
    if all(isinstance(metadata.get(k), int | float) for k in keys):
        return DatasetStatistics.from_range_box(*(float(metadata[k]) for k in keys))
    return None


def checksum_mismatch(data: bytes) -> bool:
    """True when a ddspkit export's flatbuffer no longer has the SHA-256 it was written with."""
    metadata = read_vst_metadata(data)
    n_bytes, digest = metadata.get("ddspkit_flatbuffer_bytes"), metadata.get("ddspkit_flatbuffer_sha256")
    return (isinstance(n_bytes, int) and isinstance(digest, str)
            and hashlib.sha256(data[:n_bytes]).hexdigest() != digest)


