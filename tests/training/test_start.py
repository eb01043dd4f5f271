"""Fine-tuning: a run starts from a model's weights (bundled, user or a ddspkit .tflite), or
from the bundled model nearest to the data; the start is recorded and resumes keep it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ddspkit
from conftest import FIXTURES, ZOO
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.errors import UserError
from ddspkit.io.models import load_model
from ddspkit.render.soundfont import render_notes
from ddspkit.training.data import prepare
from ddspkit.training.start import resolve_start
from ddspkit.training.trainer import train

pytestmark = pytest.mark.slow


def test_fine_tuning_starts_below_random_weights_and_records_its_start(sung_dataset):
    """On a tiny budget (CI): the held-out loss before any step is lower from Cello than from
    random weights (11.8 against 13.7 on this generated singing), and a few steps on keep
    the start in the model's provenance."""
    scratch = ddspkit.train(sung_dataset, name="FromScratch", steps=0, start_from="scratch")
    tuned = ddspkit.train(sung_dataset, name="FromCello", steps=0, start_from="Cello")
    scratch_loss = scratch.info.provenance["validation_loss"]
    tuned_loss = tuned.info.provenance["validation_loss"]
    assert tuned_loss < 0.95 * scratch_loss, (tuned_loss, scratch_loss)
    # each start takes its own recipe unless one is asked for
    assert scratch.info.provenance["recipe"]["name"] == "fast"
    assert tuned.info.provenance["recipe"]["name"] == "finetune"
    cello = load_model("Cello").instrument.state_dict()
    for key, value in tuned.instrument.state_dict().items():
        torch.testing.assert_close(value, cello[key], msg=key)  # step 0: Cello's weights
    tuned = ddspkit.train(sung_dataset, name="FromCello", steps=3)  # resumes, same start
    assert tuned.info.provenance["recipe"]["name"] == "finetune"  # and the run's recipe
    start = tuned.info.provenance["start"]
    assert start["from"] == "Cello" and start["model"] == "Cello" and start["file"] == "Cello"
    assert len(start["weights_sha256"]) == 64
    assert tuned.info.provenance["steps"] == 3
    assert np.isfinite(tuned.info.provenance["validation_loss"])
    moved = tuned.instrument.state_dict()["decoder.out_dense.bias"] - cello["decoder.out_dense.bias"]
    assert float(moved.abs().max()) > 0  # it trained


def melody(low: int, high: int, seconds: float, seed: int) -> list[tuple[int, float, float, int]]:
    """A random stepwise line within [low, high], 0.4 s notes with small gaps."""
    rng = np.random.default_rng(seed)
    pitch, notes, t = (low + high) // 2, [], 0.0
    while t < seconds:
        pitch = int(np.clip(pitch + rng.choice([-2, -1, 1, 2, 3, -3]), low, high))
        notes.append((pitch, t, t + 0.36, int(rng.integers(60, 110))))
        t += 0.4
    return notes


@pytest.mark.parametrize("name", ["Cello", "Flute", "Tuba"])
def test_auto_starts_from_the_bundled_model_of_the_instrument_played(tmp_path, name):
    program, transpose = ZOO[name]
    folder = tmp_path / name
    folder.mkdir()
    for take in range(3):
        notes = melody(48 + transpose, 57 + transpose, 25.0, seed=take)
        audio = render_notes(notes, program=program, sample_rate_hz=SAMPLE_RATE_HZ)
        import soundfile as sf

        sf.write(folder / f"take{take}.wav", audio, SAMPLE_RATE_HZ)
    result = train(prepare(folder), f"Auto{name}", n_steps=0, start_from="auto")
    assert result.start.model == name, result.start.candidate_losses
    losses = result.start.candidate_losses
    assert set(ZOO) <= set(losses) and losses[name] == min(losses.values())
    assert "auto" in result.start.chosen_by


def test_start_from_a_ddspkit_tflite_reads_its_decoder_back(tmp_path):
    from ddspkit.io.ddsp_vst.plugin import export_vst

    cello = load_model("Cello")
    path, _ = export_vst(cello, tmp_path / "MyCello.tflite")
    start = resolve_start(str(path), None, torch.device("cpu"))
    assert start.model == "MyCello" and start.file == str(path)
    for key, value in cello.instrument.decoder.state_dict().items():
        torch.testing.assert_close(start.state[f"decoder.{key}"], value, msg=key)


def test_start_from_a_tflite_without_readable_weights_is_a_clear_error():

    notebook = FIXTURES / "CelloNotebook.tflite"
    with pytest.raises(UserError, match="cannot be read back"):
        resolve_start(str(notebook), None, torch.device("cpu"))


def test_unknown_start_is_a_clear_error():
    with pytest.raises(UserError, match="no model named 'Theremin'"):
        resolve_start("Theremin", None, torch.device("cpu"))
