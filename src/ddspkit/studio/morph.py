"""The Morph tab: a recording (uploaded or from the microphone) into an instrument."""

from __future__ import annotations

import gradio as gr

from ddspkit.render.files import transfer_file
from ddspkit.render.transfer import little_pitch
from ddspkit.studio import models
from ddspkit.studio.context import Studio
from ddspkit.studio.jobs import Job
from ddspkit.studio.ui import JobResult, audio_result, job_controls, note, stream_job
from ddspkit.studio.workspace import check_audio_upload, safe_stem

MODES = {
    "monophonic": "one voice or instrument: keeps every pitch nuance (vibrato, slides)",
    "polyphonic": "chords or several lines (a piano part): transcribed, each line played",
    "lead-line": "a melody over accompaniment: the top line alone, with the recording's dynamics",
}


def morph(job: Job, studio: Studio, audio_path: str | None, key: str | None, mode: str,
          pitch_shift: float, loudness_shift: float, auto_adjust: bool, reverb: bool) -> JobResult:
    """Morph the uploaded file; returns the output WAV (twice: player and download) and the figure."""
    job.report("reading the input", 0.05)
    source = check_audio_upload(audio_path, "input audio", studio.settings.max_audio_minutes)
    job.report("loading the instrument", 0.15)
    model = models.load(key)
    folder = studio.workspace.job_folder("morph")
    output = folder / f"{safe_stem(source.stem)}-as-{safe_stem(model.name)}.wav"
    plot = folder / f"{output.stem}.png"
    job.report(f"morphing into {model.name} ({mode}), then drawing the figure", 0.3)
    result = transfer_file(model, source, output, plot=plot, mode=mode, auto_adjust=auto_adjust,
                           pitch_shift_semitones=pitch_shift, loudness_shift_db=loudness_shift,
                           reverb=reverb)
    job.check()  # Cancel pressed meanwhile: the result is not shown
    seconds = len(result.audio) / result.sample_rate_hz
    head = f"{source.name} -> {output.name}: {seconds:.1f} s at {result.sample_rate_hz} Hz, {model.name}"
    warnings = list(result.warnings)  # NaN/inf samples replaced, a silent input
    silent = any("is silent" in line for line in warnings)
    if mode == "polyphonic":
        message = f"{head}, {len(result.notes)} notes in {len(result.voices)} voice(s)"
    else:
        adj = result.adjustment
        message = f"{head}, pitch {adj.pitch_shift_semitones:+g} st, {adj.loudness_text()}"
        if mode == "monophonic" and not silent and little_pitch(result):
            warnings.append("little of the input has a clear pitch; if it holds chords (a piano), "
                            "try the polyphonic or lead-line mode")
    return JobResult(message, (str(output), str(output), str(plot)), warnings)


def build(studio: Studio) -> gr.Dropdown:
    """Lay out the tab and wire its events; returns its instrument list (refreshed by the app)."""
    gr.HTML(note("Turn a recording of a voice or an instrument into the chosen instrument: the "
                 "melody and the dynamics stay, the sound changes. Nothing leaves this computer."))
    with gr.Row():
        with gr.Column():
            limits = studio.settings
            audio_in = gr.Audio(sources=["upload", "microphone"], type="filepath", elem_id="morph_input",
                                label=f"input: a file (up to {limits.max_upload_mb:g} MB, "
                                      f"{limits.max_audio_minutes:g} min) or the microphone")
            instrument = models.dropdown(elem_id="morph_instrument",
                                         info="bundled, trained here, or imported from DDSP-VST")
            mode = gr.Radio(list(MODES), value="monophonic", label="mode", elem_id="morph_mode",
                            info="; ".join(f"{name}: {text}" for name, text in MODES.items()))
            with gr.Row():
                pitch = gr.Slider(-24, 24, value=0, step=1, label="pitch shift (semitones)",
                                  info="added after auto-adjust's octave shift")
                loudness = gr.Slider(-20, 20, value=0, step=1, label="loudness shift (dB)",
                                     info="louder plays brighter (monophonic, lead-line)")
            with gr.Row():
                auto = gr.Checkbox(value=True, label="auto-adjust", elem_id="morph_auto",
                                   info="move octave and loudness into the instrument's range")
                reverb = gr.Checkbox(value=True, label="reverb",
                                     info="the instrument's learned room (off: as in the plugin)")
            run, cancel, state = job_controls("Morph", "morph", "upload or record a sound, then press Morph")
        with gr.Column():
            audio_out, file_out = audio_result("output", "morph")
            plot = gr.Image(type="filepath", interactive=False, elem_id="morph_plot", show_label=False,
                            buttons=["download", "fullscreen"])
            gr.HTML(note("the figure: spectrograms of input and output; pitch and loudness of the "
                         "input, of what the model was fed (after auto-adjust), and of the output"))

    def on_morph(audio_path, key, mode_name, pitch_st, loudness_db, auto_on, reverb_on):
        yield from stream_job(
            studio.runner, studio.workspace, "morph",
            lambda job: morph(job, studio, audio_path, key, mode_name, pitch_st, loudness_db,
                              auto_on, reverb_on), 3, clear_on_start=True)

    run.click(on_morph, [audio_in, instrument, mode, pitch, loudness, auto, reverb],
              [state, audio_out, file_out, plot], concurrency_id="jobs", concurrency_limit=4,
              show_progress="minimal")
    cancel.click(lambda: studio.runner.cancel("morph"), None, None, queue=False)
    return instrument
