"""Core pieces the studio added for every front end: the training preview hook, a MIDI
rendering's figure and model names. (The run folder's history reader is tested in
tests/training/test_run.py, the dataset rows in tests/report/test_training.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import ddspkit
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.errors import UserError
from ddspkit.io.models import check_name
from ddspkit.training.observer import TrainingObserver
from ddspkit.training.run import RunFolder
from ddspkit.training.trainer import train


class Previews(TrainingObserver):
    """Keeps every checkpoint's preview."""

    def __init__(self) -> None:
        self.seen = []

    def on_checkpoint(self, preview) -> None:
        self.seen.append(preview)


@pytest.mark.slow
def test_each_checkpoint_hands_over_the_held_out_preview(sung_dataset, tmp_path):
    data = ddspkit.prepare(sung_dataset)
    observer = Previews()
    result = train(data, "Hook", n_steps=2, checkpoint_every=1, run_dir=tmp_path / "run",
                   observer=observer)
    previews = observer.seen
    assert [p.step for p in previews] == [1, 2]  # every checkpoint, the last one included
    history = RunFolder(tmp_path / "run").history()
    assert [row["step"] for row in history] == [1, 2]
    for preview, row in zip(previews, history, strict=True):
        assert preview.validation_loss == pytest.approx(row["validation_loss"], abs=1e-4)
        assert preview.target.shape == preview.resynthesis.shape == (4 * SAMPLE_RATE_HZ,)
        assert np.isfinite(preview.resynthesis).all() and np.abs(preview.target).max() > 0.05
    assert result.validation_loss == pytest.approx(history[-1]["validation_loss"], abs=1e-4)


def test_a_midi_rendering_draws_its_notes_and_pitch(tmp_path):
    import pretty_midi

    from ddspkit.midi import Note
    from ddspkit.render.plot import plot_render

    midi = pretty_midi.PrettyMIDI()
    part = pretty_midi.Instrument(program=42, name="line $1")  # '$' must not start mathtext
    part.notes = [pretty_midi.Note(velocity=90, pitch=p, start=i * 0.5, end=i * 0.5 + 0.45)
                  for i, p in enumerate([48, 52, 55])]
    midi.instruments.append(part)
    midi.write(str(tmp_path / "line.mid"))
    result = ddspkit.load_model("Cello").render_midi(tmp_path / "line.mid", sample_rate_hz=16000)
    notes = [Note(n.pitch, n.start, n.end, n.velocity) for n in part.notes]
    path = plot_render(result, notes, tmp_path / "render.png", title="line.mid -> Cello")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


def test_instrument_names_become_file_names_safely():
    assert check_name("  My Cello-2_b ") == "My Cello-2_b"
    for bad in ("", "   ", "../evil", "a/b", "cello.tflite", "x$y"):
        with pytest.raises(UserError, match="letters, digits"):
            check_name(bad)


def test_too_little_audio_names_the_files_skipped_and_why(tmp_path):
    import soundfile as sf

    from ddspkit.render.signals import sung_phrase
    from ddspkit.training.data import prepare

    sf.write(tmp_path / "short.wav", sung_phrase()[: 2 * SAMPLE_RATE_HZ], SAMPLE_RATE_HZ)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.wav").write_bytes(b"RIFF\x00\x00not audio")
    (tmp_path / "empty.flac").write_bytes(b"")
    with pytest.raises(UserError) as refused:
        prepare(tmp_path, cache=tmp_path / "cache")
    message = str(refused.value)
    assert "in 1 readable file(s)" in message and "; skipped 2 file(s): " in message, message
    assert "sub/broken.wav (cannot read audio" in message and "empty.flac (" in message, message


def test_the_instruments_tab_shows_a_bundled_model_s_learned_expression_profile():
    from ddspkit.report.expression import profile_rows
    from ddspkit.studio.instruments import expression_profile

    headers, rows, label = expression_profile("bundled:Cello.safetensors")
    assert headers == ["aspect", "median", "learned or prior", "notes"]
    profile = ddspkit.load_model("Cello").info.expression_profile
    assert label == f"expression profile ({profile.source})"
    by_aspect = {row[0]: row[1:] for row in rows}
    assert by_aspect["vibrato rate"] == [f"{profile.vibrato_rate_hz.median:.2f} Hz", "learned",
                                         str(profile.vibrato_rate_hz.n_notes)]
    assert by_aspect["attack (10-90 %, after a rest)"] == [
        f"{1000 * profile.attack_s.median:.0f} ms", "learned", str(profile.attack_s.n_notes)]
    assert sum(learned == "learned" for _, learned, _ in by_aspect.values()) == len(profile.learned_aspects)
    # a model without a profile plays the literature's: every aspect says it is the prior
    assert {row[2] for row in profile_rows(None)[1][:-1]} == {"prior (the literature's)"}
    assert expression_profile(None)[1] == []  # nothing chosen: an empty table, no error
