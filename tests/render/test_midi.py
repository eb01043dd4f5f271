"""MIDI rendering: notes on pitch, bends, dynamics, silence, polyphony, compare."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest

import ddspkit
from conftest import cents
from ddspkit.analysis.features import extract_features
from ddspkit.audio import load_audio
from ddspkit.midi import Note

RATE = 16000
# A held-out melody (not from the training chorales), varied lengths and velocities.
MELODY = [48, 50, 52, 53, 55, 57, 55, 53, 52, 50, 48, 43, 45, 47, 48]


def write_midi(path, parts, tempo=90.0, bends=(), controls=()):
    """parts: list of (name, program, [(pitch, start, end, velocity)])."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for index, (name, program, notes) in enumerate(parts):
        inst = pretty_midi.Instrument(program, name=name)
        inst.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for p, s, e, v in notes]
        if index == 0:
            inst.pitch_bends = [pretty_midi.PitchBend(b, t) for t, b in bends]
            inst.control_changes = [pretty_midi.ControlChange(n, v, t) for t, n, v in controls]
        pm.instruments.append(inst)
    pm.write(str(path))
    return path


@pytest.fixture(scope="module")
def cello():
    return ddspkit.load_model("Cello")


def melody_notes():
    notes, t = [], 0.0
    for i, pitch in enumerate(MELODY):
        length = 0.8 if i % 3 == 0 else 0.5
        notes.append((pitch, t, t + 0.95 * length, 60 + 4 * i))
        t += length
    return notes


def test_rendered_notes_sit_on_pitch(cello, tmp_path):
    notes = melody_notes()
    path = write_midi(tmp_path / "melody.mid", [("cello", 42, notes)])
    result = cello.render_midi(path, sample_rate_hz=RATE)
    # a monophonic line: slurred notes share a voice; a note after a gap takes a silent voice
    # (so that it starts at its own sample) while the last one's release fades on the other
    assert len(result.voices) == 2
    feats = extract_features(result.audio)
    hits = total = 0
    for pitch, start, end, _ in notes:
        frames = slice(int((start + 0.06) * 50), int((end - 0.03) * 50))
        error = cents(feats.f0_hz[frames], 440 * 2 ** ((pitch - 69) / 12))
        hits += int(np.sum((np.abs(error) < 20) & feats.voiced[frames]))
        total += len(error)
    assert hits / total >= 0.95


def test_pitch_bend_is_followed(cello, tmp_path):
    path = write_midi(tmp_path / "bend.mid", [("cello", 42, [(50, 0.0, 3.0, 90)])],
                      bends=[(0.0, 0), (1.5, 8191)])
    feats = extract_features(cello.render_midi(path, sample_rate_hz=RATE).audio)
    before = np.median(feats.f0_hz[20:70])
    after = np.median(feats.f0_hz[90:145])
    assert cents(after, before) == pytest.approx(200, abs=20)
    assert abs(cents(before, 440 * 2 ** ((50 - 69) / 12))) < 20


def level_db(audio, start_s, end_s):
    segment = audio[int(start_s * RATE) : int(end_s * RATE)]
    return 10 * np.log10(np.mean(segment**2) + 1e-20)


def test_velocity_and_expression_raise_the_level_monotonically(cello, tmp_path):
    notes = [(50, 1.5 * i, 1.5 * i + 1.0, v) for i, v in enumerate([20, 50, 80, 110, 127])]
    audio = cello.render_midi(write_midi(tmp_path / "vel.mid", [("c", 42, notes)]),
                              sample_rate_hz=RATE, reverb=False).audio
    levels = [level_db(audio, s + 0.3, e - 0.1) for _, s, e, _ in notes]
    assert all(b > a + 0.5 for a, b in zip(levels, levels[1:], strict=False)), levels
    cc11 = [(1.5 * i, 11, v) for i, v in enumerate([30, 60, 90, 127])]
    notes = [(50, 1.5 * i, 1.5 * i + 1.0, 100) for i in range(4)]
    audio = cello.render_midi(write_midi(tmp_path / "cc11.mid", [("c", 42, notes)], controls=cc11),
                              sample_rate_hz=RATE, reverb=False).audio
    levels = [level_db(audio, s + 0.3, e - 0.1) for _, s, e, _ in notes]
    assert all(b > a + 0.5 for a, b in zip(levels, levels[1:], strict=False)), levels


def test_silence_between_notes_once_the_release_has_ended(cello, tmp_path):
    notes = [(48, 0.0, 1.0, 100), (52, 3.5, 4.5, 100)]
    path = write_midi(tmp_path / "gap.mid", [("c", 42, notes)])
    release_end = 1.0 + 0.25
    dry = cello.render_midi(path, sample_rate_hz=RATE, reverb=False).audio
    assert level_db(dry, release_end + 0.05, 3.45) < -60
    wet = cello.render_midi(path, sample_rate_hz=RATE).audio  # the learned room rings on a bit
    assert level_db(wet, release_end + 1.5, 3.45) < -60
    assert level_db(wet, 0.3, 0.9) > -40  # while the notes themselves sound


def test_sustain_pedal_holds_notes(cello, tmp_path):
    notes = [(50, 0.0, 0.5, 100)]
    path = write_midi(tmp_path / "pedal.mid", [("c", 42, notes)],
                      controls=[(0.0, 64, 127), (2.0, 64, 0)])
    audio = cello.render_midi(path, sample_rate_hz=RATE, reverb=False).audio
    assert level_db(audio, 1.2, 1.8) > -45  # still sounding after the key was released


def test_four_voice_chorale_renders_every_line(cello, tmp_path):
    # Soprano, alto, tenor, bass as four parts; three sustained chords.
    chords = [(72, 67, 64, 48), (74, 69, 65, 50), (76, 72, 67, 48)]
    parts = []
    for voice, name in enumerate(["soprano", "alto", "tenor", "bass"]):
        notes = [(chord[voice] - 12, 1.5 * i, 1.5 * i + 1.4, 90) for i, chord in enumerate(chords)]
        parts.append((name, 42, notes))
    result = cello.render_midi(write_midi(tmp_path / "chorale.mid", parts), sample_rate_hz=RATE)
    played = {name: 0 for name, _, _ in parts}
    for name, n_notes in result.voices:
        played[name] += n_notes
    assert played == {name: 3 for name, _, _ in parts}  # every note of every line
    assert np.abs(result.audio).max() <= 0.99
    for i, chord in enumerate(chords):
        segment = result.audio[int((1.5 * i + 0.4) * RATE) : int((1.5 * i + 1.2) * RATE)]
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
        freqs = np.fft.rfftfreq(len(segment), 1 / RATE)
        floor = np.median(spectrum)
        for pitch in chord:
            f0 = 440 * 2 ** ((pitch - 12 - 69) / 12)
            band = np.abs(freqs - f0) < f0 * 0.015
            assert spectrum[band].max() > 20 * floor, (i, pitch)


def test_compare_writes_both_renderings_figure_and_scores(cello, tmp_path):
    path = write_midi(tmp_path / "line.mid", [("cello", 42, melody_notes())])
    from ddspkit.render.compare import compare

    result = compare(cello, path, tmp_path)
    for p in (result.model_path, result.sampler_path, result.figure_path):
        assert p.exists() and p.stat().st_size > 10_000
    a, _, _ = ddspkit.audio.load_audio(result.model_path)
    b, _, _ = ddspkit.audio.load_audio(result.sampler_path)
    level_gap = 10 * np.log10(np.mean(a**2) / np.mean(b**2))
    assert abs(level_gap) < 0.5  # level-matched
    assert not result.polyphonic and result.notes is None
    assert result.f0_l1_semitones < 0.3  # same notes


def test_compare_shows_the_profile_beside_each_rendering_s_expression(cello, tmp_path):
    """Three long notes after rests: each shows its vibrato, attack and release. The model plays
    them drawn from its profile; FluidR3's cello samples carry a vibrato of their own."""
    from ddspkit.analysis.measure import measure_expression

    notes = [(48, 0.0, 1.6, 90), (55, 2.0, 3.6, 90), (52, 4.0, 5.6, 90)]
    path = write_midi(tmp_path / "long notes.mid", [("cello", 42, notes)])
    result = subprocess.run([sys.executable, "-m", "ddspkit.cli", "compare", str(path), "-m", "Cello",
                             "-o", str(tmp_path), "--expression", "learned"], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    figure = tmp_path / "long notes-expression.png"
    assert f"  expression   {figure}" in result.stdout.splitlines()
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.split("│")[1:-1]]
                                              for line in result.stdout.splitlines()
                                              if line.count("│") == 5)}
    profile = cello.info.expression_profile
    assert rows["vibrato rate"][0] == (f"{profile.vibrato_rate_hz.median:.2f} Hz "
                                       f"(learned, {profile.vibrato_rate_hz.n_notes} notes)")
    # the sampled rendering's vibrato, as measured on the file compare wrote, on the MIDI's notes
    sampled, _, _ = ddspkit.audio.load_audio(tmp_path / "long notes-soundfont.wav")
    score = [Note(p, s, e, v) for p, s, e, v in notes]
    sampled_hz = measure_expression(sampled, score).median("vibrato_rate_hz")
    assert 4.0 < sampled_hz < 7.0
    assert rows["vibrato rate"][2].startswith(f"{sampled_hz:.2f} Hz (")
    assert rows["attack (10-90 %, after a rest)"][2].endswith("(3 notes)")
    # the model played its profile: its vibrato is the profile's, within 1 Hz (issue 19)
    model_hz = float(rows["vibrato rate"][1].split(" Hz")[0])
    assert abs(model_hz - profile.vibrato_rate_hz.median) < 1.0


@pytest.mark.slow
def test_compare_scores_a_chorale_by_its_notes(cello, tmp_path):
    from test_transcription import chorale_notes

    path = write_midi(tmp_path / "chorale.mid", [("four voices", 42, chorale_notes())])
    result = subprocess.run([sys.executable, "-m", "ddspkit.cli", "compare", str(path), "-m",
                             "Cello", "-o", str(tmp_path)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert "note F1" in result.stdout and "f0 L1" not in result.stdout
    from ddspkit.render.compare import compare

    scores = compare(cello, path, tmp_path)
    assert scores.polyphonic and scores.f0_l1_semitones is None
    model, sampled = scores.notes["model"], scores.notes["sample-based"]
    assert model.n_reference == sampled.n_reference == len(chorale_notes())
    # The model's cellos play the chorale's notes at least as findably as the sampled cellos.
    assert model.f1 > 0.6 and model.f1 >= sampled.f1, (model, sampled)
    assert 0 < model.onset_lag_s < 0.1


def test_note_scores_agree_with_mir_eval():
    import mir_eval

    from ddspkit.render.evaluate import note_scores

    rng = np.random.default_rng(0)
    reference = [Note(int(rng.integers(50, 60)), t, t + 0.3, 90) for t in np.arange(0, 20, 0.25)]
    estimated = [Note(n.pitch + int(rng.random() < 0.1), n.start_s + rng.normal(0, 0.04),
                      n.end_s, 90) for n in reference if rng.random() < 0.9]
    ours = note_scores(reference, estimated, remove_lag=False)

    def arrays(notes):
        return (np.array([[n.start_s, n.end_s] for n in notes]),
                np.array([440 * 2 ** ((n.pitch - 69) / 12) for n in notes]))

    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        *arrays(reference), *arrays(estimated), offset_ratio=None)
    assert (ours.precision, ours.recall) == pytest.approx((precision, recall), abs=1e-9)
    assert 0.3 < ours.f1 < 0.95 and ours.f1 == pytest.approx(f1)
    # A steady 70 ms lateness is measured and removed.
    late = [Note(n.pitch, n.start_s + 0.07, n.end_s, 90) for n in reference]
    assert note_scores(reference, late).onset_lag_s == pytest.approx(0.07)
    assert note_scores(reference, late).f1 == 1.0 and note_scores(reference, late, remove_lag=False).f1 == 0


def test_compare_without_fluidsynth_says_what_to_install(tmp_path):
    path = write_midi(tmp_path / "x.mid", [("c", 42, [(50, 0, 1, 90)])])
    env = os.environ.copy()
    env["PATH"] = os.path.dirname(sys.executable)  # python and ddspkit, no fluidsynth
    result = subprocess.run([sys.executable, "-m", "ddspkit.cli", "compare", str(path), "-m",
                             "Cello"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "apt-get install fluidsynth" in lines[0]


def test_render_cli_lists_parts_and_rejects_bad_midi(tmp_path):
    path = write_midi(tmp_path / "two.mid", [("violin", 40, [(70, 0, 1, 90)]),
                                             ("cello", 42, [(50, 0, 1, 90)])])
    listing = subprocess.run([sys.executable, "-m", "ddspkit.cli", "render", str(path), "-m",
                              "Cello", "--list"], capture_output=True, text=True, timeout=300)
    assert "0: violin" in listing.stdout and "1: cello" in listing.stdout
    out = tmp_path / "cello.wav"
    done = subprocess.run([sys.executable, "-m", "ddspkit.cli", "render", str(path), "-m", "Cello",
                           "--part", "cello", "-o", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.exists()
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    failed = subprocess.run([sys.executable, "-m", "ddspkit.cli", "render", str(bad), "-m", "Cello",
                             "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1 and "bad.mid" in failed.stderr and "Traceback" not in failed.stderr


def test_render_cli_plays_learned_expression_or_a_profile_file_and_names_a_bad_one(tmp_path):
    """--expression learned draws each note from the model's profile (the plain default shapes
    every note alike); a profile file that is not one is named in one line."""
    path = write_midi(tmp_path / "long.mid", [("cello", 42, [(50, 0.0, 2.0, 90), (53, 2.5, 4.5, 90)])])
    rendered = {}
    for choice in ("plain", "learned"):
        out = tmp_path / f"{choice}.wav"
        done = subprocess.run([sys.executable, "-m", "ddspkit.cli", "render", str(path), "-m", "Cello",
                               "--expression", choice, "-o", str(out), "--sample-rate", "16000",
                               "--no-reverb"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        rendered[choice] = load_audio(out)[0]
    plain, learned = rendered["plain"], rendered["learned"]
    n = min(len(plain), len(learned))
    difference_db = 10 * np.log10(np.sum((learned[:n] - plain[:n]) ** 2) / np.sum(plain[:n] ** 2))
    assert difference_db > -20  # another attack, release and vibrato: another performance
    bad = tmp_path / "player.json"
    bad.write_text("[1, 2, 3]")
    failed = subprocess.run([sys.executable, "-m", "ddspkit.cli", "render", str(path), "-m", "Cello",
                             "--expression", str(bad), "-o", str(tmp_path / "x.wav")],
                            capture_output=True, text=True, timeout=300)
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert failed.returncode == 1 and len(lines) == 1 and "player.json" in lines[0], failed.stderr
