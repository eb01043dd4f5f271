"""The studio end to end, in headless Chromium: what a musician clicks, what comes out.

Each test starts the studio on a free loopback port (tests/studio_support.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import PHRASE, cents
from ddspkit.audio import resample
from ddspkit.config import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from ddspkit.demo import sung_phrase
from ddspkit.features import extract_features
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


def test_an_empty_file_and_a_corrupt_midi_file_each_give_one_line(page, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    upload(page, "#morph_input", empty)
    kind, text = press(page, "#morph_run", "#morph_status")
    assert kind == "error" and text.startswith("error: empty.wav: cannot read audio"), text

    page.get_by_role("tab", name="Play").click()
    broken = tmp_path / "song.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01garbage")
    upload(page, "#play_midi", broken)
    page.wait_for_selector("#play_status .status-error")
    assert page.inner_text("#play_status").startswith("error: song.mid: not a readable MIDI file")
    kind, text = press(page, "#play_run", "#play_status")  # and rendering says why it cannot
    assert kind == "error" and "no part ticked" in text, text


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

    output, rate_hz = sf.read(download(page, "#play_file", tmp_path), dtype="float32")
    assert rate_hz == 44100
    last_end_s = max(end for _, _, end, _ in PHRASE)
    expected_s = last_end_s + 0.25 + 1.0  # the release and the tail after the last note
    assert abs(len(output) / rate_hz - expected_s) < 0.05
    played = features_16k(output, rate_hz)
    for pitch, start_s, end_s, _ in PHRASE:  # the middle of every note, on the note
        frames = slice(int((start_s + 0.15) * FRAME_RATE_HZ), int((end_s - 0.1) * FRAME_RATE_HZ))
        f0_hz = played.f0_hz[frames][played.voiced[frames]]
        assert len(f0_hz) > 3
        target_hz = 440 * 2 ** ((pitch - 24 - 69) / 12)
        assert abs(np.median(cents(f0_hz, target_hz))) < 30, (pitch, np.median(f0_hz))
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

    page.get_by_role("tab", name="Morph").click()
    page.click("#morph_instrument input")
    assert "Singer (yours)" in page.locator("ul[role=listbox]").inner_text()


def test_instruments_lists_models_and_exports_one_for_the_plugin(page, tmp_path):
    page.get_by_role("tab", name="Instruments").click()
    listing = page.inner_text("#lib_table")
    for name in ("Cello", "Violin", "Flute", "Trumpet"):
        assert name in listing
    assert "data/cello/train" in page.inner_text("#lib_details")  # the provenance
    kind, text = press(page, "#lib_export", "#lib_status")
    assert kind == "ok" and "passes the plugin's checks" in text, text
    exported = download(page, "#lib_file", tmp_path)
    assert exported.name == "Cello.tflite" and exported.stat().st_size > 1_000_000
