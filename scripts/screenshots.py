"""Screenshots of the studio's four tabs with real content, for the README.

    .venv/bin/python scripts/screenshots.py [--out docs] [--steps 400]

Starts the studio on a free loopback port with a temporary ddspkit home (your models and
runs are not touched), and drives Debian's Chromium (headless, `apt-get install chromium`)
as a musician would: a sung phrase morphed into the cello, a two-part MIDI file rendered
(beside FluidSynth when it is installed), a training on generated singing caught in progress
(then stopped, which saves it), and the instrument list that now holds it. Writes
``studio-morph.png``, ``studio-play.png``, ``studio-train.png`` and ``studio-instruments.png``
(1280 pixels wide, reduced to a 256-colour palette to stay small). About 2-4 minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ODE_MELODY = [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62]
ODE_BASS = [48, 43, 48, 43, 45, 41, 43, 43]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_inputs(folder: Path) -> tuple[Path, Path, Path]:
    """A sung phrase (44.1 kHz), a two-part MIDI file and eight sung takes to train on."""
    import pretty_midi
    import soundfile as sf

    from ddspkit.render.signals import sung_phrase

    voice = folder / "sung-phrase.wav"
    sf.write(voice, sung_phrase(sample_rate_hz=44100), 44100)
    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    beat_s = 0.6
    melody = pretty_midi.Instrument(program=40, name="melody")
    melody.notes = [pretty_midi.Note(velocity=70 + 3 * i, pitch=p - 12, start=i * beat_s,
                                     end=(i + 0.95) * beat_s) for i, p in enumerate(ODE_MELODY)]
    bass = pretty_midi.Instrument(program=42, name="bass")
    bass.notes = [pretty_midi.Note(velocity=60, pitch=p - 12, start=2 * i * beat_s,
                                   end=(2 * i + 1.9) * beat_s) for i, p in enumerate(ODE_BASS)]
    midi.instruments += [melody, bass]
    song = folder / "ode-two-parts.mid"
    midi.write(str(song))
    takes = folder / "singing"
    takes.mkdir()
    for i, transpose in enumerate([-12, -10, -8, -7, -5, -3, -2, 0]):
        sf.write(takes / f"take{i}.wav", sung_phrase(transpose=transpose, seed=i), 16000)
    return voice, song, takes


def upload(page, selector: str, path: Path) -> None:
    with page.expect_response(lambda r: "/gradio_api/upload" in r.url):
        page.locator(f"{selector} input[type=file]").set_input_files(str(path))
    time.sleep(0.5)


def wait_done(page, status: str) -> str:
    page.locator(f"{status} .status-ok, {status} .status-error").first.wait_for()
    text = page.inner_text(status)
    if "error:" in text:
        raise SystemExit(f"the studio said: {text}")
    return text


def shoot(page, path: Path) -> None:
    """A full-page screenshot, reduced to a palette PNG."""
    from PIL import Image

    page.mouse.move(0, 0)  # no button drawn as hovered
    time.sleep(1.0)  # let players and plots settle
    page.screenshot(path=str(path), full_page=True)
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path}: {image.width}x{image.height}, {path.stat().st_size / 1024:.0f} KB")


def run(out: Path, steps: int) -> None:
    from playwright.sync_api import sync_playwright

    from ddspkit.studio.app import start
    from ddspkit.studio.context import StudioSettings

    out.mkdir(parents=True, exist_ok=True)
    voice, song, takes = make_inputs(Path(tempfile.mkdtemp(prefix="ddspkit-shots-")))
    studio = start(StudioSettings(port=free_port()))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(600_000)
            page.goto(studio.url)

            upload(page, "#morph_input", voice)
            page.click("#morph_run")
            print("morph:", wait_done(page, "#morph_status"))
            page.locator("#morph_plot img").first.wait_for()
            shoot(page, out / "studio-morph.png")

            page.get_by_role("tab", name="Play").click()
            upload(page, "#play_midi", song)
            page.wait_for_selector("#play_parts input[type=checkbox]:checked")
            if page.locator("#play_compare input:not([disabled])").count():
                page.click("#play_compare input")
            page.click("#play_run")
            print("play:", wait_done(page, "#play_status"))
            page.locator("#play_plot img").first.wait_for()
            shoot(page, out / "studio-play.png")

            page.get_by_role("tab", name="Train").click()
            page.fill("#train_name input, #train_name textarea", "Singer")
            page.fill("#train_folder input, #train_folder textarea", str(takes))
            page.fill("#train_steps textarea, #train_steps input", str(steps))
            page.click("#train_check")
            print("data:", wait_done(page, "#train_status"))
            page.click("#train_start")
            every = min(250, max(1, steps // 8))
            while True:  # in progress, with two checkpoints on the curve and a preview
                found = re.search(r"step (\d+)/", page.inner_text("#train_status"))
                if found and int(found.group(1)) >= 2 * every + 5:
                    break
                time.sleep(1.0)
            page.locator("#train_preview audio[src]").first.wait_for(state="attached")
            shoot(page, out / "studio-train.png")
            page.click("#train_stop")
            page.wait_for_selector("#train_status:has-text('stopped at step')")

            page.get_by_role("tab", name="Instruments").click()
            page.wait_for_selector("#lib_table:has-text('Singer')")
            shoot(page, out / "studio-instruments.png")
            browser.close()
    finally:
        studio.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    parser.add_argument("--steps", type=int, default=400, help="the training's total steps")
    args = parser.parse_args()
    os.environ["DDSPKIT_HOME"] = tempfile.mkdtemp(prefix="ddspkit-shots-home-")
    run(args.out, args.steps)


if __name__ == "__main__":
    main()
