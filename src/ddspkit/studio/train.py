"""The Train tab: recordings -> a dataset summary -> a training with live progress."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ddspkit.errors import UserError
from ddspkit.io.models import check_name
from ddspkit.report.training import FILE_COLUMNS, file_rows, summary_rows
from ddspkit.studio.context import Studio
from ddspkit.studio.jobs import Job
from ddspkit.studio.training_session import AUTO_RECIPE, Snapshot, TrainingSession, data_folder
from ddspkit.studio.ui import JobResult, note, page_errors, status, stream_job
from ddspkit.training.data import PreparedDataset, prepare
from ddspkit.training.plan import plan
from ddspkit.training.recipes import RECIPES
from ddspkit.training.run import RunFolder

CHECKING = "checking the data"
AUTO_STEPS = f"{plan().recipe.n_steps:,}"  # a new run's steps when nothing is chosen
RECIPE_NOTES = {AUTO_RECIPE: f"auto: starts from the nearest bundled instrument, {AUTO_STEPS} steps, "
                             "5-15 min on a laptop CPU",
                "fast": f"fast: {RECIPES['fast'].n_steps:,} steps, about 20 min",
                "finetune": f"finetune: {RECIPES['finetune'].n_steps:,} steps",
                "reference": f"reference: Magenta's Train_VST, {RECIPES['reference'].n_steps:,} steps "
                             "(hours)"}


def data_tables(data: PreparedDataset | None, folder: Path | None) -> tuple:
    """The summary and per-file tables of prepared data (empty without data)."""
    if data is None or folder is None:
        return [], []
    return [list(row) for row in summary_rows(data)], [list(row) for row in file_rows(data, folder)]


def check_data(job: Job, name: str, folder_text: str | None, uploads: list[str] | None) -> JobResult:
    """Prepare the recordings (cached) and show what training would use."""
    folder, notes = data_folder(check_name(name or ""), folder_text, uploads)
    job.report(f"reading the recordings in {folder}", 0.0)
    data = prepare(folder, on_file=lambda path, problem: job.report(f"read {path.name}"))
    summary, files = data_tables(data, folder)
    warnings = notes + [f"skipped {line}" for line in data.summary.skipped] + data.summary.warnings
    return JobResult(f"{folder}: {data.summary.n_files} file(s), {data.summary.usable_minutes:.1f} "
                     "min usable; press Start to train", (summary, files), warnings)


CURVES = ("training", "held-out")


def loss_frame(curve: list[tuple[int, float, str]]):
    """The loss curve for the plot: (step, loss, curve) rows, typed, with a blank row (loss
    missing, not drawn) for each series without points yet. The page's plot fixes its axes'
    types and its series from the first data it draws; the held-out series must be there from
    the first draw, or its points, which come later, are never shown."""
    import pandas as pd

    present = {series for _, _, series in curve}
    rows = list(curve) + [(curve[0][0] if curve else 0, float("nan"), series)
                          for series in CURVES if series not in present]
    frame = pd.DataFrame(rows, columns=["step", "loss", "curve"])
    return frame.astype({"step": "int64", "loss": "float64", "curve": "str"})


def parse_steps(text: str | float | None) -> int | None:
    """The steps field: empty means the recipe's; else a whole number, at least 1. Raises UserError."""
    if text is None or not str(text).strip():
        return None
    cleaned = str(text).strip().replace(",", "").replace("_", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise UserError(f"steps '{text}': a whole number (e.g. 2000), or empty for the "
                        "recipe's") from None
    if value != int(value) or value < 1:
        raise UserError(f"steps '{text}': a whole number of 1 or more, or empty for the recipe's")
    return int(value)


def show(snap: Snapshot) -> str:
    """The status line of a training snapshot."""
    if snap.phase == "idle":
        return status("info", "name the instrument, give its recordings, check them, then Start")
    kind = {"failed": "error", "finished": "ok", "stopped": "info"}.get(snap.phase, "busy")
    return status(kind, snap.text, snap.fraction if snap.running else None, more=snap.notes)


def build(studio: Studio, page: gr.Blocks) -> None:
    """Lay out the tab and wire its events."""
    session = TrainingSession(studio)
    gr.HTML(note("Train an instrument on recordings of it: ten minutes or more of one instrument "
                 "playing one line at a time. It trains on this computer; Stop saves, Resume "
                 "continues, even after the studio was closed."))
    with gr.Row():
        with gr.Column():
            name = gr.Textbox(label="instrument name", placeholder="e.g. MyCello", elem_id="train_name",
                              info="letters, digits, '-', '_', spaces; the name of its model file")
            folder = gr.Textbox(label="folder of recordings on this computer", elem_id="train_folder",
                                info="searched with its subfolders: wav, flac, mp3, ogg, aiff")
            uploads = gr.File(label="or upload recordings (kept for resuming)", file_count="multiple",
                              elem_id="train_uploads")
            with gr.Row():
                recipe = gr.Dropdown([AUTO_RECIPE, *RECIPES], value=AUTO_RECIPE, label="recipe",
                                     info="; ".join(RECIPE_NOTES.values()))
                steps = gr.Textbox(value="", label="steps", elem_id="train_steps",
                                   placeholder=f"the recipe's (auto: {AUTO_STEPS})",
                                   info="in all; empty: the recipe's. Raise it to train a "
                                        "finished model further")
            restart = gr.Checkbox(False, label="start over",
                                  info="discard the saved training of this name instead of resuming it")
            with gr.Row():
                check = gr.Button("Check the data", elem_id="train_check")
                start = gr.Button("Start", variant="primary", elem_id="train_start")
                stop = gr.Button("Stop", variant="stop", elem_id="train_stop")
                resume = gr.Button("Resume", elem_id="train_resume")
            state = gr.HTML(show(session.snapshot()), elem_id="train_status")
        with gr.Column():
            summary = gr.Dataframe(headers=["", "the data"], interactive=False, elem_id="train_summary",
                                   wrap=True, elem_classes=["studio-table"],
                                   label="what training would use")
            files = gr.Dataframe(headers=list(FILE_COLUMNS), interactive=False, elem_id="train_files",
                                 wrap=True, elem_classes=["studio-table"],
                                 label="files", max_height=260)
    with gr.Row():
        curve = gr.LinePlot(x="step", y="loss", color="curve", label="loss (multi-scale spectral)",
                            elem_id="train_curve", x_title="step", y_title="loss",
                            color_map={"training": "#4c78a8", "held-out": "#f58518"})
        with gr.Column():
            heard = gr.Audio(label="held-out phrase: the recording", type="filepath",
                             interactive=False, elem_id="train_target")
            played = gr.Audio(label="held-out phrase: the model at its last checkpoint",
                              type="filepath", interactive=False, elem_id="train_preview")
    timer = gr.Timer(1.0)
    seen = gr.State(-1)  # the snapshot version this page shows

    def on_check(name_text, folder_text, files_up):
        yield from stream_job(studio.runner, studio.workspace, CHECKING,
                              lambda job: check_data(job, name_text, folder_text, files_up), 2)

    check.click(on_check, [name, folder, uploads], [state, summary, files], concurrency_id="jobs",
                concurrency_limit=4, show_progress="hidden")

    def on_start(resuming: bool):
        @page_errors(studio.workspace)
        def handler(name_text, folder_text, files_up, recipe_name, steps_text, over):
            n_steps = parse_steps(steps_text)
            if resuming and not RunFolder.named((name_text or "").strip()).can_resume:
                raise UserError(f"nothing saved to resume for '{name_text}': press Start")
            message = session.start(name_text, folder_text, files_up, recipe_name, n_steps,
                                    over and not resuming)
            return status("busy", message)
        return handler

    inputs = [name, folder, uploads, recipe, steps, restart]
    start.click(on_start(False), inputs, state, queue=False, show_progress="hidden")
    resume.click(on_start(True), inputs, state, queue=False, show_progress="hidden")

    @page_errors(studio.workspace)
    def on_stop():
        if session.stop():
            return show(session.snapshot())
        if studio.runner.cancel(CHECKING):  # Stop also ends a long check of the data
            return status("busy", "stopping the check of the data")
        return status("info", "no training is running")

    stop.click(on_stop, None, state, queue=False, show_progress="hidden")

    @page_errors(studio.workspace, n_more=6)
    def on_tick(version):
        """The run as it is now; what did not change since this page's last look is skipped
        (so the status of 'Check the data' stays while no training runs)."""
        snap = session.snapshot()
        if snap.version == version:
            return show(snap) if snap.running else gr.skip(), *(gr.skip(),) * 5, version
        target, model = snap.preview[:2] if snap.preview else (gr.skip(), gr.skip())
        tables = data_tables(snap.data, snap.folder) if snap.data else (gr.skip(), gr.skip())
        return show(snap), loss_frame(snap.curve), target, model, *tables, snap.version

    # The page follows the run, whoever started it: a reopened page shows it again.
    watched = [state, curve, heard, played, summary, files, seen]
    timer.tick(on_tick, seen, watched, concurrency_limit=None, show_progress="hidden")
    page.load(on_tick, seen, watched, concurrency_limit=None, show_progress="hidden")
