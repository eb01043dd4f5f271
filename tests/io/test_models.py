"""Model names: a user model never shadows a bundled one where training chooses its start,
cannot take a bundled model's name, replaces one of the user's own only when asked, and can
be renamed and deleted (library and command line)."""

from __future__ import annotations

import shutil

import pytest
import torch
from test_cli import assert_one_line_error, ddspkit

from conftest import FIXTURES
from ddspkit import paths
from ddspkit.errors import UserError
from ddspkit.io.modelfile import read_info, save_model
from ddspkit.io.models import (
    bundled_model,
    delete_user_model,
    import_vst,
    list_models,
    load_model,
    rename_user_model,
    user_model_path,
)
from ddspkit.training.start import resolve_start
from ddspkit.training.trainer import train

NOTEBOOK_TFLITE = FIXTURES / "CelloNotebook.tflite"


def same_weights(instrument, reference) -> bool:
    ours, theirs = instrument.state_dict(), reference.state_dict()
    return all(torch.equal(ours[k].float().cpu(), theirs[k].float().cpu()) for k in theirs)


def test_auto_scores_the_bundled_models_not_user_models_of_their_names():
    """A user 'Cello' (here: the Violin's weights, as an old import under that name could be)
    must not be scored or loaded in place of the bundled Cello."""
    violin = load_model("Violin")
    impostor = user_model_path("Cello")
    impostor.parent.mkdir(parents=True, exist_ok=True)
    save_model(impostor, violin.instrument, violin.info)  # written as an old ddspkit could
    assert load_model("Cello").info.source == "user"  # by name, the user's file comes first

    seen: list[str] = []
    start = resolve_start("auto", lambda inst: 0.0 if same_weights(inst, violin.instrument) else 1.0,
                          torch.device("cpu"), on_candidate=lambda name, i, n: seen.append(f"{name} {i}/{n}"))
    assert start.candidate_losses["Cello"] == 1.0  # the real Cello was scored ...
    assert start.model == "Violin" and start.file == "Violin"  # ... and the Violin chosen
    assert seen[0].endswith(f"1/{len(seen)}") and "Cello" in " ".join(seen)


def test_an_imported_tflite_named_cello_is_refused_and_scoring_ignores_one_already_there():
    with pytest.raises(UserError, match="a bundled model has this name"):
        import_vst(NOTEBOOK_TFLITE, "Cello")
    with pytest.raises(UserError, match="a bundled model has this name"):
        import_vst(NOTEBOOK_TFLITE, "cello", replace=True)  # not even when replacing is asked
    paths.models_dir().mkdir(parents=True, exist_ok=True)
    shutil.copyfile(NOTEBOOK_TFLITE, paths.models_dir() / "Cello.tflite")  # an old import
    cello = load_model(bundled_model("Cello").path)
    start = resolve_start("auto", lambda inst: 0.0 if same_weights(inst, cello.instrument) else 1.0,
                          torch.device("cpu"))
    assert start.model == "Cello" and start.file == "Cello"


def test_importing_under_an_existing_name_asks_before_replacing():
    target, _ = import_vst(NOTEBOOK_TFLITE, "Mine")
    with pytest.raises(UserError, match="you already have a model of this name.*--overwrite"):
        import_vst(NOTEBOOK_TFLITE, "mine")
    cello = load_model("Cello")
    trained = save_model(user_model_path("Trained"), cello.instrument, cello.info)
    with pytest.raises(UserError, match="already have a model"):
        import_vst(NOTEBOOK_TFLITE, "Trained")  # it would hide beside the .safetensors
    replaced, _ = import_vst(NOTEBOOK_TFLITE, "Trained", replace=True)
    assert not trained.exists() and replaced.is_file()
    assert {i.name for i in list_models() if i.source == "user"} >= {"Mine", "Trained"}


def test_training_refuses_a_name_that_would_shadow_or_replace_a_model(tmp_path):
    with pytest.raises(UserError, match="bundled model's name"):
        train(None, "violin")  # refused before any work
    import_vst(NOTEBOOK_TFLITE, "Imported")
    with pytest.raises(UserError, match="you imported a model of this name"):
        train(None, "Imported")
    cello = load_model("Cello")
    save_model(user_model_path("Copied"), cello.instrument, cello.info)
    with pytest.raises(UserError, match="no saved training continues it"):
        train(None, "Copied")


def test_rename_and_delete_a_user_model_with_its_run_and_recordings():
    cello = load_model("Cello")
    save_model(user_model_path("Old"), cello.instrument, cello.info)
    (paths.runs_dir() / "Old").mkdir(parents=True)
    (paths.runs_dir() / "Old" / "checkpoint.pt").write_bytes(b"x")
    renamed = rename_user_model("old", "New Name")
    assert [p.name for p in renamed] == ["New Name.safetensors"]
    assert read_info(renamed[0]).name == "New Name"  # the stored name follows
    assert load_model("New Name").info.name == "New Name"  # and the weights load (digest intact)
    assert (paths.runs_dir() / "New Name" / "checkpoint.pt").is_file()
    assert not user_model_path("Old").exists()
    with pytest.raises(UserError, match="bundled model has this name"):
        rename_user_model("New Name", "Trumpet")
    with pytest.raises(UserError, match="only your own models"):
        delete_user_model("Cello")
    assert [p.name for p in delete_user_model("new name")] == ["New Name.safetensors"]
    with pytest.raises(UserError, match="you have no model named"):
        delete_user_model("New Name")


def test_the_command_line_renames_deletes_and_refuses_clashes():
    assert_one_line_error(ddspkit("import", str(NOTEBOOK_TFLITE), "--name", "Flute"),
                          "'Flute'", "bundled model")
    assert ddspkit("import", str(NOTEBOOK_TFLITE), "--name", "Mine").returncode == 0
    assert_one_line_error(ddspkit("import", str(NOTEBOOK_TFLITE), "--name", "Mine"),
                          "already have a model", "--overwrite")
    assert ddspkit("import", str(NOTEBOOK_TFLITE), "--name", "Mine", "--overwrite").returncode == 0
    renamed = ddspkit("models", "rename", "Mine", "Yours")
    assert renamed.returncode == 0 and "renamed 'Mine' to 'Yours'" in renamed.stdout, renamed.stderr
    listing = ddspkit("models").stdout
    assert "Yours" in listing and "Mine" not in listing
    assert_one_line_error(ddspkit("models", "delete", "Cello"), "bundled model")
    deleted = ddspkit("models", "delete", "Yours")
    assert deleted.returncode == 0 and "Yours.tflite" in deleted.stdout
    assert "Yours" not in ddspkit("models").stdout


def test_a_bundled_model_says_how_its_training_data_was_made_and_an_import_says_nothing(tmp_path):
    flute = load_model("Flute").info.data_recipe
    assert flute["program"] == 73 and flute["instrument"] == "flute"  # GM flute, FluidR3
    _, imported = import_vst(NOTEBOOK_TFLITE, "NotebookCello")
    assert imported.data_recipe == {}
