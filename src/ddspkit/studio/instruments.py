"""The Instruments tab: every model with its provenance, range and expression profile; import,
export, rename and delete (your own models only: the bundled ones stay as they are)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ddspkit.errors import UserError
from ddspkit.io.model import ModelInfo
from ddspkit.io.models import check_name, delete_user_model, list_models, rename_user_model
from ddspkit.report.expression import profile_rows
from ddspkit.report.models import file_text, loudness_range, pitch_range, trained_summary
from ddspkit.studio import models
from ddspkit.studio.context import Studio
from ddspkit.studio.jobs import Job
from ddspkit.studio.ui import JobResult, note, page_errors, status, stream_job

COLUMNS = ["name", "source", "range played", "loudness range", "trained", "created", "file"]
FORMATS = {"DDSP-VST plugin (.tflite)": "vst", "ONNX decoder step (.onnx)": "onnx",
           "TorchScript decoder step (.pt)": "torchscript"}
INSTALL_LABEL = "install into the plugin's model folder"


def row(info: ModelInfo) -> list[str]:
    p = info.provenance
    return [info.name, info.source, pitch_range(info), loudness_range(info), trained_summary(info),
            str(p.get("created", p.get("export_time", "")))[:19], file_text(info)]


def table() -> list[list[str]]:
    return [row(info) for info in list_models()]


def provenance(key: str | None) -> dict:
    """The chosen model's provenance (data, recipe, steps, versions), for reading."""
    try:
        info = models.info_for(key)
    except UserError as exc:
        return {"problem": str(exc)}
    return {"name": info.name, "file": str(info.path), **info.provenance}


def expression_profile(key: str | None) -> tuple[list[str], list[list[str]], str]:
    """(headers, rows, label) of the chosen model's expression profile, what 'learned'
    expression draws each note from: per aspect its median, whether it was learned from the
    recordings (and from how many notes) or is the literature's prior."""
    try:
        info = models.info_for(key)
    except UserError:
        return profile_rows(None)[0], [], "expression profile"
    headers, rows = profile_rows(info.expression_profile)
    source = (info.expression_profile.source if info.expression_profile is not None else
              "none: it plays the literature's")
    return headers, rows, f"expression profile ({source})"


def profile_update(key: str | None) -> gr.Dataframe:
    headers, rows, label = expression_profile(key)
    return gr.Dataframe(value=rows, headers=headers, label=label)


REPLACE_LABEL = "replace my model of this name"


def import_model(job: Job, upload: str | None, name_text: str | None, replace: bool = False) -> JobResult:
    """Check an uploaded .tflite (running it in a child process) and add it to your models,
    under a name that is no bundled model's, nor one of yours unless ``replace``."""
    from ddspkit.io.models import import_vst

    if not upload:
        raise UserError("no .tflite file: upload one first")
    source = Path(upload)
    if source.suffix.lower() != ".tflite":
        raise UserError(f"{source}: not a .tflite file (DDSP-VST models end in .tflite)")
    name = check_name(name_text) if name_text and name_text.strip() else None
    job.report("checking the model as the plugin would, then running it", 0.2)
    target, info = import_vst(source, name, replace, how_to_replace=f"'{REPLACE_LABEL}'")
    listed = any(i.path == target for i in list_models())
    where = ("it is in every instrument list" if listed else
             "but it is not listed (a model file of the same name hides it)")
    return JobResult(f"imported {source.name} as '{target.stem}' ({info.provenance['statistics']}); "
                     f"{where}", (table(),))


def _own_idle_model(key: str | None, studio: Studio) -> ModelInfo:
    info = models.info_for(key)
    running = studio.runner.current
    if running is not None and running.name == f"training {info.path.stem}":
        raise UserError(f"'{info.name}' is training: stop it first")
    return info


def rename_model(studio: Studio, key: str | None, new_name: str | None) -> str:
    """Rename the chosen model (yours only); returns the status line. Raises UserError."""
    info = _own_idle_model(key, studio)
    if info.source != "user":
        raise UserError(f"'{info.name}' is a bundled model: only your own models can be renamed")
    if not new_name or not new_name.strip():
        raise UserError("type the new name first")
    rename_user_model(info.path.stem, new_name)
    return status("ok", f"renamed '{info.name}' to '{new_name.strip()}'")


def delete_model(studio: Studio, key: str | None, confirmed: bool) -> str:
    """Delete the chosen model (yours only) once confirmed; returns the status line."""
    info = _own_idle_model(key, studio)
    if info.source != "user":
        raise UserError(f"'{info.name}' is a bundled model: only your own models can be deleted")
    if not confirmed:
        raise UserError(f"tick 'yes, delete' to delete '{info.name}' ({info.path})")
    files = delete_user_model(info.path.stem)
    return status("ok", f"deleted '{info.name}' ({', '.join(f.name for f in files)})")


def export_model(job: Job, studio: Studio, key: str | None, format_label: str, install: bool) -> JobResult:
    """Export the chosen model (validated) for download, or into the plugin's model folder
    (then a copy is offered for download too)."""
    from ddspkit.api import load_model
    from ddspkit.audio import atomic_write
    from ddspkit.io import export  # here: the exporters load on first use, not with the studio

    labels = export.ExportLabels(format="export as", install=f"'{INSTALL_LABEL}'",
                                 vst="the DDSP-VST plugin (.tflite)")
    fmt = FORMATS.get(format_label)
    if fmt is None:
        raise UserError(f"format '{format_label}': choose one of {', '.join(FORMATS)}")
    export.export_suffix(fmt, install, labels)  # a refusal comes before the model loads
    info = models.info_for(key)
    job.report(f"loading {info.name}", 0.1)
    model = load_model(info.path, "cpu")
    folder = studio.workspace.job_folder("export")
    job.report(f"exporting {info.name} and checking the result", 0.3)
    result = export.export_model(model, fmt, folder / f"{info.name}{export.EXPORT_SUFFIXES[fmt]}",
                                 install, labels=labels)
    path = result.path
    if result.installed:
        path = atomic_write(folder / path.name, lambda tmp: tmp.write_bytes(result.path.read_bytes()))
    return JobResult("; ".join(result.lines), (gr.update(value=str(path), visible=True),))


def build(studio: Studio, tab: gr.Tab) -> gr.Dropdown:
    """Lay out the tab and wire its events; returns its instrument list."""
    from ddspkit.io.ddsp_vst.plugin import plugin_models_dir

    gr.HTML(note("Every instrument this studio can play: bundled, trained here, or imported from "
                 "DDSP-VST. Export one for the DDSP-VST plugin (or ONNX, TorchScript)."))
    listing = gr.Dataframe(value=table(), headers=COLUMNS, interactive=False, elem_id="lib_table",
                           label="instruments", wrap=True, elem_classes=["studio-table"],
                           column_widths=["11%", "8%", "16%", "11%", "22%", "12%", "20%"])
    with gr.Row():
        with gr.Column():
            instrument = models.dropdown(elem_id="lib_instrument", info="its provenance is shown below")
            details = gr.JSON(provenance(instrument.value), elem_id="lib_details",
                              label="provenance: data, recipe, steps, versions")
            headers, rows, label = expression_profile(instrument.value)
            profile_table = gr.Dataframe(value=rows, headers=headers, label=label, interactive=False,
                                         wrap=True, elem_id="lib_profile", elem_classes=["studio-table"])
            with gr.Group():
                new_name = gr.Textbox(label="rename it (yours only)", elem_id="lib_new_name",
                                      placeholder="the new name")
                with gr.Row():
                    rename_button = gr.Button("Rename", elem_id="lib_rename")
                    confirm = gr.Checkbox(False, label="yes, delete", elem_id="lib_confirm")
                    delete_button = gr.Button("Delete", variant="stop", elem_id="lib_delete")
            manage_state = gr.HTML(status("info", "rename or delete one of your models (bundled "
                                                  "ones stay)"), elem_id="lib_manage_status")
        with gr.Column():
            with gr.Group():
                fmt = gr.Radio(list(FORMATS), value=next(iter(FORMATS)), label="export as",
                               elem_id="lib_format")
                install = gr.Checkbox(False, label=INSTALL_LABEL,
                                      info=f"{plugin_models_dir()} (the plugin's refresh button finds it)")
                export_button = gr.Button("Export", variant="primary", elem_id="lib_export")
                export_state = gr.HTML(status("info", "export the instrument picked on the left"),
                                       elem_id="lib_export_status")
                exported = gr.File(label="download the export", interactive=False, elem_id="lib_file",
                                   visible=False)
            with gr.Group():
                upload = gr.File(label="import a DDSP-VST model (.tflite)", file_types=[".tflite"],
                                 elem_id="lib_upload")
                name = gr.Textbox(label="its name here", placeholder="default: the file's name",
                                  elem_id="lib_import_name")
                replace = gr.Checkbox(False, label=REPLACE_LABEL, elem_id="lib_replace",
                                      info="never a bundled model: they keep their names")
                import_button = gr.Button("Import", elem_id="lib_import")
                state = gr.HTML(status("info", "upload a .tflite to import it"), elem_id="lib_status")

    instrument.change(provenance, instrument, details, queue=False, show_progress="hidden")
    instrument.change(profile_update, instrument, profile_table, queue=False, show_progress="hidden")
    tab.select(table, None, listing, queue=False, show_progress="hidden")

    def on_export(key, format_label, install_on):
        yield from stream_job(studio.runner, studio.workspace, "export",
                              lambda job: export_model(job, studio, key, format_label, install_on), 1,
                              clear_on_start=True)

    def on_import(path, name_text, replace_on):
        yield from stream_job(studio.runner, studio.workspace, "import",
                              lambda job: import_model(job, path, name_text, replace_on), 1,
                              clear_on_error=False)

    @page_errors(studio.workspace, n_more=2)
    def on_rename(key, new):
        return rename_model(studio, key, new), table(), ""

    @page_errors(studio.workspace, n_more=2)
    def on_delete(key, confirmed):
        return delete_model(studio, key, confirmed), table(), False

    export_button.click(on_export, [instrument, fmt, install], [export_state, exported],
                        concurrency_id="jobs", concurrency_limit=4, show_progress="minimal")
    import_button.click(on_import, [upload, name, replace], [state, listing], concurrency_id="jobs",
                        concurrency_limit=4, show_progress="minimal").then(
        models.refreshed, instrument, instrument, queue=False, show_progress="hidden")
    for button, handler, inputs, cleared in ((rename_button, on_rename, [instrument, new_name], new_name),
                                             (delete_button, on_delete, [instrument, confirm], confirm)):
        button.click(handler, inputs, [manage_state, listing, cleared], queue=False,
                     show_progress="hidden").then(
            models.refreshed, instrument, instrument, queue=False, show_progress="hidden")
    return instrument
