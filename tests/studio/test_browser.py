"""The studio end to end, in headless Chromium: what a musician clicks, what comes out.

Each test starts the studio on a free loopback port (tests/studio_support.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, PHRASE, cents
from ddspkit.analysis.features import extract_features
from ddspkit.audio import resample
from ddspkit.config import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from ddspkit.render.signals import sung_phrase
from studio_support import download, only_local, player, press, upload

pytest_plugins = ["studio_fixtures"]  # the studio, chromium and page fixtures


def features_16k(audio: np.ndarray, rate_hz: int):
    return extract_features(resample(audio.astype(np.float32), rate_hz, SAMPLE_RATE_HZ))


def test_morph_plays_the_input_melody_in_the_instrument(page, studio, outbound, tmp_path):
    rate_hz = 44100
    voice = sung_phrase(sample_rate_hz=rate_hz)
    source = tmp_path / "my voice [take 1].wav"  # brackets must print as they are
    sf.write(source, voice, rate_hz)
    upload(page, "#morph_input", source)
    page.click("#morph_auto input")  # auto-adjust off: no octave shift, the input's own pitch
    kind, text = press(page, "#morph_run", "#morph_status")
    assert kind == "ok", text
    assert "my voice [take 1].wav -> my_voice_take_1-as-Cello.wav" in text
    assert player(page, "#morph_output").endswith(".wav")
    assert "/gradio_api/file=" in page.locator("#morph_plot img").first.get_attribute("src")

    output, out_rate_hz = sf.read(download(page, "#morph_file", tmp_path), dtype="float32")
    assert out_rate_hz == rate_hz
    assert len(output) == len(voice)  # the input's length, at the input's rate
    assert 0.01 < np.abs(output).max() <= 1.0
    heard, played = features_16k(voice, rate_hz), features_16k(output, rate_hz)
    both = heard.voiced & played.voiced & (heard.power_db > -40)
    assert both.mean() > 0.5
    off_cents = np.abs(cents(played.f0_hz[both], heard.f0_hz[both]))
    assert np.median(off_cents) < 30, np.median(off_cents)
    assert only_local(page.requests, studio.url) == []  # nothing left this computer: not the page,
    assert outbound == []  # nor the server (no analytics, no version check)


def test_a_recording_from_the_microphone_is_morphed(playwright_driver, studio, tmp_path):
    from studio_support import CHROMIUM

    voice = tmp_path / "singer.wav"  # what the fake microphone hears
    sf.write(voice, sung_phrase(), SAMPLE_RATE_HZ)
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=[
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={voice}"])
    try:
        page = browser.new_context(permissions=["microphone"]).new_page()
        page.goto(studio.url)
        page.locator("#morph_input button[aria-label='Record audio']").click()
        page.locator("#morph_input button:has-text('Record')").first.click()
        page.wait_for_timeout(3000)
        with page.expect_response(lambda r: "/gradio_api/upload" in r.url):
            page.locator("#morph_input button:visible:has-text('Stop')").first.click()
        kind, text = press(page, "#morph_run", "#morph_status")
        assert kind == "ok", text
        output, rate_hz = sf.read(download(page, "#morph_file", tmp_path))
        assert 2.0 < len(output) / rate_hz < 5.0 and np.abs(output).max() > 0.01
    finally:
        browser.close()


def test_a_bad_upload_shows_one_line_and_the_next_morph_works(page, tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("these are my lyrics, not audio\n" * 50)
    upload(page, "#morph_input", fake)
    kind, text = press(page, "#morph_run", "#morph_status")
    assert kind == "error"
    assert text.startswith("error: notes.wav: cannot read audio"), text
    assert "Traceback" not in page.inner_text("body") and len(text.splitlines()) == 1

    real = tmp_path / "real.wav"
    sf.write(real, sung_phrase()[: SAMPLE_RATE_HZ * 3], SAMPLE_RATE_HZ)
    upload(page, "#morph_input", real)
    kind, text = press(page, "#morph_run", "#morph_status")
    assert kind == "ok", text
    output, _ = sf.read(download(page, "#morph_file", tmp_path))
    assert len(output) == SAMPLE_RATE_HZ * 3


def test_an_empty_file_gives_one_line(page, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    upload(page, "#morph_input", empty)
    kind, text = press(page, "#morph_run", "#morph_status")
    assert kind == "error" and text.startswith("error: empty.wav: cannot read audio"), text


def test_a_corrupt_midi_and_one_without_notes_each_say_so_on_upload_and_on_render(page, tmp_path):
    import pretty_midi

    page.get_by_role("tab", name="Play").click()
    broken = tmp_path / "song.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01garbage")
    silent = tmp_path / "tempo only.mid"
    midi = pretty_midi.PrettyMIDI()
    midi.instruments.append(pretty_midi.Instrument(program=0, name="empty track"))
    midi.write(str(silent))
    for path, expected in ((broken, "error: song.mid: not a readable MIDI file"),
                           (silent, "error: tempo only.mid: no notes in this MIDI file")):
        page.eval_on_selector_all("#play_status .studio-status", "ls => ls.forEach(l => l.remove())")
        upload(page, "#play_midi", path)
        page.wait_for_selector("#play_status .status-error")
        shown = page.inner_text("#play_status")
        assert shown.startswith(expected) and len(shown.splitlines()) == 1, shown
        kind, text = press(page, "#play_run", "#play_status")  # Render says the same, not "tick"
        assert kind == "error" and text.startswith(expected) and len(text.splitlines()) == 1, text


def test_a_silent_file_morphs_to_silence_with_a_figure_and_the_old_result_goes(page, tmp_path):
    real = tmp_path / "phrase.wav"
    sf.write(real, sung_phrase()[: SAMPLE_RATE_HZ * 2], SAMPLE_RATE_HZ)
    upload(page, "#morph_input", real)
    assert press(page, "#morph_run", "#morph_status")[0] == "ok"
    first = page.locator("#morph_file a[href*='/gradio_api/file=']").first.get_attribute("href")

    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(30 * 44100, np.float32), 44100)
    upload(page, "#morph_input", silence)
    page.eval_on_selector_all("#morph_status .studio-status",
                              "ls => ls.forEach(l => l.classList.add('seen'))")
    page.click("#morph_run")
    # while the new morph runs, the previous result is gone (never taken for the new one)
    page.wait_for_selector(f"#morph_file a[href='{first}']", state="detached", timeout=20_000)
    page.wait_for_selector("#morph_status .status-ok:not(.seen), #morph_status .status-error:not(.seen)")
    lines = page.inner_text("#morph_status").splitlines()
    assert lines[0].startswith("silence.wav -> silence-as-Cello.wav: 30.0 s"), lines
    assert lines[1:] == ["warning: silence.wav: the input is silent (no sample above -60 dB), so the "
                         "output is silent too"], lines
    assert "/gradio_api/file=" in page.locator("#morph_plot img").first.get_attribute("src")
    output, _ = sf.read(download(page, "#morph_file", tmp_path), dtype="float32")
    assert len(output) == 30 * 44100 and np.abs(output).max() < 1e-3  # silent: -60 dBFS and below


def phrase_midi(path):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    line = pretty_midi.Instrument(program=42, name="melody")
    line.notes = [pretty_midi.Note(velocity=v, pitch=p - 24, start=s, end=e) for p, s, e, v in PHRASE]
    midi.instruments.append(line)
    midi.write(str(path))
    return path


def test_play_renders_midi_on_its_notes_beside_fluidsynth(page, studio, tmp_path):
    page.get_by_role("tab", name="Play").click()
    upload(page, "#play_midi", phrase_midi(tmp_path / "phrase.mid"))
    page.wait_for_selector("#play_parts input[type=checkbox]:checked")
    assert "0: melody (program 42, 9 notes)" in page.inner_text("#play_parts")
    page.click("#play_compare input")
    kind, text = press(page, "#play_run", "#play_status")
    assert kind == "ok", text
    assert "phrase.mid -> phrase-Cello.wav" in text
    assert player(page, "#play_output").endswith(".wav")
    assert "/gradio_api/file=" in page.locator("#play_plot img").first.get_attribute("src")
    assert player(page, "#play_sampled").endswith("phrase-soundfont.wav")
    assert "f0 L1" in page.inner_text("#play_table")
    # the Cello's expression profile beside what each rendering played, in a table and a figure
    expression = page.inner_text("#play_expression_table")
    assert "Cello's profile" in expression and "vibrato rate" in expression, expression
    assert "/gradio_api/file=" in page.locator("#play_expression_plot img").first.get_attribute("src")

    output, rate_hz = sf.read(download(page, "#play_file", tmp_path), dtype="float32")
    assert rate_hz == 44100
    last_end_s = max(end for _, _, end, _ in PHRASE)
    expected_s = last_end_s + 0.25 + 1.0  # the (plain) release and the tail after the last note
    assert abs(len(output) / rate_hz - expected_s) < 0.05
    played = features_16k(output, rate_hz)
    for pitch, start_s, end_s, _ in PHRASE:  # the middle of every note, on the note
        frames = slice(int((start_s + 0.15) * FRAME_RATE_HZ), int((end_s - 0.1) * FRAME_RATE_HZ))
        f0_hz = played.f0_hz[frames][played.voiced[frames]]
        assert len(f0_hz) > 3
        target_hz = 440 * 2 ** ((pitch - 24 - 69) / 12)
        assert abs(np.median(cents(f0_hz, target_hz))) < 30, (pitch, np.median(f0_hz))

    # played as the player of the Cello's recordings: their releases, as ramps calibrated on
    # the model (ddspkit.render.calibration), set how long the sound lasts
    page.get_by_label("learned from the recordings").check()
    kind, text = press(page, "#play_run", "#play_status")
    assert kind == "ok", text
    learned, _ = sf.read(download(page, "#play_file", tmp_path), dtype="float32")
    from ddspkit.io.models import load_model
    from ddspkit.io.profiles import model_expression
    from ddspkit.render.calibration import calibrated

    cello = load_model("Cello")
    expression = calibrated(model_expression(cello.info, "learned"), cello.instrument, cello.info.statistics)
    release_s = expression.longest_release_s()
    assert abs(len(learned) / rate_hz - (last_end_s + release_s + 1.0)) < 0.05
    assert only_local(page.requests, studio.url) == []


@pytest.mark.slow
def test_training_shows_progress_stops_resumes_and_lists_the_model(page, sung_dataset):
    page.get_by_role("tab", name="Train").click()
    page.fill("#train_name input, #train_name textarea", "Singer")
    page.fill("#train_folder input, #train_folder textarea", str(sung_dataset))
    page.fill("#train_steps textarea, #train_steps input", "12")
    kind, text = press(page, "#train_check", "#train_status")
    assert kind == "ok", text
    assert "skipped" in text and "corrupt.wav" in text  # the damaged take is named
    assert "8 read, 1 skipped" in page.inner_text("#train_summary")

    page.click("#train_start")
    page.wait_for_selector("#train_status:has-text('step ')")  # live progress: step, loss, time
    assert "loss" in page.inner_text("#train_status")
    page.click("#train_stop")
    page.wait_for_selector("#train_status:has-text('stopped at step')")
    stopped = page.inner_text("#train_status")
    stopped_step = int(stopped.split("stopped at step ")[1].split(";")[0])
    assert 1 <= stopped_step < 12, stopped

    page.click("#train_resume")
    page.wait_for_selector("#train_status:has-text('trained 12 steps')", timeout=600_000)
    assert "held-out-model-step" in player(page, "#train_preview")  # the held-out preview
    assert page.locator("#train_curve canvas, #train_curve svg").count() > 0  # the loss curve
    # the held-out series is drawn on this page, opened before the run (no reload): a line
    # through its checkpoints in its own colour
    page.wait_for_function(HELD_OUT_LINE_DRAWN)

    page.get_by_role("tab", name="Morph").click()
    page.click("#morph_instrument input")
    assert "Singer (yours)" in page.locator("ul[role=listbox]").inner_text()


def test_instruments_lists_models_and_exports_one_for_the_plugin(page, tmp_path):
    page.get_by_role("tab", name="Instruments").click()
    page.wait_for_selector("#lib_table th")
    widths = page.evaluate("""() => {
        const table = document.querySelector('#lib_table table');
        const last = [...document.querySelectorAll('#lib_table th')].pop();
        return [table.scrollWidth, table.clientWidth, last.getBoundingClientRect().right,
                document.querySelector('#lib_table').getBoundingClientRect().right]; }""")
    assert widths[0] <= widths[1] + 1 and widths[2] <= widths[3] + 1, widths  # no column cut off
    listing = page.inner_text("#lib_table")
    for name in ("Cello", "Violin", "Flute", "Trumpet"):
        assert name in listing
    assert "data/cello/train" in page.inner_text("#lib_details")  # the provenance
    profile = page.inner_text("#lib_profile")  # how it plays MIDI with 'learned' expression
    assert "vibrato rate" in profile and "learned" in profile and "the literature's" not in profile, profile
    kind, text = press(page, "#lib_export", "#lib_export_status")  # in the export section
    assert kind == "ok" and "passes the plugin's checks" in text, text
    exported = download(page, "#lib_file", tmp_path)
    assert exported.name == "Cello.tflite" and exported.stat().st_size > 1_000_000


def status_texts_until(page, selector: str, done: str, timeout_s: float = 300) -> list[str]:
    """Every text the status line showed, polled, until one matches the regular expression
    ``done``."""
    import re
    import time

    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = page.inner_text(selector)
        if not seen or text != seen[-1]:
            seen.append(text)
        if re.search(done, text):
            return seen
        assert "error:" not in text, text
        time.sleep(0.2)
    raise AssertionError(f"'{done}' never shown; saw {seen[-5:]}")


@pytest.mark.slow
def test_start_and_resume_with_every_field_at_its_default_train(page, studio, chromium, sung_dataset):
    """As a musician would: a name and a folder, every other field as shown, Start; Stop; the
    studio restarts; the name alone, Resume. An old import named 'Cello' (before names were
    checked) sits in the user's folder: it must not take part in choosing the start, and the
    page deletes it."""
    import shutil

    from ddspkit import paths
    from ddspkit.io.modelfile import read_info
    from ddspkit.io.models import bundled_model, user_model_path
    from studio_support import start_studio

    paths.models_dir().mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / "CelloNotebook.tflite",
                    paths.models_dir() / "Cello.tflite")
    page.get_by_role("tab", name="Train").click()
    steps = page.locator("#train_steps textarea, #train_steps input")
    assert steps.input_value() == "" and "the recipe's" in steps.get_attribute("placeholder")
    page.fill("#train_name input, #train_name textarea", "Singer")
    page.fill("#train_folder input, #train_folder textarea", str(sung_dataset))
    page.click("#train_start")
    seen = status_texts_until(page, "#train_status", r"step \d+/1000")
    import re

    choosing = [t for t in seen if re.search(r"choosing the starting model: scoring \w+ \(\d+/12\)", t)]
    assert choosing, seen  # each candidate named while the start is being chosen
    began = seen[-1]
    chosen = began.split(" from ")[1].split(":")[0]
    assert bundled_model(chosen) is not None, began  # named on every step, a bundled model
    page.click("#train_stop")
    page.wait_for_selector("#train_status:has-text('stopped at step')")
    start = read_info(user_model_path("Singer")).provenance["start"]
    assert start["model"] == chosen and start["file"] == chosen  # the bundled file, by name
    assert start["candidate_losses"]["Cello"] is not None  # the bundled Cello was scored

    studio.close()  # the studio restarts; a new page opens on it
    again = start_studio()
    try:
        fresh = chromium.new_page()
        fresh.set_default_timeout(90_000)
        fresh.goto(again.url)
        fresh.get_by_role("tab", name="Train").click()
        fresh.fill("#train_name input, #train_name textarea", "Singer")
        fresh.click("#train_resume")
        seen = status_texts_until(fresh, "#train_status", r"step \d+/1000")
        # said until the first step (a slow machine replaces the click's answer before a poll)
        assert any("resuming Singer" in t for t in seen), seen
        stopped_at = int(page_step(seen[-1]))
        assert stopped_at > 1 and f"training Singer from {chosen}: step" in seen[-1], seen[-1]
        fresh.click("#train_stop")
        fresh.wait_for_selector("#train_status:has-text('stopped at step')")

        fresh.get_by_role("tab", name="Instruments").click()
        fresh.click("#lib_instrument input")
        fresh.locator("ul[role=listbox] li", has_text="Cello (yours, DDSP-VST)").click()
        fresh.click("#lib_confirm input")
        fresh.click("#lib_delete")
        fresh.wait_for_selector("#lib_manage_status .status-ok")
        assert "deleted 'Cello' (Cello.tflite)" in fresh.inner_text("#lib_manage_status")
        assert not (paths.models_dir() / "Cello.tflite").exists()
        assert "Cello (yours" not in fresh.inner_text("#lib_table")
    finally:
        again.close()


def page_step(text: str) -> str:
    return text.split("step ")[1].split("/")[0]


def test_the_held_out_curve_appears_live_beside_a_training_curve_already_drawn(page, monkeypatch):
    """A page open since before the run: the training curve comes first, the held-out points
    only at the first checkpoint (steps later, within the training curve's range). They must
    be drawn when they come, not only after a reload."""
    from ddspkit.studio.training_session import Snapshot, TrainingSession

    training = [(step, 9.0 - step / 50, "training") for step in range(0, 200, 10)]
    shown = {"now": Snapshot("training", "Singer", "training Singer: step 190/1000", 0.19, 1, training)}
    monkeypatch.setattr(TrainingSession, "snapshot", lambda self: shown["now"])
    page.get_by_role("tab", name="Train").click()
    page.locator("#train_curve svg path[stroke='#4c78a8']").first.wait_for(state="attached")
    page.wait_for_timeout(1500)  # the plot is drawn with the training series alone
    held_out = [(125, 7.0, "held-out"), (190, 6.5, "held-out")]
    shown["now"] = Snapshot("training", "Singer", "training Singer: step 190/1000", 0.19, 2,
                            training + held_out)
    page.wait_for_function(HELD_OUT_LINE_DRAWN, timeout=10_000)


HELD_OUT_LINE_DRAWN = """() => [...document.querySelectorAll("#train_curve svg path[stroke='#f58518']")]
    .some(p => (p.getAttribute('d') || '').includes('L'))"""  # a line through 2+ points
