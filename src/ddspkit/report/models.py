"""A model in a few words, as the model lists of the command line and the studio show it."""

from __future__ import annotations

from ddspkit.analysis.statistics import played_range_midi
from ddspkit.dsp.core import midi_to_hz, note_name
from ddspkit.io.model import ModelInfo


def trained_summary(info: ModelInfo) -> str:
    """How a model came to be, in a few words: its steps, start and minutes of audio, or its
    format (e.g. '1000 steps from Cello on 11 min of audio')."""
    p = info.provenance
    if "steps" not in p:
        return p.get("format", "?")
    start = (p.get("start") or {}).get("model")
    from_start = f" from {start}" if start else ""
    return f"{p['steps']} steps{from_start} on {p.get('data', {}).get('usable_minutes', 0):.0f} min of audio"


def pitch_range(info: ModelInfo) -> str:
    """The range a model was trained on: 2nd to 98th percentile of its data's pitch, e.g.
    'F2-F4 (88-349 Hz)' ('?' without statistics)."""
    if info.statistics is None:
        return "?"
    low_hz, high_hz = (float(midi_to_hz(m)) for m in played_range_midi(info.statistics))
    return f"{note_name(low_hz)}-{note_name(high_hz)} ({low_hz:.0f}-{high_hz:.0f} Hz)"


def loudness_range(info: ModelInfo) -> str:
    """The power of the training data's notes, softest to loudest on average, e.g.
    '-38 to -12 dB' ('?' without statistics)."""
    st = info.statistics
    return "?" if st is None else f"{st.mean_min_power_note:.0f} to {st.mean_max_power_note:.0f} dB"


def file_text(info: ModelInfo) -> str:
    """A model's file as a list shows it: a bundled model's file name (where ddspkit is
    installed says nothing), anyone else's full path."""
    return info.path.name if info.source == "bundled" else str(info.path)


def expression_text(info: ModelInfo) -> str:
    """How the model plays MIDI by default, in a few words: its learned profile's medians, or
    that it plays the literature's (a model without one)."""
    profile = info.expression_profile
    if profile is None:
        return "the literature's"
    return (f"vibrato {profile.vibrato_rate_hz.median:.1f} Hz {profile.vibrato_depth_cents.median:.0f} c, "
            f"attack {1000 * profile.attack_s.median:.0f} ms")
