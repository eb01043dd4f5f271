"""The ``ddspkit`` command line: prepare -> train -> transfer, models, demo."""

from __future__ import annotations

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
    from ddspkit.dataset import note_name

    s, st = data.summary, data.statistics
    lo, hi = s.pitch_range_hz
    table = terminal.table(show_header=False, box=None, padding=(0, 2))
    table.add_row("files", f"{s.n_files} read, {len(s.skipped)} skipped")
    table.add_row("audio", f"{s.total_minutes:.1f} min, {s.usable_minutes:.1f} min usable "
                  f"(non-silent)")
    table.add_row("voiced", f"{100 * s.voiced_share:.0f} % of sound, mean pitch confidence "
                  f"{s.mean_confidence:.2f}")
    table.add_row("pitch", f"{lo:.0f}-{hi:.0f} Hz ({note_name(lo)}-{note_name(hi)}), 5th-95th "
                  "percentile")
    table.add_row("power", f"{s.power_range_db[0]:.0f} to {s.power_range_db[1]:.0f} dB")
    table.add_row("model range", f"{st.mean_min_pitch_note_hz:.0f}-"
                  f"{st.mean_max_pitch_note_hz:.0f} Hz, {st.mean_min_power_note:.0f} to "
                  f"{st.mean_max_power_note:.0f} dB")
    out.print(table)
    for line in s.warnings:
        terminal.warning(line)


def _prepare_with_progress(folder: Path):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ddspkit.dataset import find_audio_files, prepare

    n_files = len(find_audio_files(folder)) if folder.is_dir() else 0
    with Progress(TextColumn("preparing"), BarColumn(), MofNCompleteColumn(),
                  terminal.literal_column("{task.fields[file]}"), console=console,
                  transient=True) as bar:
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
    from ddspkit.dataset import describe_file

    table = terminal.table("file", "length", "usable", "voiced", "median pitch", "clipped", box=None,
                  padding=(0, 2))
    for f in data.files:
        d = describe_file(f)
        table.add_row(str(f.path.relative_to(folder)), f"{d.seconds:.1f} s",
                      f"{100 * d.usable_share:.0f} %", f"{100 * d.voiced_share:.0f} %",
                      d.median_note or "-", f"{100 * f.clipped_share:.2f} %")
    out.print(table)


@app.command("train")
@user_errors
def train_cmd(
    folder: Path = typer.Argument(..., help="Folder of recordings of one instrument."),
    name: str = typer.Option(..., "--name", "-n", help="The instrument's name, e.g. Cello."),
    recipe: str = typer.Option("fast", help="Training recipe: 'fast' (default) or 'reference' "
                               "(Magenta's Train_VST: 30k steps)."),
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
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ddspkit import paths
    from ddspkit.training import Distributed, TrainingInterrupted, default_device, get_recipe, train

    if not Distributed.from_env().is_main:  # under torchrun, one process speaks
        out.quiet = console.quiet = True
    if not name.replace("-", "").replace("_", "").replace(" ", "").isalnum():
        raise UserError(f"--name '{name}': use letters, digits, '-', '_' or spaces")
    data = _prepare_with_progress(folder)
    _print_summary(data)
    chosen = get_recipe(recipe)
    run_dir = paths.runs_dir() / name
    out.print(f"training {name} with the '{chosen.name}' recipe on "
              f"{device or default_device()}; logs: tensorboard --logdir \"{run_dir}\"")
    resuming = (run_dir / "checkpoint.pt").exists() and not restart
    if resuming:
        out.print("resuming from the last checkpoint")
    start = time.perf_counter()
    with Progress(terminal.literal_column("{task.description}", "bold"), BarColumn(),
                  TextColumn("step {task.completed}/{task.total}"),
                  TextColumn("loss {task.fields[loss]:.3f}"),
                  TextColumn("{task.fields[rate]:.2f} steps/s"), TimeRemainingColumn(),
                  console=console) as bar:
        task = bar.add_task(name, total=steps or chosen.n_steps, loss=float("nan"), rate=0.0)
        first: list[float] = []

        def on_step(step: int, total: int, loss: float) -> None:
            now = time.perf_counter()
            if not first:
                first[:] = [now, step]
            rate = (step - first[1]) / (now - first[0]) if now > first[0] else 0.0
            bar.update(task, completed=step, total=total, loss=loss, rate=rate)

        def on_start(start) -> None:
            bar.console.print(("the run started " if resuming else "starting ") + start.describe())

        try:
            result = train(data, name, chosen, n_steps=steps, device=device, seed=seed,
                           restart=restart, checkpoint_every=checkpoint_every, on_step=on_step,
                           source=str(folder.resolve()), run_dir=run_dir,
                           on_message=lambda line: terminal.warning(line, bar.console),
                           start_from=start_from, on_start=on_start)
        except TrainingInterrupted as stop:
            bar.stop()
            console.print(f"interrupted at step {stop.step}: checkpoint saved, model written to "
                          f"{stop.model_path}. Run the same command to resume.")
            raise typer.Exit(130) from None
    val = "n/a" if result.validation_loss is None else f"{result.validation_loss:.3f}"
    out.print(f"trained {result.step} steps in {time.perf_counter() - start:.0f} s; held-out "
              f"loss {val}\nmodel: {result.model_path}")


TRANSFER_MODES = ("monophonic", "polyphonic", "lead-line")


@app.command("transfer")
@user_errors
def transfer_cmd(
    input: Path = typer.Argument(..., help="Audio to morph (wav, flac, mp3, ogg, aiff)."),
    model: str = typer.Option(..., "--model", "-m", help="Model name or file."),
    output: Path = typer.Option(..., "--output", "-o", help="Output audio file."),
    mode: str = typer.Option("monophonic", help="monophonic: follow the pitch tracker (a voice, "
                             "a flute); polyphonic: transcribe to notes and play every line "
                             "(a piano part -> a section); lead-line: follow only the top voice "
                             "of the transcription, keeping the recording's dynamics."),
    plot: Path = typer.Option(None, help="Also draw pitch, loudness and spectrograms here."),
    pitch_shift: float = typer.Option(0.0, help="Extra pitch shift in semitones."),
    loudness_shift: float = typer.Option(0.0, help="Extra loudness shift in dB."),
    auto: bool = typer.Option(True, help="Auto-adjust octave and loudness to the model's range."),
    reverb: bool = typer.Option(True, help="Apply the model's learned room."),
    voices: int = typer.Option(8, help="Polyphonic mode: voice limit."),
):
    """Morph a recording into a trained instrument (monophonic, or polyphonic via transcription)."""
    from ddspkit.api import load_model

    if mode not in TRANSFER_MODES:
        raise UserError(f"--mode {mode}: choose one of {', '.join(TRANSFER_MODES)}")
    if not input.is_file():
        raise UserError(f"{input}: no such file")
    start = time.perf_counter()
    instrument = load_model(model)
    if mode == "polyphonic":
        from ddspkit.audio import load_audio, write_audio

        if pitch_shift != round(pitch_shift):
            raise UserError(f"--pitch-shift {pitch_shift:g}: polyphonic mode shifts whole semitones")
        audio, rate_hz, _ = load_audio(input)
        result = instrument.transfer_polyphonic(audio, rate_hz, max_voices=voices, reverb=reverb,
                                                pitch_shift_semitones=int(pitch_shift))
        write_audio(output, result.audio, rate_hz)
        if plot is not None:
            from ddspkit.plot import plot_polyphonic

            plot_polyphonic(audio, result.audio, rate_hz, result.notes, plot,
                            title=f"{input.name} -> {instrument.name}")
        out.print(f"{input.name} -> {output} ({len(result.audio) / rate_hz:.1f} s at {rate_hz} Hz, "
                  f"{instrument.name}, {len(result.notes)} notes in {len(result.voices)} voice(s)) "
                  f"in {time.perf_counter() - start:.1f} s")
    else:
        result = instrument.transfer_file(input, output, plot=plot, auto_adjust=auto,
                                          pitch_shift_semitones=pitch_shift,
                                          loudness_shift_db=loudness_shift, reverb=reverb,
                                          lead_line=mode == "lead-line")
        seconds = len(result.audio) / result.sample_rate_hz
        adj = result.adjustment
        out.print(f"{input.name} -> {output} ({seconds:.1f} s at {result.sample_rate_hz} Hz, "
                  f"{instrument.name}, pitch {adj.pitch_shift_semitones:+g} st, loudness "
                  f"{'auto' if auto else 'as is'}{adj.loudness_shift_db:+g} dB) in "
                  f"{time.perf_counter() - start:.1f} s")
        if mode == "monophonic" and adj.note_on_share < 0.2 and result.input_features.voiced.mean() < 0.3:
            terminal.warning("little of the input has a clear pitch; if it is polyphonic (chords, "
                             "a piano), try --mode polyphonic or --mode lead-line", out)
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


@app.command("models")
@user_errors
def models_cmd():
    """List the installed and bundled models."""
    from ddspkit import paths
    from ddspkit.core import midi_to_hz
    from ddspkit.dataset import note_name
    from ddspkit.modelfile import list_models

    # The range played: 2nd to 98th percentile of the training data's note-on pitch.
    table = terminal.table("name", "source", "range played",
                           "trained", "file")
    for info in list_models():
        p = info.provenance
        data = p.get("data", {})
        start = (p.get("start") or {}).get("model")
        trained = (f"{p['steps']} steps{f' from {start}' if start else ''} on "
                   f"{data.get('usable_minutes', 0):.0f} min of audio" if "steps" in p
                   else p.get("format", "?"))
        quantiles = info.statistics.pitch_quantiles_midi
        low_hz, high_hz = (float(midi_to_hz(quantiles[i * len(quantiles) // 100])) for i in (2, 98))
        table.add_row(info.name, info.source,
                      f"{note_name(low_hz)}-{note_name(high_hz)} ({low_hz:.0f}-{high_hz:.0f} Hz)",
                      trained, info.path.name if info.source == "bundled" else str(info.path))
    out.print(table)
    out.print(f"user models folder: {paths.models_dir()}")


def _expression(attack, decay, sustain, release, portamento, vibrato, vibrato_rate, vibrato_delay):
    from ddspkit.midi import Expression

    return Expression(attack_s=attack, decay_s=decay, sustain_level=sustain, release_s=release,
                      portamento_s=portamento, vibrato_depth_cents=vibrato,
                      vibrato_rate_hz=vibrato_rate, vibrato_delay_s=vibrato_delay)


EXPRESSION_OPTIONS = dict(
    attack=typer.Option(0.04, help="Attack (s)."), decay=typer.Option(0.2, help="Decay (s)."),
    sustain=typer.Option(0.8, help="Sustain level (0-1)."),
    release=typer.Option(0.25, help="Release (s)."),
    portamento=typer.Option(0.06, help="Glide between legato notes (s)."),
    vibrato=typer.Option(0.0, help="Vibrato depth (cents; 0 = off)."),
    vibrato_rate=typer.Option(5.5, help="Vibrato rate (Hz)."),
    vibrato_delay=typer.Option(0.3, help="Vibrato onset after each note starts (s)."),
)


@app.command("render")
@user_errors
def render_cmd(
    midi: Path = typer.Argument(..., help="A MIDI file."),
    model: str = typer.Option(..., "--model", "-m", help="Model name or file."),
    output: Path = typer.Option(None, "--output", "-o", help="Output audio file."),
    part: list[str] = typer.Option(None, help="Part (track/channel) index or name; repeat for "
                                   "several (default: all but drums). --list shows them."),
    voices: int = typer.Option(8, help="Voice limit per part (polyphony); 1 = monophonic."),
    sample_rate: int = typer.Option(44100, help="Output sample rate (Hz)."),
    reverb: bool = typer.Option(True, help="Apply the model's learned room."),
    list_parts: bool = typer.Option(False, "--list", help="List the file's parts and exit."),
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
            attack, decay, sustain, release, portamento, vibrato, vibrato_rate, vibrato_delay))
    write_audio(output, result.audio, result.sample_rate_hz)
    seconds = len(result.audio) / result.sample_rate_hz
    out.print(f"{midi.name} -> {output} ({seconds:.1f} s, {instrument.name}, {len(result.voices)} "
              f"voice(s)) in {time.perf_counter() - start:.1f} s")


@app.command("compare")
@user_errors
def compare_cmd(
    midi: Path = typer.Argument(..., help="A MIDI file."),
    model: str = typer.Option(..., "--model", "-m", help="Model name or file."),
    soundfont: Path = typer.Option(None, help="A .sf2 soundfont (default: the system's GM font)."),
    output_dir: Path = typer.Option(Path("."), "--output-dir", "-o"),
    voices: int = typer.Option(8, help="Voice limit per part."),
    part: list[str] = typer.Option(None, help="Part (track/channel) index or name; repeat for "
                                   "several (default: all but drums)."),
):
    """Render a MIDI file with a model and with a sample-based synth; figure and measures.

    A monophonic line is measured by its pitch track (f0 L1); where notes sound together,
    each rendering is transcribed and scored against the MIDI (note precision, recall, F1).
    """
    from ddspkit.api import load_model
    from ddspkit.compare import compare
    from ddspkit.soundfont import find_fluidsynth, find_soundfont

    find_fluidsynth()
    font = find_soundfont(soundfont)
    if not midi.is_file():
        raise UserError(f"{midi}: no such file")
    result = compare(load_model(model), midi, output_dir, font, part_selection=part or None,
                     max_voices=voices)
    out.print(comparison_table(result))
    for label, path in (("model", result.model_path), ("sample-based", result.sampler_path),
                        ("figure", result.figure_path)):
        out.print(f"  {label:13s}{path}")


def comparison_table(result) -> Table:
    """compare's measures: f0 for a monophonic line, notes against the MIDI for polyphony."""
    if not result.polyphonic:
        table = terminal.table("measure (model vs sample-based, one line)", "value")
        table.add_row("multi-scale spectral distance", f"{result.spectral_distance:.3f}")
        table.add_row("loudness L1", f"{result.loudness_l1_db:.2f} dB")
        table.add_row("f0 L1 (frames voiced in both)", f"{result.f0_l1_semitones:.3f} semitones")
        table.add_row("f0 outliers > 12 semitones", f"{100 * result.f0_outlier_share:.2f} %")
    else:
        table = terminal.table("measure (polyphonic: notes sound together)", "model", "sample-based")
        notes = [result.notes["model"], result.notes["sample-based"]]
        table.add_row("note F1 vs the MIDI (onsets within 50 ms)", *(f"{n.f1:.3f}" for n in notes))
        table.add_row("note precision", *(f"{n.precision:.3f}" for n in notes))
        table.add_row("note recall", *(f"{n.recall:.3f}" for n in notes))
        table.add_row("notes transcribed / in the MIDI",
                      *(f"{n.n_estimated} / {n.n_reference}" for n in notes))
        table.add_row("onset lag (median, removed before matching)",
                      *(f"{1000 * n.onset_lag_s:.0f} ms" for n in notes))
        table.add_row("multi-scale spectral distance to sample-based", f"{result.spectral_distance:.3f}", "")
        table.add_row("loudness L1 to sample-based", f"{result.loudness_l1_db:.2f} dB", "")
    table.add_row("level match applied to the sample-based file", f"{result.level_gain_db:+.1f} dB",
                  *([""] if result.polyphonic else []))
    return table


@app.command("evaluate")
@user_errors
def evaluate_cmd(
    model: str = typer.Argument(..., help="Model name or file."),
    heldout: Path = typer.Argument(..., help="Folder of held-out recordings of the instrument."),
    compare: list[str] = typer.Option(None, help="Other models to score on the same audio."),
):
    """Resynthesis quality on held-out audio, against a plain harmonic baseline."""
    from ddspkit.evaluate import scores_table
    from ddspkit.modelfile import load_model

    if not heldout.is_dir():
        raise UserError(f"{heldout}: no such folder")
    table, _, _ = scores_table(heldout, [load_model(m) for m in [model, *(compare or [])]])
    out.print(table)


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
    from ddspkit import export, vst
    from ddspkit.modelfile import load_model

    loaded = load_model(model, "cpu")
    name = loaded.info.name
    fmt = format.lower()
    suffix = {"vst": ".tflite", "tflite": ".tflite", "onnx": ".onnx", "torchscript": ".pt"}.get(fmt)
    if suffix is None:
        raise UserError(f"--format '{format}': choose vst, onnx or torchscript")
    if install and suffix != ".tflite":
        raise UserError("--install is for --format vst")
    if install:
        folder = plugin_dir or vst.plugin_models_dir()
        output = folder / f"{name}.tflite"
    output = output or Path(f"{name}{suffix}")
    if suffix == ".tflite":
        path, report = vst.export_vst(loaded, output)
        out.print(f"{path}: DDSP-VST model, {path.stat().st_size / 1e6:.1f} MB, "
                  f"{len(set(report.ops))} builtin op types, export_time "
                  f"{report.metadata['export_time']}; passes the plugin's checks")
        if install:
            out.print(f"installed into the plugin's model folder {output.parent}: press the "
                      "plugin's refresh button and pick it from the model list")
    else:
        path, worst = export.export_step_model(loaded, output, fmt)
        out.print(f"{path}: {fmt} decoder step (f0_scaled, pw_scaled, state) -> (amplitude, "
                  f"harmonics, noise, state); matches PyTorch within {worst:.1e}")


@app.command("check-vst")
@user_errors
def check_vst_cmd(file: Path = typer.Argument(..., help="A .tflite model file.")):
    """Check a .tflite file against the DDSP-VST plugin's loading rules."""
    from ddspkit import vst

    if not file.is_file():
        raise UserError(f"{file}: no such file")
    report = vst.check_vst(file.read_bytes(), file,
                           vst.export_times_in(file.parent, skip=file))
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
                             "the file name)."),
):
    """Add an existing DDSP-VST model to your models, for transfer and rendering."""
    from ddspkit import paths
    from ddspkit.audio import atomic_write
    from ddspkit.vst import read_vst_info

    if not file.is_file():
        raise UserError(f"{file}: no such file")
    info = read_vst_info(file, run=True)
    target = paths.models_dir() / f"{name or file.stem}.tflite"
    atomic_write(target, lambda tmp: tmp.write_bytes(file.read_bytes()))
    stats = info.provenance["statistics"]
    out.print(f"imported {file} as '{target.stem}' ({target}), with {stats}; use it with "
              f"--model {target.stem}")


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
    from ddspkit.demo import sung_phrase
    from ddspkit.plot import plot_transfer

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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
