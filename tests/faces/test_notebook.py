"""The training notebook: committed clean, runs headless top to bottom, stops and resumes.

The notebook runs in a real Jupyter kernel (papermill, nbclient) on generated singing, as a
musician would run it (outside Colab); its helpers in :mod:`ddspkit.notebook` are tested
directly, Colab's Drive included (faked).
"""

from __future__ import annotations

import ast
import importlib.util
import io
import os
import signal
import subprocess
import sys
import threading
import time
import types
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

import ddspkit
from conftest import REPO
from ddspkit import notebook, paths
from ddspkit.config import FRAME_RATE_HZ, HOP_SAMPLES
from ddspkit.errors import UserError
from ddspkit.io.ddsp_vst.plugin import zip_for_plugin
from ddspkit.training.data import cut_examples, held_out_phrase
from ddspkit.training.recipes import RECIPES
from ddspkit.training.run import RunFolder

NOTEBOOK = REPO / "notebooks" / "train_vst.ipynb"
PARAMETERS = {"MODEL_NAME", "DATA_FOLDER", "WORK_FOLDER", "RECIPE", "STEPS"}


def read_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_is_committed_without_outputs_and_with_its_parameters_cell():
    nb = read_notebook()
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"code cells {dirty} hold outputs: clear them before committing"
    assert "papermill" not in nb.metadata and all("execution" not in c.metadata for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assigned = {t.id for node in ast.parse(tagged[0].source).body for t in node.targets}
    assert assigned == PARAMETERS


def install_cell() -> str:
    return next(c.source for c in read_notebook().cells if "pip" in c.source)


def run_install_cell(monkeypatch, cwd: Path, source: str | None = None) -> list[list[str]]:
    """Execute the install cell as if ddspkit were not installed; return the pip commands."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ddspkit" else real_find_spec(name, *a))
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: commands.append(command))
    monkeypatch.chdir(cwd)
    exec(source or install_cell(), {})
    return commands


def test_install_cell_installs_the_checkout_it_sits_in_and_keeps_torch(monkeypatch, capsys):
    commands = run_install_cell(monkeypatch, REPO / "notebooks")
    assert commands == [[sys.executable, "-m", "pip", "install", "-q", f"{REPO}[vst]",
                         f"torch=={torch.__version__}"]]


def test_install_cell_outside_a_checkout_needs_the_repository_url(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match="DDSPKIT_REPOSITORY"):
        run_install_cell(monkeypatch, tmp_path)
    url = "git+https://example.invalid/ddspkit.git"
    source = install_cell().replace('DDSPKIT_REPOSITORY = ""', f'DDSPKIT_REPOSITORY = "{url}"', 1)
    commands = run_install_cell(monkeypatch, tmp_path, source)
    assert commands[0][5] == f"ddspkit[vst] @ {url}"


# -- the whole notebook in a kernel ---------------------------------------------------------


@pytest.fixture
def kernel(tmp_path_factory, monkeypatch) -> str:
    """A Jupyter kernel of this Python (whatever kernels the machine has installed)."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name="ddspkit-test", prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    return "ddspkit-test"


def run_notebook(kernel: str, output: Path, **parameters) -> nbformat.NotebookNode:
    import papermill

    return papermill.execute_notebook(NOTEBOOK, output, parameters=parameters, kernel_name=kernel,
                                      cwd=NOTEBOOK.parent, progress_bar=False, log_output=False)


def outputs_of(nb: nbformat.NotebookNode, fragment: str) -> list:
    """The outputs of the code cell whose source contains ``fragment``."""
    return next(c.outputs for c in nb.cells if c.cell_type == "code" and fragment in c.source)


def text_of(outputs: list) -> str:
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def shown(outputs: list, mime: str) -> list[str]:
    return [o.data[mime] for o in outputs if "data" in o and mime in o.data]


def run_until_stopped(kernel: str, run_dir: Path, **parameters) -> nbformat.NotebookNode:
    """Run the notebook and press the stop button (SIGINT to the kernel) once training runs."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = parameterize_notebook(load_notebook_node(str(NOTEBOOK)), parameters)
    client = NotebookClient(nb, kernel_name=kernel,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    failure: list[Exception] = []

    def execute() -> None:
        try:
            client.execute()
        except CellExecutionError as exc:
            failure.append(exc)

    thread = threading.Thread(target=execute)
    thread.start()
    deadline = time.monotonic() + 240
    while not (run_dir / "tensorboard").is_dir():  # the training loop starts right after
        assert thread.is_alive() and time.monotonic() < deadline, "training never started"
        time.sleep(0.2)
    time.sleep(2.0)
    os.kill(client.km.provisioner.process.pid, signal.SIGINT)
    thread.join(timeout=240)
    assert failure, "the stopped training cell should fail, so that 'Run all' stops there"
    return nb


@pytest.mark.slow
def test_notebook_runs_headless_stops_and_resumes(kernel, sung_dataset, tmp_path):
    work = tmp_path / "work"
    parameters = dict(MODEL_NAME="Singer", DATA_FOLDER=str(sung_dataset), WORK_FOLDER=str(work))
    run_dir = work / "runs" / "Singer"

    # First session: the stop button during training saves the run and says how to resume.
    stopped = run_until_stopped(kernel, run_dir, **parameters, STEPS=1000)
    errors = [o for o in outputs_of(stopped, "notebook.train(") if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1  # one line, no traceback
    message = errors[0].traceback[0]
    assert message.startswith("error: stopped at step ") and "run this cell again to resume" in message
    stopped_at = int(message.split("step ")[1].split(":")[0])
    assert stopped_at >= 1 and (run_dir / "checkpoint.pt").is_file()

    # Second session, all cells again: training resumes where it stopped, then listen, export.
    done = run_notebook(kernel, tmp_path / "second.ipynb", **parameters, STEPS=stopped_at + 2)
    prepare = outputs_of(done, "ddspkit.prepare(")
    assert "skipped: " in text_of(prepare) and "corrupt.wav" in text_of(prepare)
    assert "warning: only 1.3 minutes of usable audio" in text_of(prepare)
    assert len(shown(prepare, "image/png")) == 1  # the pitch and power distributions
    train = outputs_of(done, "notebook.train(")
    assert f"resuming from the checkpoint in {run_dir}" in text_of(train)
    assert (f"trained steps {stopped_at + 1}-{stopped_at + 2} of {stopped_at + 2} in "
            in text_of(train)) and f"(resumed from step {stopped_at})" in text_of(train)
    assert any("<progress" in html for html in shown(train, "text/html"))
    assert len(shown(train, "image/png")) == 1  # the loss curve, redrawn in place
    assert [row["step"] for row in RunFolder(run_dir).history()][-1] == stopped_at + 2
    for fragment in ("listen_held_out(", "sung_phrase()"):
        listen = outputs_of(done, fragment)
        assert sum("<audio" in html for html in shown(listen, "text/html")) == 2
        assert len(shown(listen, "image/png")) == 1

    model = ddspkit.load_model(work / "models" / "Singer.safetensors")
    assert model.info.provenance["steps"] == stopped_at + 2
    tflite, archive = work / "models" / "Singer.tflite", work / "models" / "Singer.zip"
    check = subprocess.run([sys.executable, "-m", "ddspkit.cli", "check-vst", str(tflite)],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "OK for DDSP-VST" in check.stdout, check.stderr
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.namelist() == ["Singer/Singer.tflite"]
        assert zipped.read("Singer/Singer.tflite") == tflite.read_bytes()


def test_notebook_stops_on_a_missing_recordings_folder_with_one_line(kernel, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError):
        run_notebook(kernel, tmp_path / "out.ipynb", DATA_FOLDER=str(tmp_path / "nothing"),
                     WORK_FOLDER=str(tmp_path / "work"))
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    errors = [o for o in outputs_of(nb, "notebook.setup(") if o.output_type == "error"]
    assert [e.traceback for e in errors] == [[f"error: {tmp_path / 'nothing'}: no recordings folder; put "
                                              "your recordings there (on this computer) and run all "
                                              "cells again"]]


# -- the helpers ----------------------------------------------------------------------------


@pytest.fixture
def fake_colab(tmp_path, monkeypatch) -> list[str]:
    """A Colab runtime whose Drive mounts into tmp_path; returns the mount calls."""
    mounts: list[str] = []

    def mount(where: str) -> None:
        mounts.append(where)
        (Path(where) / notebook.MY_DRIVE).mkdir(parents=True, exist_ok=True)

    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mount)
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(notebook, "DRIVE_MOUNT", tmp_path / "drive")
    return mounts


def test_on_colab_everything_lives_on_drive(fake_colab, tmp_path):
    assert notebook.in_colab()
    my_drive = tmp_path / "drive" / "MyDrive"
    with pytest.raises(UserError, match="put your recordings there \\(on your Google Drive\\)"):
        notebook.setup("Flute", "ddspkit/recordings", None)
    assert fake_colab == [str(tmp_path / "drive")]
    assert (my_drive / "ddspkit" / "recordings").is_dir()  # made, ready for the recordings
    workspace = notebook.setup("Flute", "ddspkit/recordings", None)
    assert fake_colab == [str(tmp_path / "drive")]  # mounted once
    assert workspace.on_colab and workspace.data_folder == my_drive / "ddspkit" / "recordings"
    assert workspace.work_folder == my_drive / "ddspkit" == paths.home()
    assert workspace.run_dir == my_drive / "ddspkit" / "runs" / "Flute" == paths.runs_dir() / "Flute"
    assert paths.models_dir() == my_drive / "ddspkit" / "models"


def test_locally_folders_are_ordinary_ones(tmp_path, monkeypatch, isolated_home):
    assert not notebook.in_colab()
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "takes").mkdir()
    workspace = notebook.setup("My Flute", "takes", None)
    assert workspace.data_folder == tmp_path / "takes" and workspace.work_folder == isolated_home
    workspace = notebook.setup("My Flute", tmp_path / "takes", tmp_path / "elsewhere")
    assert paths.home() == tmp_path / "elsewhere" == workspace.work_folder
    assert workspace.run_dir == tmp_path / "elsewhere" / "runs" / "My Flute"
    with pytest.raises(UserError, match="MODEL_NAME 'a/b'"):
        notebook.setup("a/b", tmp_path / "takes", None)


def test_held_out_phrase_is_audio_training_never_saw(sung_dataset):
    files = ddspkit.prepare(sung_dataset).files
    phrase = held_out_phrase(files)
    index = next(i for i, f in enumerate(files) if f.path == phrase.path)
    start = int(round(phrase.start_s * FRAME_RATE_HZ))
    first = start * HOP_SAMPLES
    np.testing.assert_array_equal(phrase.audio, files[index].audio[first : first + len(phrase.audio)])
    phrase_frames = set(range(start, start + len(phrase.audio) // HOP_SAMPLES))
    for recipe in RECIPES.values():
        train, _ = cut_examples(files, recipe.example_seconds, recipe.example_hop_seconds)
        for i, first in zip(train.file_index, train.start_frame, strict=True):
            if i == index:
                assert not phrase_frames & set(range(first, first + train.n_frames - 1))
    assert phrase.label.startswith(f"{phrase.path.name}, ")
    voiced = files[index].features.voiced[start : start + len(phrase.audio) // HOP_SAMPLES]
    assert voiced.mean() > 0.5


@pytest.mark.slow
def test_running_a_finished_training_again_says_so(sung_dataset, tmp_path, capsys):
    workspace = notebook.setup("Done", sung_dataset, tmp_path / "work")
    data = ddspkit.prepare(workspace.data_folder)
    notebook.train(workspace, data, steps=1)
    assert "trained steps 1-1 of 1 in " in capsys.readouterr().out
    model = notebook.train(workspace, data, steps=1)
    out = capsys.readouterr().out
    assert "resuming from the checkpoint" in out
    assert "already trained to step 1: nothing to do (raise STEPS to train further)" in out
    assert model.info.provenance["steps"] == 1


def test_a_bundled_model_exports_to_the_current_folder_and_zips_for_the_plugin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cello = ddspkit.load_model("Cello")
    path, report = cello.export_vst()  # a bundled model: into the current folder
    assert path == Path("Cello.tflite") and report.ok and path.is_file()
    archive = zip_for_plugin(path)
    assert archive == Path("Cello.zip")
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.namelist() == ["Cello/Cello.tflite"]
        assert zipped.read("Cello/Cello.tflite") == path.read_bytes()
    damaged = tmp_path / "Broken.tflite"
    damaged.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UserError, match="Broken.tflite: not a usable DDSP-VST model, not zipped"):
        zip_for_plugin(damaged)
    assert not (tmp_path / "Broken.zip").exists()


def test_user_errors_show_as_one_line_in_ipython(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        result = shell.run_cell("from ddspkit.errors import UserError\n"
                                "raise UserError('take [x].wav: cannot read audio')")
    finally:
        InteractiveShell.clear_instance()
    assert not result.success  # the cell fails: "Run all" stops there
    assert capsys.readouterr().out.strip() == "error: take [x].wav: cannot read audio"


def test_loss_curve_draws_a_resumed_run_and_skips_rows_without_a_loss():
    from PIL import Image as PILImage

    from ddspkit.render.plot import loss_figure, png_bytes

    history = [{"step": 250, "train_loss": 9.1, "validation_loss": 9.8},
               {"step": 500, "train_loss": 7.2, "validation_loss": None},
               {"step": 500, "train_loss": float("nan"), "validation_loss": 7.9}]  # a re-run
    figure = loss_figure(history, list(range(501, 541)), list(np.linspace(7.0, 6.5, 40)))
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert list(lines["held-out loss"].get_xdata()) == [250, 500]
    assert list(lines["training loss, mean since the last checkpoint"].get_xdata()) == [250, 500]
    assert len(lines["running mean (4 steps)"].get_xdata()) == 37
    png = png_bytes(figure)
    assert PILImage.open(io.BytesIO(png)).size == (1100, 300)
    assert png_bytes(loss_figure([], [], []))  # nothing yet: an empty frame, no error
