"""The run folder: where a named run lives, its checkpoint, its history, resuming."""

from __future__ import annotations

import json

import torch

from ddspkit import paths
from ddspkit.training.run import RunFolder, SavedRun


def test_a_named_run_lives_in_the_runs_folder_with_its_files_inside():
    run = RunFolder.named("My Cello")
    assert run.path == paths.runs_dir() / "My Cello"
    assert run.checkpoint == run.path / "checkpoint.pt"
    assert run.history_file == run.path / "history.jsonl"
    assert run.tensorboard == run.path / "tensorboard"
    assert run.notebook == run.path / "notebook"


def test_a_saved_checkpoint_is_what_a_run_resumes_from_unless_started_over(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert not run.can_resume and not run.resumes(restart=False) and run.saved() is None
    meta = {"recipe": "fast", "seed": 3, "start": {"from": "scratch"}}
    run.save_checkpoint({"model": {"w": torch.ones(2)}, "step": 7, "meta": json.dumps(meta)})
    assert run.can_resume and run.resumes(restart=False) and not run.resumes(restart=True)
    assert list(run.path.iterdir()) == [run.checkpoint]  # written whole: no temporary left
    saved = run.saved()
    assert saved == SavedRun(run.checkpoint, meta) and (saved.recipe, saved.seed) == ("fast", 3)
    state = run.load_checkpoint()
    assert state["step"] == 7 and torch.equal(state["model"]["w"], torch.ones(2))
    run.append_history({"step": 7})
    run.discard_checkpoint()
    assert not run.can_resume and run.history() == [{"step": 7}]  # the history stays
    run.discard_checkpoint()  # nothing to discard: no error


def test_history_is_appended_in_order_and_skips_a_line_cut_short(tmp_path):
    run = RunFolder(tmp_path)
    assert run.history() == [] and RunFolder(tmp_path / "missing").history() == []
    run.append_history({"step": 250, "validation_loss": 7.1})
    run.append_history({"step": 500, "validation_loss": None})
    with run.history_file.open("a") as handle:
        handle.write('{"step": 5')  # a kill mid-line
    assert run.history() == [{"step": 250, "validation_loss": 7.1},
                             {"step": 500, "validation_loss": None}]


def test_a_temporary_left_by_a_kill_mid_save_is_removed_and_the_checkpoint_kept(tmp_path):
    run = RunFolder(tmp_path)
    run.save_checkpoint({"step": 1, "meta": "{}"})
    stale = tmp_path / ".checkpoint.pt.abc123.pt"
    stale.write_bytes(b"half a checkpoint")
    run.remove_stale_temporaries()
    assert not stale.exists() and run.load_checkpoint()["step"] == 1
