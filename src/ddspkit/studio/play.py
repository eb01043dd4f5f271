"""The Play tab: a MIDI file through an instrument, optionally beside FluidSynth's rendering."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ddspkit.errors import UserError
from ddspkit.midi import Expression, parts, read_midi, select_parts
from ddspkit.studio import models
from ddspkit.studio.context import Studio
from ddspkit.studio.jobs import Job, one_line
from ddspkit.studio.ui import JobResult, audio_result, job_controls, note, status, stream_job
from ddspkit.studio.workspace import safe_stem

OUTPUT_RATE_HZ = 44100
DEFAULTS = Expression()
SHAPING = ("plain (the sliders)", "learned from the recordings")


def midi_parts(midi_path: str | Path):
    """The parts of a MIDI file. Raises UserError when it cannot be read or holds no note."""
    found = parts(read_midi(midi_path))
    if not found:
        raise UserError(f"{midi_path}: no notes in this MIDI file (nothing to play); is it the "
                        "right file?")
    return found


def part_choices(midi_path: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, index) for each part of an uploaded MIDI file, and the indices ticked at first
    (all but drums). Raises UserError."""
    if not midi_path:
        return [], []
    found = midi_parts(midi_path)
    labels = [(f"{i}: {p.name} (program {p.program}{', drums' if p.is_drum else ''}, "
               f"{len(p.notes)} notes)", str(i)) for i, p in enumerate(found)]
    return labels, [str(i) for i, p in enumerate(found) if not p.is_drum]


def sampler_problem() -> str | None:
    """Why the sample-based comparison is unavailable (what to install), or None."""
    from ddspkit.render.soundfont import find_fluidsynth, find_soundfont

    try:
        find_fluidsynth()
        find_soundfont()
    except UserError as exc:
        return str(exc)
    return None


def render(job: Job, studio: Studio, midi_path: str | None, part_keys: list[str], key: str | None,
           expression: Expression | str, max_voices: int, reverb: bool, with_sampler: bool) -> JobResult:
    """Render the ticked parts; with ``with_sampler`` also FluidSynth's rendering and the
    comparison. Outputs: WAV (player, download), figure, FluidSynth WAV, comparison figure
    and table, expression figure and table (the instrument's profile beside what each
    rendering played)."""
    if not midi_path:
        raise UserError("no MIDI file: upload one first")
    source = Path(midi_path)
    job.report("reading the MIDI file and loading the instrument", 0.05)
    found = midi_parts(source)  # a broken or empty file says so, whatever is ticked
    if not part_keys:
        raise UserError(f"{midi_path}: no part ticked: tick the parts to play")
    chosen = select_parts(found, part_keys)
    model = models.load(key)
    warnings = range_warnings([n for p in chosen for n in p.notes], model.info)
    folder = studio.workspace.job_folder("play")
    output = folder / f"{safe_stem(source.stem)}-{safe_stem(model.name)}.wav"
    job.report(f"playing it with {model.name}", 0.15)
    if isinstance(expression, str):  # "learned": the instrument's own profile
        from ddspkit.io.profiles import model_expression

        expression = model_expression(model.info, expression)
    result = model.render_midi(source, part_selection=part_keys, max_voices=max_voices,
                               expression=expression, reverb=reverb, sample_rate_hz=OUTPUT_RATE_HZ)
    from ddspkit.audio import write_audio
    from ddspkit.render.plot import plot_render

    write_audio(output, result.audio, result.sample_rate_hz)
    job.report("drawing the figure", 0.4)
    plot = plot_render(result, [n for p in chosen for n in p.notes], folder / f"{output.stem}.png",
                       title=f"{source.name} -> {model.name}")
    seconds = len(result.audio) / result.sample_rate_hz
    message = (f"{source.name} -> {output.name}: {seconds:.1f} s, {model.name}, "
               f"{len(result.voices)} voice(s)")
    compared = (None,) * 5
    if with_sampler:
        job.report("rendering with FluidSynth and comparing (transcribing both if chords)", 0.5)
        compared = _compare(model, source, folder, part_keys, max_voices, expression, reverb)
        message += "; beside FluidSynth's rendering, level-matched (16 kHz)"
    return JobResult(message, (str(output), str(output), str(plot), *compared), warnings)


def range_warnings(notes, info) -> list[str]:
    """A warning when notes lie outside the range the instrument was trained on (they are
    played, but a model sounds right only where it has heard its instrument)."""
    if info.statistics is None or not notes:
        return []
    from ddspkit.analysis.statistics import played_range_midi
    from ddspkit.report.models import pitch_range

    low, high = played_range_midi(info.statistics)
    below = sum(n.pitch < round(low) for n in notes)
    above = sum(n.pitch > round(high) for n in notes)
    if not below and not above:
        return []
    where = " and ".join(part for part in (f"{below} below" if below else "",
                                           f"{above} above" if above else "") if part)
    return [f"{below + above} of {len(notes)} notes lie outside {info.name}'s range "
            f"{pitch_range(info)} ({where}): they may sound unnatural; pick another instrument, "
            "or transpose the MIDI"]


def _compare(model, source: Path, folder: Path, part_keys: list[str], max_voices: int,
             expression: Expression, reverb: bool) -> tuple:
    from ddspkit.render.compare import compare
    from ddspkit.report.compare import expression_rows, measure_rows

    result = compare(model, source, folder / "compare", part_selection=part_keys,
                     max_voices=max_voices, expression=expression, reverb=reverb)
    headers, rows = measure_rows(result)
    expression_headers, expression_table = expression_rows(result)
    return (str(result.sampler_path), str(result.figure_path),
            gr.Dataframe(value=rows, headers=headers), str(result.expression_figure_path),
            gr.Dataframe(value=expression_table, headers=expression_headers))


def build(studio: Studio) -> gr.Dropdown:
    """Lay out the tab and wire its events; returns its instrument list."""
    gr.HTML(note("Play a MIDI file with an instrument: pick the parts and the expression. A chord "
                 "part is split into voices, one model run each."))
    problem = sampler_problem()
    with gr.Row():
        with gr.Column():
            midi_in = gr.File(label="MIDI file (.mid)", file_types=[".mid", ".midi"],
                              elem_id="play_midi")
            part_list = gr.CheckboxGroup(label="parts", elem_id="play_parts",
                                         info="the file's tracks and channels; drums start unticked")
            instrument = models.dropdown(elem_id="play_instrument")
            shaping = gr.Radio(SHAPING, value=SHAPING[0], label="expression", elem_id="play_shaping",
                               info="plain: every note alike, by the sliders below; learned: each "
                                    "note's vibrato, attack, release and glides drawn from how the "
                                    "player of the instrument's recordings plays")
            with gr.Accordion("plain expression", open=False, elem_id="play_expression"):
                with gr.Row():
                    attack = gr.Slider(0.0, 1.0, DEFAULTS.attack_s, step=0.01, label="attack (s)")
                    decay = gr.Slider(0.0, 2.0, DEFAULTS.decay_s, step=0.01, label="decay (s)")
                    sustain = gr.Slider(0.0, 1.0, DEFAULTS.sustain_level, step=0.05,
                                        label="sustain (level)")
                    release = gr.Slider(0.0, 2.0, DEFAULTS.release_s, step=0.01, label="release (s)")
                with gr.Row():
                    vibrato = gr.Slider(0, 100, DEFAULTS.vibrato_depth_cents, step=1,
                                        label="vibrato depth (cents)", info="0: off")
                    vibrato_rate = gr.Slider(2.0, 9.0, DEFAULTS.vibrato_rate_hz, step=0.1,
                                             label="vibrato rate (Hz)")
                    vibrato_delay = gr.Slider(0.0, 2.0, DEFAULTS.vibrato_delay_s, step=0.05,
                                              label="vibrato delay (s)", info="after each note starts")
                    portamento = gr.Slider(0.0, 0.5, DEFAULTS.portamento_s, step=0.01,
                                           label="portamento (s)", info="glide between legato notes")
            with gr.Row():
                voices = gr.Slider(1, 16, 8, step=1, label="voices per part",
                                   info="1: monophonic; beyond it the oldest note is cut")
                reverb = gr.Checkbox(value=True, label="reverb", info="the instrument's learned room")
            sampler = gr.Checkbox(value=False, label="also FluidSynth (sample-based), compared",
                                  interactive=problem is None, elem_id="play_compare",
                                  info=problem or "the same MIDI through the General MIDI soundfont, "
                                       "with a comparison figure and measures")
            run, cancel, state = job_controls("Render", "play",
                                              "upload a MIDI file, tick its parts, then press Render")
        with gr.Column():
            audio_out, file_out = audio_result("the instrument", "play")
            sampled = gr.Audio(label="FluidSynth (sample-based), level-matched", type="filepath",
                               interactive=False, elem_id="play_sampled")
            table = gr.Dataframe(label="comparison", interactive=False, elem_id="play_table", wrap=True,
                                 elem_classes=["studio-table"])
            expression_table = gr.Dataframe(
                label="expression: the instrument's profile beside what each rendering played",
                interactive=False, elem_id="play_expression_table", wrap=True,
                elem_classes=["studio-table"])
    with gr.Row():
        plot = gr.Image(type="filepath", interactive=False, show_label=False, elem_id="play_plot",
                        buttons=["download", "fullscreen"])
        comparison = gr.Image(type="filepath", interactive=False, show_label=False,
                              elem_id="play_comparison", buttons=["download", "fullscreen"])
    expression_plot = gr.Image(type="filepath", interactive=False, show_label=False,
                               elem_id="play_expression_plot", buttons=["download", "fullscreen"])

    def on_midi(path):
        try:
            found, ticked = part_choices(path)
        except Exception as exc:  # a UserError as it is; anything else logged, in one line
            return (status("error", studio.workspace.readable(one_line(exc))),
                    gr.CheckboxGroup(choices=[], value=[]))
        message = (f"{len(found)} part(s): tick those to play, then press Render" if found
                   else "upload a MIDI file, tick its parts, then press Render")
        return status("info", message), gr.CheckboxGroup(choices=found, value=ticked)

    midi_in.change(on_midi, midi_in, [state, part_list], show_progress="hidden")

    def on_render(midi_path, part_keys, key, shape, a, d, s, r, depth, rate, delay, glide, n_voices,
                  reverb_on, with_sampler):
        expression = "learned" if shape == SHAPING[1] else Expression(
            attack_s=a, decay_s=d, sustain_level=s, release_s=r, portamento_s=glide,
            vibrato_depth_cents=depth, vibrato_rate_hz=rate, vibrato_delay_s=delay)
        yield from stream_job(
            studio.runner, studio.workspace, "render",
            lambda job: render(job, studio, midi_path, part_keys, key, expression, int(n_voices),
                               reverb_on, with_sampler), 8, clear_on_start=True)

    run.click(on_render, [midi_in, part_list, instrument, shaping, attack, decay, sustain, release, vibrato,
                          vibrato_rate, vibrato_delay, portamento, voices, reverb, sampler],
              [state, audio_out, file_out, plot, sampled, comparison, table, expression_plot,
               expression_table],
              concurrency_id="jobs", concurrency_limit=4, show_progress="minimal")
    cancel.click(lambda: studio.runner.cancel("render"), None, None, queue=False)
    return instrument
