"""The ``ddspkit`` command line: prepare -> train -> transfer, models, demo."""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from pathlib import Path

import typer
from rich.table import Table

from ddspkit import terminal
from ddspkit.errors import UserError
from ddspkit.terminal import err as console
from ddspkit.terminal import out
from ddspkit.training.observer import Progress, TrainingObserver
from ddspkit.training.recipes import DEFAULT_RECIPE, FINETUNE_RECIPE, RECIPES, get_recipe

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts hold brackets ('ddspkit[live]') that must print as is
    help="Train DDSP instruments from recordings, morph any sound into them, play them.",
)


def user_errors(func):
    """Print a UserError as one line on stderr and exit 1, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            terminal.error(str(exc))
            raise typer.Exit(1) from None

    return wrapper


def _print_summary(data) -> None:
    from ddspkit.report.training import summary_rows

    table = terminal.table(show_header=False, box=None, padding=(0, 2))
    for label, text in summary_rows(data):
        table.add_row(label, text)
    out.print(table)
    for line in data.summary.warnings:
        terminal.warning(line)


def _prepare_with_progress(folder: Path):
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bar

    from ddspkit.training.data import find_audio_files, prepare

    n_files = len(find_audio_files(folder)) if folder.is_dir() else 0
    with Bar(TextColumn("preparing"), BarColumn(), MofNCompleteColumn(),
             terminal.literal_column("{task.fields[file]}"), console=console, transient=True) as bar:
        task = bar.add_task("prepare", total=n_files, file="")

        def on_file(path: Path, problem: str | None) -> None:
            if problem:
                bar.console.print(terminal.labelled("skipped:", "yellow", problem), soft_wrap=True)
            bar.update(task, advance=1, file=path.name)

        return prepare(folder, on_file=on_file)


@app.command("prepare")
@user_errors
def prepare_cmd(folder: Path = typer.Argument(..., help="Folder of recordings (searched recursively).")):
    """Analyse a folder of recordings (cached) and print what training would use."""
    data = _prepare_with_progress(folder)
    _print_files(folder, data)
    _print_summary(data)


def _print_files(folder: Path, data) -> None:
    """One row per prepared file: what each take brings, so a bad one is easy to find."""
    from ddspkit.report.training import FILE_COLUMNS, file_rows

    table = terminal.table(*FILE_COLUMNS, box=None, padding=(0, 2))
    for row in file_rows(data, folder):
        table.add_row(*row)
    out.print(table)


def _recipe_help() -> str:
    """The --recipe help, each recipe's steps read from the recipe itself."""
    fast, finetune, reference = RECIPES[DEFAULT_RECIPE], RECIPES[FINETUNE_RECIPE], RECIPES["reference"]
    return (f"Training recipe: '{fast.name}' ({fast.n_steps:,} steps; the default from random "
            f"weights), '{finetune.name}' ({finetune.n_steps:,} steps; the default from a model) "
            f"or '{reference.name}' (Magenta's Train_VST: {reference.n_steps / 1000:g}k steps).")


class _TrainingBar(TrainingObserver):
    """The command line's view of a run: a progress bar on stderr, its notes above the bar."""

    def __init__(self, bar, task, name: str, device: str, run_dir: Path, resuming: bool) -> None:
        self.bar, self.task, self.name, self.device = bar, task, name, device
        self.run_dir, self.resuming = run_dir, resuming
        self.progress = Progress()

    def on_start(self, start, recipe) -> None:
        self.bar.console.print(f"training {self.name} with the '{recipe.name}' recipe on "
                               f"{self.device}; logs: tensorboard --logdir \"{self.run_dir}\"")
        self.bar.console.print(("the run started " if self.resuming else "starting ") + start.describe())
        self.bar.update(self.task, total=recipe.n_steps)

    def on_step(self, step: int, total_steps: int, loss: float) -> None:
        self.progress.update(step, total_steps)
        self.bar.update(self.task, completed=step, total=total_steps, loss=loss,
                        rate=self.progress.steps_per_second, seconds_left=self.progress.seconds_left)

    def on_message(self, line: str) -> None:
        terminal.warning(line, self.bar.console)


@app.command("train")
@user_errors
def train_cmd(
    folder: Path = typer.Argument(..., help="Folder of recordings of one instrument."),
    name: str = typer.Option(..., "--name", "-n", help="The instrument's name, e.g. Cello."),
    recipe: str = typer.Option(None, help=_recipe_help()),
    steps: int = typer.Option(None, help="Total training steps (default: the recipe's)."),
    device: str = typer.Option(None, help="cpu, cuda, cuda:1, mps (default: a GPU if any)."),
    restart: bool = typer.Option(False, help="Discard the saved checkpoint and start over."),
    seed: int = typer.Option(0, help="Random seed (weights, data order, noise)."),
    checkpoint_every: int = typer.Option(None, help="Steps between checkpoints."),
    start_from: str = typer.Option(None, "--from", help="Start from 'auto' (the bundled model "
                                   "nearest to the data; the default), 'scratch' (random "
                                   "weights), or a model name or file to fine-tune."),
):
    """Train an instrument; run the same command again to resume after any interruption."""
    from rich.progress import BarColumn, TextColumn
    from rich.progress import Progress as Bar

    from ddspkit.io.models import check_name
    from ddspkit.report.training import held_out_text
    from ddspkit.training.run import RunFolder
    from ddspkit.training.trainer import Distributed, TrainingInterrupted, default_device, train

    if not Distributed.from_env().is_main:  # under torchrun, one process speaks
        out.quiet = console.quiet = True
    name = check_name(name, "--name")
    data = _prepare_with_progress(folder)
    _print_summary(data)
    asked = get_recipe(recipe) if recipe else None  # an unknown name fails before any work
    run = RunFolder.named(name)
    resuming = run.resumes(restart)
    if resuming:
        out.print("resuming from the last checkpoint")
    start = time.perf_counter()
    with Bar(terminal.literal_column("{task.description}", "bold"), BarColumn(),
             TextColumn("step {task.completed}/{task.total}"),
             TextColumn("loss {task.fields[loss]:.3f}"),
             TextColumn("{task.fields[rate]:.2f} steps/s"), terminal.TimeLeftColumn(),
             console=console) as bar:
        task = bar.add_task(name, total=steps, loss=float("nan"), rate=0.0, seconds_left=None)
        shown = _TrainingBar(bar, task, name, device or default_device(), run.path, resuming)
        try:
            result = train(data, name, asked, n_steps=steps, device=device, seed=seed,
                           restart=restart, checkpoint_every=checkpoint_every, run_dir=run.path,
                           source=str(folder.resolve()), start_from=start_from, observer=shown)
        except TrainingInterrupted as stop:
            bar.stop()
            console.print(f"interrupted at step {stop.step}: checkpoint saved, model written to "
                          f"{stop.model_path}. Run the same command to resume.")
            raise typer.Exit(130) from None
    out.print(f"trained {result.step} steps in {time.perf_counter() - start:.0f} s; held-out "
              f"loss {held_out_text(result.validation_loss)}\nmodel: {result.model_path}")


# Options several commands share (typer reads a default's Option object as the definition).
MODEL_OPTION = typer.Option(..., "--model", "-m", help="Model name or file.")
REVERB_OPTION = typer.Option(True, help="Apply the model's learned room.")
PITCH_SHIFT_OPTION = typer.Option(0.0, help="Extra pitch shift in semitones (audio input).")
LOUDNESS_SHIFT_OPTION = typer.Option(0.0, help="Extra loudness shift in dB (audio input).")
AUTO_OPTION = typer.Option(True, help="Auto-adjust octave and loudness to the model's range.")


@app.command("transfer")
@user_errors
def transfer_cmd(
    input: Path = typer.Argument(..., help="Audio to morph (wav, flac, mp3, ogg, aiff)."),
    model: str = MODEL_OPTION,
    output: Path = typer.Option(..., "--output", "-o", help="Output audio file."),
    mode: str = typer.Option("monophonic", help="monophonic: follow the pitch tracker (a voice, "
                             "a flute); polyphonic: transcribe to notes and play every line "
                             "(a piano part -> a section); lead-line: follow only the top voice "
                             "of the transcription, keeping the recording's dynamics."),
    plot: Path = typer.Option(None, help="Also draw pitch, loudness and spectrograms here."),
    pitch_shift: float = PITCH_SHIFT_OPTION,
    loudness_shift: float = LOUDNESS_SHIFT_OPTION,
    auto: bool = AUTO_OPTION,
    reverb: bool = REVERB_OPTION,
    voices: int = typer.Option(8, help="Polyphonic mode: voice limit."),
):
    """Morph a recording into a trained instrument (monophonic, or polyphonic via transcription)."""
    from ddspkit.api import load_model
    from ddspkit.render.files import check_pitch_shift, check_transfer_mode, transfer_file
    from ddspkit.render.transfer import little_pitch

    check_transfer_mode(mode, f"--mode {mode}")
    if not input.is_file():
        raise UserError(f"{input}: no such file")
    check_pitch_shift(mode, pitch_shift, f"--pitch-shift {pitch_shift:g}")
    start = time.perf_counter()
    instrument = load_model(model)
    result = transfer_file(instrument, input, output, plot=plot, mode=mode, max_voices=voices,
                           auto_adjust=auto, pitch_shift_semitones=pitch_shift,
                           loudness_shift_db=loudness_shift, reverb=reverb)
    if mode == "polyphonic":
        rate_hz = result.sample_rate_hz
        out.print(f"{input.name} -> {output} ({len(result.audio) / rate_hz:.1f} s at {rate_hz} Hz, "
                  f"{instrument.name}, {len(result.notes)} notes in {len(result.voices)} voice(s)) "
                  f"in {time.perf_counter() - start:.1f} s")
    else:
        seconds = len(result.audio) / result.sample_rate_hz
        adj = result.adjustment
        out.print(f"{input.name} -> {output} ({seconds:.1f} s at {result.sample_rate_hz} Hz, "
                  f"{instrument.name}, pitch {adj.pitch_shift_semitones:+g} st, "
                  f"{adj.loudness_text()}) in "
                  f"{time.perf_counter() - start:.1f} s")
        if mode == "monophonic" and little_pitch(result):
            terminal.warning("little of the input has a clear pitch; if it is polyphonic (chords, "
                             "a piano), try --mode polyphonic or --mode lead-line", out)
    for line in result.warnings:
        terminal.warning(line, out)
    if plot is not None:
        out.print(f"plot: {plot}")


@app.command("transcribe")
@user_errors
def transcribe_cmd(
    input: Path = typer.Argument(..., help="Audio to transcribe (wav, flac, mp3, ogg, aiff)."),
    output: Path = typer.Option(..., "--output", "-o", help="MIDI file to write."),
    onset_threshold: float = typer.Option(0.5, help="Onset confidence that starts a note (0-1)."),
    frame_threshold: float = typer.Option(0.3, help="Confidence that keeps a note sounding (0-1)."),
    min_note_ms: float = typer.Option(127.0, help="Shortest note kept (ms)."),
    min_hz: float = typer.Option(None, help="Drop notes below this pitch (Hz)."),
    max_hz: float = typer.Option(None, help="Drop notes above this pitch (Hz)."),
):
    """Audio -> MIDI notes (polyphonic, Spotify's Basic Pitch model)."""
    from ddspkit.api import transcribe_file

    if not input.is_file():
        raise UserError(f"{input}: no such file")
    for label, value in (("--onset-threshold", onset_threshold), ("--frame-threshold", frame_threshold)):
        if not 0 < value < 1:
            raise UserError(f"{label} {value:g}: must be between 0 and 1")
    start = time.perf_counter()
    notes = transcribe_file(input, output, onset_threshold=onset_threshold,
                            frame_threshold=frame_threshold, min_note_s=min_note_ms / 1000,
                            min_hz=min_hz, max_hz=max_hz)
    span = (f", MIDI {min(n.pitch for n in notes)}-{max(n.pitch for n in notes)}" if notes else "")
    out.print(f"{input.name} -> {output} ({len(notes)} notes{span}) in "
              f"{time.perf_counter() - start:.1f} s")


models_app = typer.Typer(no_args_is_help=False, rich_markup_mode=None,
                         help="List your models and the bundled ones; rename or delete yours.")
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
@user_errors
def models_cmd(context: typer.Context):
    """List the installed and bundled models (rename and delete: your own models)."""
    if context.invoked_subcommand is not None:
        return
    from ddspkit import paths
    from ddspkit.io.models import list_models
    from ddspkit.report.models import expression_text, file_text, pitch_range, trained_summary

    table = terminal.table("name", "source", "range played", "trained", "expression (MIDI)", "file")
    table.columns[0].no_wrap = True  # a name is read whole, brackets and all
    for info in list_models():
        table.add_row(info.name, info.source, pitch_range(info), trained_summary(info),
                      expression_text(info), file_text(info))
    out.print(table)
    out.print(f"user models folder: {paths.models_dir()}")


@models_app.command("rename")
@user_errors
def models_rename_cmd(old: str = typer.Argument(..., help="The name of one of your models."),
                      new: str = typer.Argument(..., help="Its new name.")):
    """Rename one of your models (its training run and kept recordings follow it)."""
    from ddspkit.io.models import rename_user_model

    for path in rename_user_model(old, new):
        out.print(f"renamed '{old}' to '{new}': {path}")


@models_app.command("delete")
@user_errors
def models_delete_cmd(name: str = typer.Argument(..., help="The name of one of your models.")):
    """Delete one of your models (bundled models cannot be deleted)."""
    from ddspkit.io.models import delete_user_model

    for path in delete_user_model(name):
        out.print(f"deleted {path}")


def _expression(instrument, choice, attack, decay, sustain, release, portamento, vibrato, vibrato_rate,
                vibrato_delay):
    """The expression chosen by --expression, with the options given on the command line winning."""
    from ddspkit.io.profiles import model_expression

    given = dict(attack_s=attack, decay_s=decay, sustain_level=sustain, release_s=release,
                 portamento_s=portamento, vibrato_depth_cents=vibrato, vibrato_rate_hz=vibrato_rate,
                 vibrato_delay_s=vibrato_delay)
    return model_expression(instrument.info, choice, **{k: v for k, v in given.items() if v is not None})


EXPRESSION_CHOICE = typer.Option(
    "plain", "--expression", help="How notes are shaped: 'plain' (every note alike, by the options "
    "below), 'learned' (each note drawn from how the player of the model's training recordings "
    "shapes notes: vibrato, attack, release, glides) or a profile's .json file. An option below "
    "that you give wins over the profile.")
EXPRESSION_OPTIONS = dict(
    attack=typer.Option(None, help="Attack (s; plain: 0.04)."),
    decay=typer.Option(None, help="Decay (s; plain: 0.2)."),
    sustain=typer.Option(None, help="Sustain level (0-1; plain: 0.8)."),
    release=typer.Option(None, help="Release (s; plain: 0.25)."),
    portamento=typer.Option(None, help="Glide between legato notes (s; plain: 0.06)."),
    vibrato=typer.Option(None, help="Vibrato depth (cents; plain: 0 = off)."),
    vibrato_rate=typer.Option(None, help="Vibrato rate (Hz; plain: 5.5)."),
    vibrato_delay=typer.Option(None, help="Vibrato onset after each note starts (s; plain: 0.3)."),
)


@app.command("render")
@user_errors
def render_cmd(
    midi: Path = typer.Argument(..., help="A MIDI file."),
    model: str = MODEL_OPTION,
    output: Path = typer.Option(None, "--output", "-o", help="Output audio file."),
    part: list[str] = typer.Option(None, help="Part (track/channel) index or name; repeat for "
                                   "several (default: all but drums). --list shows them."),
    voices: int = typer.Option(8, help="Voice limit per part (polyphony); 1 = monophonic."),
    sample_rate: int = typer.Option(44100, help="Output sample rate (Hz)."),
    reverb: bool = REVERB_OPTION,
    list_parts: bool = typer.Option(False, "--list", help="List the file's parts and exit."),
    expression: str = EXPRESSION_CHOICE,
    attack: float = EXPRESSION_OPTIONS["attack"], decay: float = EXPRESSION_OPTIONS["decay"],
    sustain: float = EXPRESSION_OPTIONS["sustain"], release: float = EXPRESSION_OPTIONS["release"],
    portamento: float = EXPRESSION_OPTIONS["portamento"],
    vibrato: float = EXPRESSION_OPTIONS["vibrato"],
    vibrato_rate: float = EXPRESSION_OPTIONS["vibrato_rate"],
    vibrato_delay: float = EXPRESSION_OPTIONS["vibrato_delay"],
):
    """Play a MIDI file with a trained instrument (pitch bend, CC7/11/64, polyphony)."""
    from ddspkit.api import load_model
    from ddspkit.audio import write_audio
    from ddspkit.midi import parts, read_midi

    if list_parts:
        for i, p in enumerate(parts(read_midi(midi))):
            out.print(f"{i}: {p.name} (program {p.program}{', drums' if p.is_drum else ''}, "
                      f"{len(p.notes)} notes)")
        return
    if output is None:
        raise UserError("--output/-o is required (or --list)")
    if voices < 1:
        raise UserError(f"--voices {voices}: at least 1")
    start = time.perf_counter()
    instrument = load_model(model)
    result = instrument.render_midi(
        midi, part_selection=part or None, max_voices=voices, reverb=reverb,
        sample_rate_hz=sample_rate, expression=_expression(
            instrument, expression, attack, decay, sustain, release, portamento, vibrato, vibrato_rate,
            vibrato_delay))
    write_audio(output, result.audio, result.sample_rate_hz)
    seconds = len(result.audio) / result.sample_rate_hz
    out.print(f"{midi.name} -> {output} ({seconds:.1f} s, {instrument.name}, {len(result.voices)} "
              f"voice(s)) in {time.perf_counter() - start:.1f} s")


@app.command("compare")
@user_errors
def compare_cmd(
    midi: Path = typer.Argument(..., help="A MIDI file."),
    model: str = MODEL_OPTION,
    soundfont: Path = typer.Option(None, help="A .sf2 soundfont (default: the system's GM font)."),
    output_dir: Path = typer.Option(Path("."), "--output-dir", "-o"),
    voices: int = typer.Option(8, help="Voice limit per part."),
    part: list[str] = typer.Option(None, help="Part (track/channel) index or name; repeat for "
                                   "several (default: all but drums)."),
    expression: str = typer.Option(
        "plain", "--expression", help="How the model shapes notes: 'plain', 'learned' (drawn from "
        "its expression profile) or a profile's .json file."),
):
    """Render a MIDI file with a model and with a sample-based synth; figures and measures.

    A monophonic line is measured by its pitch track (f0 L1); where notes sound together,
    each rendering is transcribed and scored against the MIDI (note precision, recall, F1).
    The model's expression profile is shown beside the expression measured in each rendering
    of a line (vibrato, attack, release), in a table and a figure.
    """
    from ddspkit.api import load_model
    from ddspkit.io.profiles import model_expression
    from ddspkit.render.compare import compare
    from ddspkit.render.soundfont import find_fluidsynth, find_soundfont

    find_fluidsynth()
    font = find_soundfont(soundfont)
    if not midi.is_file():
        raise UserError(f"{midi}: no such file")
    instrument = load_model(model)
    result = compare(instrument, midi, output_dir, font, part_selection=part or None,
                     max_voices=voices, expression=model_expression(instrument.info, expression))
    out.print(comparison_table(result))
    out.print(comparison_table(result, expression=True))
    for label, path in (("model", result.model_path), ("sample-based", result.sampler_path),
                        ("figure", result.figure_path), ("expression", result.expression_figure_path)):
        out.print(f"  {label:13s}{path}")


def comparison_table(result, expression: bool = False) -> Table:
    """compare's measures: f0 for a monophonic line, notes against the MIDI for polyphony; or
    with ``expression``, the profile beside each rendering's measured expression."""
    from ddspkit.report.compare import expression_rows, measure_rows

    headers, rows = (expression_rows if expression else measure_rows)(result)
    table = terminal.table(*headers)
    for row in rows:
        table.add_row(*row)
    return table


@app.command("evaluate")
@user_errors
def evaluate_cmd(
    model: str = typer.Argument(..., help="Model name or file."),
    heldout: Path = typer.Argument(..., help="Folder of held-out recordings of the instrument."),
    compare: list[str] = typer.Option(None, help="Other models to score on the same audio."),
):
    """Resynthesis quality on held-out audio, against a plain harmonic baseline; and each
    model's expression profile beside the held-out recordings' measured expression."""
    from ddspkit.api import load_model
    from ddspkit.render.evaluate import evaluate_models, heldout_expression
    from ddspkit.report.evaluate import expression_table, scores_table

    if not heldout.is_dir():
        raise UserError(f"{heldout}: no such folder")
    results, baseline = evaluate_models(heldout, [load_model(m, "cpu") for m in [model, *(compare or [])]])
    out.print(scores_table(results, baseline, heldout))
    out.print(expression_table(results, heldout_expression(heldout), heldout))


@app.command("export")
@user_errors
def export_cmd(
    model: str = typer.Argument(..., help="Model name or file."),
    format: str = typer.Option("vst", "--format", "-f",
                               help="vst (DDSP-VST .tflite), onnx or torchscript."),
    output: Path = typer.Option(None, "--output", "-o", help="Output file (default: NAME.ext)."),
    install: bool = typer.Option(False, help="Put the .tflite into the plugin's model folder."),
    plugin_dir: Path = typer.Option(None, help="The plugin's model folder (default: "
                                    "~/Documents/Magenta/DDSP/Models)."),
):
    """Export a model for the DDSP-VST plugin (validated), or as ONNX or TorchScript."""
    from ddspkit.api import load_model
    from ddspkit.io.export import export_model

    result = export_model(load_model(model, "cpu"), format, output, install, plugin_dir)
    for line in result.lines:
        out.print(line)


@app.command("check-vst")
@user_errors
def check_vst_cmd(file: Path = typer.Argument(..., help="A .tflite model file.")):
    """Check a .tflite file against the DDSP-VST plugin's loading rules."""
    from ddspkit.io.ddsp_vst.check import check_vst
    from ddspkit.io.ddsp_vst.plugin import export_times_in

    if not file.is_file():
        raise UserError(f"{file}: no such file")
    report = check_vst(file.read_bytes(), file, export_times_in(file.parent, skip=file))
    if report.ok:
        meta = report.metadata
        out.print(f"{file}: OK for DDSP-VST (ops: {', '.join(sorted(set(report.ops)))}; model "
                  f"range {meta['mean_min_pitch_note_hz']:.0f}-{meta['mean_max_pitch_note_hz']:.0f}"
                  f" Hz, {meta['mean_min_power_note']:.0f} to {meta['mean_max_power_note']:.0f} "
                  f"dB; export_time {meta['export_time']}; {report.ran})")
        return
    if len(report.problems) == 1:
        raise UserError(f"{file}: {report.problems[0]}; the plugin would reject this model")
    for problem in report.problems:
        console.print(terminal.labelled("problem:", "red", problem))
    raise UserError(f"{file}: {len(report.problems)} problems; the plugin would reject this model")


@app.command("import")
@user_errors
def import_cmd(
    file: Path = typer.Argument(..., help="A DDSP-VST .tflite model (old notebook or ddspkit)."),
    name: str = typer.Option(None, "--name", "-n", help="Name in your model list (default: "
                             "the file name); never a bundled model's."),
    overwrite: bool = typer.Option(False, help="Replace your model of the same name."),
):
    """Add an existing DDSP-VST model to your models, for transfer and rendering."""
    from ddspkit.io.models import import_vst

    target, info = import_vst(file, name, replace=overwrite)
    stats = info.provenance["statistics"]
    out.print(f"imported {file} as '{target.stem}' ({target}), with {stats}; use it with "
              f"--model {target.stem}")


RATE_OPTION = typer.Option(48000, "--rate", help="The host's sample rate (Hz): 16000, 44100, 48000...")


def _engine_options(pitch_shift: float, loudness_shift: float, auto: bool, reverb: bool) -> dict:
    return dict(pitch_shift_semitones=pitch_shift, loudness_shift_db=loudness_shift,
                auto_adjust=auto, reverb=reverb)


@app.command("stream")
@user_errors
def stream_cmd(
    input: Path = typer.Argument(..., help="Audio to morph, or a MIDI file to play."),
    model: str = MODEL_OPTION,
    output: Path = typer.Option(..., "--output", "-o", help="What a listener hears (wav, flac...)."),
    block: int = typer.Option(480, help="Samples per block, as a host's audio callback would give."),
    rate: int = RATE_OPTION,
    pitch_shift: float = PITCH_SHIFT_OPTION,
    loudness_shift: float = LOUDNESS_SHIFT_OPTION,
    auto: bool = AUTO_OPTION,
    reverb: bool = REVERB_OPTION,
    voices: int = typer.Option(8, help="MIDI: voice limit per channel."),
    part: list[str] = typer.Option(None, help="MIDI: part (track) index or name; repeat for several."),
    expression: str = EXPRESSION_CHOICE,
    attack: float = EXPRESSION_OPTIONS["attack"], decay: float = EXPRESSION_OPTIONS["decay"],
    sustain: float = EXPRESSION_OPTIONS["sustain"], release: float = EXPRESSION_OPTIONS["release"],
    portamento: float = EXPRESSION_OPTIONS["portamento"],
    vibrato: float = EXPRESSION_OPTIONS["vibrato"],
    vibrato_rate: float = EXPRESSION_OPTIONS["vibrato_rate"],
    vibrato_delay: float = EXPRESSION_OPTIONS["vibrato_delay"],
):
    """Run the live engine over a file, block by block, exactly as live; write what you'd hear.

    Audio goes through the effect engine (pitch and loudness tracked on the stream), a MIDI
    file through the synth engine. The output includes the engine's latency, printed in ms.
    """
    from ddspkit.api import load_model
    from ddspkit.stream import use_one_thread
    from ddspkit.stream.files import MIDI_SUFFIXES, stream_file

    use_one_thread()
    start = time.perf_counter()
    instrument = load_model(model, "cpu")
    if input.suffix.lower() in MIDI_SUFFIXES:
        options = dict(max_voices=voices, reverb=reverb, part_selection=part or None,
                       expression=_expression(instrument, expression, attack, decay, sustain, release,
                                              portamento, vibrato, vibrato_rate, vibrato_delay))
        mode = "synth"
    else:
        options = _engine_options(pitch_shift, loudness_shift, auto, reverb)
        mode = "effect"
    _check_rate(rate)
    result = stream_file(input, output, instrument, block_samples=block, sample_rate_hz=rate,
                         **options)
    seconds = len(result.audio) / rate
    out.print(f"{input.name} -> {output} ({seconds:.1f} s at {rate} Hz, {instrument.name}, {mode} "
              f"mode, {result.n_blocks} blocks of {block}) in {time.perf_counter() - start:.1f} s")
    out.print(f"latency {1000 * result.latency_samples / rate:.2f} ms ({result.latency_samples} "
              "samples), included in the output")


def _check_rate(rate: int) -> None:
    if not 8000 <= rate <= 192000:
        raise UserError(f"--rate {rate}: choose a sample rate between 8000 and 192000 Hz")


@app.command("live")
@user_errors
def live_cmd(
    model: str = typer.Option(None, "--model", "-m", help="Model name or file."),
    midi: bool = typer.Option(False, "--midi", help="Play from a MIDI keyboard instead of the "
                              "microphone."),
    midi_port: str = typer.Option(None, "--midi-port", help="MIDI input port (name or part of it). "
                                  "JACK: the MIDI source to connect (default: the hardware's); "
                                  "PortAudio: the rtmidi input (default: the first)."),
    backend: str = typer.Option("auto", "--backend", help="jack, portaudio, or auto: JACK (or "
                                "PipeWire's JACK) when a server runs on Linux, else PortAudio."),
    client_name: str = typer.Option("ddspkit", "--client-name", help="JACK: the client's name "
                                    "(as the DAW and patchbay show it)."),
    connect_input: list[str] = typer.Option(None, "--connect-input", help="JACK: an audio port "
                                            "to feed the input (repeat for several; default: "
                                            "the first capture port)."),
    connect_output: list[str] = typer.Option(None, "--connect-output", help="JACK: ports for "
                                             "out_L, then out_R (default: the first two playback "
                                             "ports)."),
    no_connect: bool = typer.Option(False, "--no-connect", help="JACK: connect nothing; wire "
                                    "the ports in the DAW or a patchbay."),
    input_device: str = typer.Option(None, help="PortAudio: input device (number or part of its "
                                     "name)."),
    output_device: str = typer.Option(None, help="PortAudio: output device (number or part of "
                                      "its name)."),
    list_devices: bool = typer.Option(False, "--list-devices", help="List backends, audio devices "
                                      "and ports, and MIDI inputs, then exit."),
    block: int = typer.Option(None, help="PortAudio: block size in samples (default 128). JACK "
                              "uses the server's period."),
    rate: int = typer.Option(None, "--rate", help="PortAudio: sample rate in Hz (default: the "
                             "device's). JACK uses the server's rate."),
    slack_ms: float = typer.Option(None, help="Time the worker has to compute a frame, added "
                                   "to the latency and rounded up to whole blocks. Default: "
                                   "measured at start, what a frame costs on this machine plus a "
                                   "margin (raise it if the report shows dropouts)."),
    pitch_shift: float = PITCH_SHIFT_OPTION,
    loudness_shift: float = LOUDNESS_SHIFT_OPTION,
    auto: bool = AUTO_OPTION,
    reverb: bool = REVERB_OPTION,
    voices: int = typer.Option(8, help="MIDI: voice limit per channel."),
    expression: str = typer.Option("plain", "--expression", help="MIDI: 'plain', 'learned' or a "
                                   "profile's .json file (see 'ddspkit render --help')."),
    seconds: float = typer.Option(None, help="Stop after this long (default: Ctrl-C)."),
):
    """Play an instrument live: microphone -> speakers, or with --midi a MIDI keyboard.

    Needs the optional extra: pip install 'ddspkit[live]' (JACK-Client, sounddevice, mido,
    python-rtmidi). On Linux it is a JACK client when JACK or PipeWire's JACK layer runs (ports
    in, midi_in, out_L, out_R, its latency reported to the server); otherwise, and on macOS and
    Windows, it goes through PortAudio (libportaudio2 on Debian/Ubuntu). Ctrl-C stops it and
    prints the run's report.
    """
    from ddspkit.stream import live, use_one_thread

    if list_devices:
        _print_devices()
        return
    if model is None:
        raise UserError("--model/-m is required (or --list-devices)")
    if rate is not None:
        _check_rate(rate)
    if block is not None and not 16 <= block <= 8192:
        raise UserError(f"--block {block}: choose a block between 16 and 8192 samples")
    io = _open_backend(backend, midi=midi, client_name=client_name, rate=rate, block=block,
                       connect_input=connect_input, connect_output=connect_output,
                       no_connect=no_connect, midi_port=midi_port, input_device=input_device,
                       output_device=output_device)
    rate, block = io.sample_rate_hz, io.block_samples
    use_one_thread()
    try:
        engine = _live_engine(model, rate, midi, voices, _engine_options(pitch_shift, loudness_shift,
                                                                         auto, reverb), expression)
    except BaseException:
        io.close()
        raise
    slack, slack_source = live.choose_slack(engine, midi, block, rate, slack_ms)
    total_ms = 1000 * (engine.latency_samples + slack) / rate
    source = "MIDI" if midi else "audio in"
    if midi and getattr(io, "midi", None) is not None:
        source = f"MIDI from {io.midi.name}"
    out.print(f"playing {engine_name(model)} live ({io.describe()}, {source}, {rate} Hz, blocks "
              f"of {block}): latency {engine.latency_ms:.1f} ms engine + {1000 * slack / rate:.1f} "
              f"ms slack ({slack_source}) = {total_ms:.1f} ms, plus the sound card's buffers. "
              "Ctrl-C stops.", soft_wrap=True)
    # libjack and PortAudio write their own lines on file descriptor 2 (a server that went
    # away, xruns): the run's own messages say what happened, in one line.
    with live.quiet_c_stderr():
        result = live.run_live(engine, io, slack_samples=slack, synth=midi, seconds=seconds)
    out.print(live.report_line(result, rate), soft_wrap=True)


def _open_backend(name: str, *, midi: bool, client_name: str, rate: int | None, block: int | None,
                  connect_input, connect_output, no_connect: bool, midi_port: str | None,
                  input_device: str | None, output_device: str | None):
    """The JACK or PortAudio backend, opened: its rate and block are known."""
    from ddspkit.stream import live

    if name not in ("auto", "jack", "portaudio"):
        raise UserError(f"--backend {name}: choose jack, portaudio or auto")
    if name == "auto":
        name = "portaudio"
        if sys.platform.startswith("linux"):
            from ddspkit.stream.jack_backend import jack_available

            with contextlib.suppress(UserError):
                name = "jack" if jack_available() else "portaudio"
    if name == "jack":
        from ddspkit.stream.jack_backend import JackBackend

        if input_device or output_device:
            raise UserError("--input-device/--output-device choose PortAudio devices; with JACK, "
                            "use --connect-input/--connect-output (or --backend portaudio)")
        return JackBackend(client_name=client_name, synth=midi, rate_hz=rate, block_samples=block,
                           connect_inputs=connect_input or None, connect_outputs=connect_output or None,
                           midi_port=midi_port, auto_connect=not no_connect)
    if connect_input or connect_output or no_connect:
        raise UserError("--connect-input/--connect-output/--no-connect wire JACK ports: start "
                        "JACK (or PipeWire's pipewire-jack), or use --input-device/--output-device")
    io = live.PortAudioBackend(input_device=input_device, output_device=output_device, synth=midi,
                               rate_hz=rate, block_samples=block)
    io.midi = live.MidiInput(midi_port) if midi else None  # after the audio: the first to check
    return io


def engine_name(model: str) -> str:
    return Path(model).stem if ("/" in model or "\\" in model) else model


def _live_engine(model: str, rate: int, midi: bool, voices: int, options: dict, expression: str = "plain"):
    from ddspkit.api import load_model
    from ddspkit.io.profiles import model_expression
    from ddspkit.stream import EffectEngine, SynthEngine

    loaded = load_model(model, "cpu")
    if midi:
        return SynthEngine(loaded, rate, max_voices=voices, reverb=options["reverb"],
                           expression=model_expression(loaded.info, expression))
    return EffectEngine(loaded, rate, **options)


def _print_devices() -> None:
    """Both backends: JACK's server and ports, PortAudio's devices, and the MIDI inputs."""
    from ddspkit.stream import live

    if sys.platform.startswith("linux"):
        from ddspkit.stream.jack_backend import list_jack

        try:
            status, sources, sinks, midi_sources = list_jack()
        except UserError as exc:  # JACK-Client or libjack missing
            status, sources, sinks, midi_sources = str(exc), [], [], []
        out.print(f"JACK backend: {status}", soft_wrap=True)
        for label, names in (("audio sources (--connect-input)", sources),
                             ("audio sinks (--connect-output)", sinks),
                             ("MIDI sources (--midi-port)", midi_sources)):
            if names:
                out.print(f"  {label}: {', '.join(names)}", soft_wrap=True)
    try:
        devices = live.audio_devices()
    except UserError as exc:
        out.print(f"PortAudio backend: {exc}", soft_wrap=True)
    else:
        out.print(f"PortAudio backend: {len(devices)} audio device(s)")
        table = terminal.table("#", "audio device", "inputs", "outputs", "default rate")
        for d in devices:
            table.add_row(str(d["index"]), d["name"], str(d["max_input_channels"]),
                          str(d["max_output_channels"]), f"{d['default_samplerate']:.0f} Hz")
        out.print(table)
    try:
        names = live.midi_input_names()
    except UserError as exc:
        terminal.warning(str(exc))
        return
    out.print("MIDI inputs (rtmidi, --midi-port with PortAudio): " + (", ".join(names) if names
                                                                      else "none"), soft_wrap=True)


@app.command("demo")
@user_errors
def demo_cmd(
    output_dir: Path = typer.Option(Path("ddspkit-demo"), "--output-dir", "-o"),
    model: str = typer.Option("Cello", "--model", "-m", help="Model name or file."),
):
    """Sing a phrase into the bundled cello: writes the input, the output and a plot."""
    from ddspkit.api import load_model
    from ddspkit.audio import write_audio
    from ddspkit.config import SAMPLE_RATE_HZ
    from ddspkit.render.plot import plot_transfer
    from ddspkit.render.signals import sung_phrase

    start = time.perf_counter()
    instrument = load_model(model)
    voice = sung_phrase()
    result = instrument.transfer(voice, SAMPLE_RATE_HZ)
    input_path = write_audio(output_dir / "input-voice.wav", voice, SAMPLE_RATE_HZ)
    output_path = write_audio(output_dir / f"voice-as-{instrument.name}.wav", result.audio,
                              SAMPLE_RATE_HZ)
    plot_path = plot_transfer(result, output_dir / f"voice-as-{instrument.name}.png", voice,
                              title=f"demo: sung phrase -> {instrument.name}")
    out.print(f"Sang {len(voice) / SAMPLE_RATE_HZ:.1f} s of 'Ode to Joy' into "
              f"{instrument.name} (octave shift {result.adjustment.octave_shift:+d}) "
              f"in {time.perf_counter() - start:.1f} s:")
    for label, path in (("input", input_path), ("output", output_path), ("plot", plot_path)):
        out.print(f"  {label:7s}{path}")


@app.command("studio")
@user_errors
def studio_cmd(
    port: int = typer.Option(7860, help="Port to serve the page on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but this "
                             "computer's own (127.0.0.1) lets the network in, with a warning."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the browser."),
):
    """Open the studio in the browser: morph, play, train and export (needs ddspkit[studio])."""
    from ddspkit.studio import serve

    serve(host, port, open_browser=not no_browser)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
