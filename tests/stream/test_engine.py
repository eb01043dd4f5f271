"""The streaming engines: latency as declared, the same sound as offline, robust to bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pretty_midi
import pytest
import torch

import ddspkit
from conftest import FIXTURES, PHRASE, cents
from ddspkit.analysis.features import extract_features
from ddspkit.analysis.onsets import onset_lags
from ddspkit.audio import resample
from ddspkit.midi.curves import CONTROL_LEAD_FRAMES
from ddspkit.render.signals import sung_phrase
from ddspkit.stream import EffectEngine, StreamTracker, SynthEngine
from ddspkit.stream.files import stream_midi_file
from ddspkit.stream.resample import StreamResampler
from ddspkit.stream.reverb import StreamReverb
from ddspkit.stream.voices import VoiceBank


@pytest.fixture(scope="module")
def cello():
    return ddspkit.load_model("Cello", "cpu")


def stream_effect(engine: EffectEngine, audio: np.ndarray, block: int) -> np.ndarray:
    """Everything the engine outputs for ``audio`` and enough silence to hear its end."""
    padded = np.concatenate([audio, np.zeros(engine.latency_samples + block, np.float32)])
    return np.concatenate([engine.process(padded[i : i + block]) for i in range(0, len(padded), block)])


def error_db(output: np.ndarray, reference: np.ndarray) -> float:
    n = min(len(output), len(reference))
    return float(10 * np.log10(np.sum((output[:n] - reference[:n]) ** 2) / np.sum(reference[:n] ** 2)
                               + 1e-30))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def offline_twin(instrument, engine) -> np.ndarray:
    """The offline rendering (16 kHz, with the room) of the frames an effect engine tracked,
    its decoder run ahead where notes began as the engine's was."""
    f0, power, heard = [], [], []
    for index, (f, p) in enumerate(engine.features):
        repeats = 1 + (CONTROL_LEAD_FRAMES if index in engine.hurried_frames else 0)
        f0 += [f] * repeats
        power += [p] * repeats
        heard += [False] * (repeats - 1) + [True]
    with torch.no_grad():
        controls, _ = instrument.controls(torch.tensor([f0]), torch.tensor([power]))
        keep = torch.tensor(heard)
        controls = type(controls)(*(c[:, keep] for c in (controls.amplitude, controls.harmonic_distribution,
                                                           controls.noise_magnitudes)))
        controls.amplitude[0, engine.unpitched_frames] = 0.0  # an attack's noise before its pitch
        f0_heard = torch.tensor(f0)[keep]
        dry = instrument.synthesize_chunked(controls, f0_heard, (len(f0_heard) - 1) * 320, 1500, 0, 0)[0]
        # Frame i's hop ramps to it over the 320 samples before it. A note found between two
        # frames after silence starts the grid again there: the hop before keeps its start
        # (as silence) and the new hop takes the rest of its place.
        centres = engine.frame_centres
        placed = torch.zeros(centres[-1])
        for i in range(1, len(centres)):
            if centres[i] - centres[i - 1] < 320:
                placed[centres[i - 1] - 320 : centres[i] - 320] = 0.0
            placed[centres[i] - 320 : centres[i]] = dry[(i - 1) * 320 : i * 320]
        return instrument.reverb(placed[None], torch.Generator().manual_seed(0))[0].numpy()


# --- latency --------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_effect_latency_is_at_most_32_ms_and_is_the_measured_delay(cello, rate):
    # The phrase, twice after silences that end between frames: each time its note begins
    # between two frames, the grid starts again there.
    phrase = sung_phrase()
    silence = np.zeros(5000, np.float32)
    pieces = [silence, phrase[: 2 * 16000], silence[:4113], phrase[2 * 16000 : 4 * 16000]]
    voice = resample(np.concatenate(pieces), 16000, rate)
    engine = EffectEngine(cello, rate, record_features=True)
    assert engine.latency_ms <= 32.0
    streamed = stream_effect(engine, voice, 480)
    assert len(set(np.diff(engine.frame_centres))) > 1  # the grid started again
    # The offline rendering of the frames the engine tracked sits on the input's timeline
    # (each frame at its own time); the streamed signal is that rendering, delayed.
    assert engine.hurried_frames  # the phrase's notes began, and the decoder answered them at once
    offline = resample(offline_twin(cello.instrument, engine), 16000, rate)
    span = np.arange(-int(0.005 * rate), int(0.005 * rate) + 1) + engine.latency_samples
    n = len(offline) - 2 * len(span)
    scores = [np.dot(streamed[lag : lag + n], offline[:n]) for lag in span]
    measured = span[int(np.argmax(scores))]
    assert abs(measured - engine.latency_samples) <= 0.001 * rate
    assert error_db(streamed[engine.latency_samples :], offline) < -40  # the same signal


def tone_bursts(rate: int, n_notes: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(audio, starts_s, ends_s): 0.4 s harmonic tones at 330 Hz with 10 ms attacks, 0.6 s
    apart, each starting 2.5 ms later within the 20 ms frame than the one before."""
    length, period = int(0.4 * rate), 0.6
    t = np.arange(length) / rate
    tone = 0.2 * sum(np.sin(2 * np.pi * k * 330.0 * t) / k for k in range(1, 6))
    tone *= np.minimum(1.0, t / 0.01) * np.minimum(1.0, (0.4 - t) / 0.05)
    starts_s = 0.5 + period * np.arange(n_notes) + 0.0025 * (np.arange(n_notes) % 8) + 0.0007
    audio = np.zeros(int((starts_s[-1] + 1.0) * rate), np.float32)
    for start_s in starts_s:
        audio[int(start_s * rate) : int(start_s * rate) + length] += tone.astype(np.float32)
    return audio, starts_s, starts_s + 0.4


def test_effect_notes_start_where_they_are_found_not_on_the_frame_grid(cello):
    audio, starts_s, ends_s = tone_bursts(48000)
    engine = EffectEngine(cello, 48000, reverb=False)
    streamed = stream_effect(engine, audio, 64)[: len(audio)]
    lags = onset_lags(streamed, 48000, starts_s, ends_s, reference=audio)
    assert lags.missed == 0
    # measured 14.3 ms and 4.2 ms; when notes waited for the next 20 ms frame, 20.6 and 17.4 ms
    assert lags.median_ms <= 18.0, lags.lags_ms
    assert lags.spread_ms <= 6.0, lags.lags_ms


@pytest.mark.parametrize("block", [64, 480, 4096])
def test_synth_latency_is_at_most_one_block_plus_5_ms(cello, block):
    engine = SynthEngine(cello, 48000)
    assert engine.latency_samples <= block + 0.005 * 48000
    assert engine.latency_ms < 1.0  # the output resampler alone: MIDI needs no lookahead


# --- the same sound as offline ---------------------------------------------------------------

def expressive_midi(path):
    """Two parts: a melody with legato, a bend, CC11 swell and CC7; chords with the pedal."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    lead = pretty_midi.Instrument(42, name="lead")
    t = 0.0
    for i, pitch in enumerate([50, 52, 53, 55, 57, 55]):
        length = 0.6 if i % 2 else 0.45
        lead.notes.append(pretty_midi.Note(velocity=50 + 12 * i, pitch=pitch, start=t, end=t + length))
        t += length  # legato: each note starts as the last ends
    lead.pitch_bends = [pretty_midi.PitchBend(int(4096 * np.sin(k / 3)), 1.0 + k * 0.05) for k in range(20)]
    lead.control_changes = [pretty_midi.ControlChange(11, 40 + 4 * k, 0.2 * k) for k in range(20)]
    lead.control_changes.append(pretty_midi.ControlChange(7, 80, 2.0))
    chords = pretty_midi.Instrument(42, name="chords")
    for i, chord in enumerate([(43, 47, 50), (45, 48, 52), (41, 45, 48)]):
        for pitch in chord:
            chords.notes.append(pretty_midi.Note(velocity=70, pitch=pitch, start=1.0 * i, end=1.0 * i + 0.5))
    chords.control_changes = [pretty_midi.ControlChange(64, 127, 1.4), pretty_midi.ControlChange(64, 0, 1.9)]
    pm.instruments += [lead, chords]
    pm.write(str(path))
    return path


@pytest.fixture(scope="module")
def expressive(tmp_path_factory):
    return expressive_midi(tmp_path_factory.mktemp("midi") / "expressive.mid")


@pytest.mark.parametrize("block", [64, 480, 4096])
def test_synth_stream_equals_offline_render(cello, expressive, block):
    offline = cello.render_midi(expressive, sample_rate_hz=48000).audio
    streamed = stream_midi_file(expressive, cello, block_samples=block, sample_rate_hz=48000)
    assert streamed.underruns == 0
    assert error_db(streamed.audio[streamed.latency_samples :], offline) < -40


def test_synth_stream_equals_render_with_notes_drawn_from_a_profile(cello, expressive):
    """Each note's vibrato, attack, release, scoop and glide drawn from a profile (the
    literature's here): the live synth draws the same shapes as render."""
    from ddspkit.analysis.profile import ExpressionProfile
    from ddspkit.midi import Expression

    expression = Expression(profile=ExpressionProfile())
    offline = cello.render_midi(expressive, sample_rate_hz=48000, expression=expression)
    plain = cello.render_midi(expressive, sample_rate_hz=48000)
    assert error_db(offline.audio, plain.audio) > -20  # the profile changes the performance
    streamed = stream_midi_file(expressive, cello, block_samples=480, sample_rate_hz=48000,
                                expression=expression)
    assert error_db(streamed.audio[streamed.latency_samples :], offline.audio) < -40


def stealing_and_rpn_midi(path):
    """A lead whose bend range changes mid-file (RPN 0: 2 -> 12 semitones) with bends on both
    sides, and a part whose three-note chords overlap, for two voices: notes are stolen."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    lead = pretty_midi.Instrument(42, name="lead")
    lead.notes = [pretty_midi.Note(velocity=80, pitch=55, start=0.0, end=1.2),
                  pretty_midi.Note(velocity=90, pitch=57, start=1.2, end=2.6)]
    lead.pitch_bends = [pretty_midi.PitchBend(int(3000 * np.sin(k / 2)), 0.1 + 0.1 * k) for k in range(24)]
    lead.control_changes = [pretty_midi.ControlChange(101, 0, 1.3), pretty_midi.ControlChange(100, 0, 1.31),
                            pretty_midi.ControlChange(6, 12, 1.32)]
    chords = pretty_midi.Instrument(42, name="chords")
    for i, chord in enumerate([(43, 47, 50), (45, 48, 52), (41, 45, 48)]):
        for j, pitch in enumerate(chord):
            start = 0.8 * i + 0.07 * j
            chords.notes.append(pretty_midi.Note(velocity=70, pitch=pitch, start=start, end=start + 1.1))
    pm.instruments += [lead, chords]
    pm.write(str(path))
    return path


@pytest.mark.parametrize("block", [64, 4096])
def test_synth_stream_equals_render_with_stealing_and_a_mid_file_bend_range(cello, tmp_path, block):
    path = stealing_and_rpn_midi(tmp_path / "steal.mid")
    offline = cello.render_midi(path, sample_rate_hz=48000, max_voices=2)
    # every note plays: the lead's two on one voice, the chords' nine on two
    assert sum(n for _, n in offline.voices) == 2 + 9
    assert len(offline.voices) == 3
    lead_f0 = offline.curves[0][0]
    assert np.log2(lead_f0.max() / 220.0) * 12 > 2.5  # past the default 2-semitone range
    streamed = stream_midi_file(path, cello, block_samples=block, sample_rate_hz=48000, max_voices=2)
    assert error_db(streamed.audio[streamed.latency_samples :], offline.audio) < -40


def test_synth_stream_at_16_khz_is_the_offline_render_itself(cello, expressive):
    offline = cello.render_midi(expressive, sample_rate_hz=16000).audio
    streamed = stream_midi_file(expressive, cello, block_samples=333, sample_rate_hz=16000)
    assert streamed.latency_samples == 0
    assert error_db(streamed.audio, offline) < -60  # no resampler: float rounding only


def test_effect_output_does_not_depend_on_the_block_size(cello):
    # notes after silences, so that the frame grid starts again between frames
    phrase, silence = sung_phrase(), np.zeros(5000, np.float32)
    voice = resample(np.concatenate([silence, phrase[:16000], silence[:4113], phrase[16000 : 3 * 16000]]),
                     16000, 48000)
    outputs = [stream_effect(EffectEngine(cello, 48000), voice, block) for block in (7, 64, 480, 4096)]
    n = min(len(o) for o in outputs)
    for other in outputs[1:]:
        assert error_db(other[:n], outputs[0][:n]) < -60


def test_the_engines_take_the_loaded_model_type_as_the_api_does(cello):
    from ddspkit.io.models import load_model

    plain = load_model("Cello")  # ddspkit.io.model.Model, without the API's methods
    voice = sung_phrase()[:16000]
    for engine_type, play in ((EffectEngine, lambda e: stream_effect(e, voice, 480)),
                              (SynthEngine, lambda e: e.process(4800, [(0, _note_on(57))]))):
        heard = [play(engine_type(model, 16000, reverb=False)) for model in (plain, cello)]
        assert np.abs(heard[0]).max() > 0.01, engine_type  # it plays
        np.testing.assert_array_equal(*heard)


def _note_on(pitch: int):
    import mido

    return mido.Message("note_on", note=pitch, velocity=90)


def test_voices_render_what_instrument_render_renders(cello):
    n = 120
    f0 = (200 * (1 + 0.02 * np.sin(np.arange(n) / 5))).astype(np.float32)
    power = np.full(n, -30.0, np.float32)
    power[:10] = power[60:70] = -80
    reference = cello.instrument.render(torch.from_numpy(f0), torch.from_numpy(power), (n - 1) * 320,
                                        reverb=False, seed=3, first_frame=7).numpy()
    bank = VoiceBank(cello.instrument, 1)
    bank.start(float(f0[0]), seed=3, first_noise_frame=7)
    hops = []
    for k in range(n):
        audio, sounding = bank.step(f0[k : k + 1], power[k : k + 1])
        if sounding[0]:
            hops.append(audio[0].numpy())
    assert error_db(np.concatenate(hops), reference) < -80


def test_streamed_room_equals_the_offline_room(cello):
    dry = (0.1 * np.random.default_rng(0).standard_normal(320 * 120)).astype(np.float32)
    room = StreamReverb.for_instrument(cello.instrument)
    wet = np.concatenate([room.process(dry[i : i + 320]) for i in range(0, len(dry), 320)])
    with torch.no_grad():
        reference = cello.instrument.reverb(torch.from_numpy(dry)[None], torch.Generator().manual_seed(0))[0]
    assert error_db(wet, reference.numpy()) < -100


@pytest.mark.parametrize(("source", "target"),
                         [(48000, 16000), (44100, 16000), (16000, 48000), (16000, 44100)])
def test_resampler_is_flat_aligned_and_rejects_images(source, target):
    t = np.arange(source) / source
    rng = np.random.default_rng(0)

    def through(signal):
        resampler, pieces, i = StreamResampler(source, target), [], 0
        while i < len(signal):  # odd block sizes, as hosts give
            n = int(rng.integers(1, 600))
            resampler.push(signal[i : i + n])
            pieces.append(resampler.pull(resampler.available()))
            i += n
        return np.concatenate(pieces)

    for f_hz in (100.0, 1000.0, 6000.0):
        out = through(np.sin(2 * np.pi * f_hz * t).astype(np.float32))
        ideal = np.sin(2 * np.pi * f_hz * np.arange(len(out)) / target)
        middle = slice(target // 10, len(out) - target // 10)
        assert error_db(out[middle], ideal[middle]) < -60  # no delay, no droop below 6.5 kHz
    if target > source:  # an image of a 6 kHz tone would appear at 10 kHz
        out = through(np.sin(2 * np.pi * 6000.0 * t).astype(np.float32))
        spectrum = np.abs(np.fft.rfft(out[target // 10 : target // 10 + target // 2]))
        freqs = np.fft.rfftfreq(target // 2, 1 / target)
        assert spectrum[np.abs(freqs - 10000) < 50].max() < 1e-3 * spectrum.max()


# --- the performance survives ------------------------------------------------------------------

def held_out_violin():
    from ddspkit.render.soundfont import render_notes

    return render_notes([(p - 5, s, e, v) for p, s, e, v in PHRASE], program=40)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["voice", "violin"])
def test_effect_mode_keeps_pitch_and_dynamics(cello, source):
    audio_16k = sung_phrase() if source == "voice" else held_out_violin()
    engine = EffectEngine(cello, 48000)
    streamed = stream_effect(engine, resample(audio_16k, 16000, 48000), 480)
    out_16k = resample(streamed[engine.latency_samples :], 48000, 16000)[: len(audio_16k)]
    heard, played = extract_features(audio_16k), extract_features(out_16k)
    shift = engine.adjuster.total_pitch_shift_semitones
    both = heard.voiced & played.voiced & (heard.f0_confidence > 0.85)
    assert both.mean() > 0.6
    error = cents(played.f0_hz[both], heard.f0_hz[both] * 2 ** (shift / 12))
    assert np.median(np.abs(error)) < 15
    active = heard.voiced & (heard.power_db > -60)
    assert spearman(heard.power_db[active], played.power_db[active]) >= 0.9


def test_tracker_follows_vibrato_without_snapping():
    t = np.arange(3 * 16000) / 16000
    f0 = 233.0 * 2 ** (0.5 / 12 * np.sin(2 * np.pi * 5.5 * t))  # +-50 cents around a quarter tone
    tone = 0.3 * sum(np.sin(2 * np.pi * k * np.cumsum(f0) / 16000) / k for k in range(1, 6))
    tracker = StreamTracker()
    tracker.push(tone.astype(np.float32))
    frames = []
    while tracker.ready():
        frames.append(tracker.next_frame())
    times = np.arange(len(frames)) * 0.02
    inner = (times > 0.1) & (times < 2.9)
    tracked = np.array([f.f0_hz for f in frames])[inner]
    truth = np.interp(times[inner], t, f0)
    assert all(f.gate_open for f, keep in zip(frames, inner, strict=True) if keep)
    assert np.median(np.abs(cents(tracked, truth))) < 5
    semitones = 12 * np.log2(tracked / 440.0)
    assert np.mean(np.abs(semitones - np.round(semitones)) > 0.2) > 0.3  # between the keys


def test_tracker_opens_on_an_attack_before_its_pitch_is_clear_and_never_on_noise():
    rng = np.random.default_rng(1)
    t = np.arange(int(0.3 * 16000)) / 16000
    tone = 0.2 * sum(np.sin(2 * np.pi * k * 330.0 * t) / k for k in range(1, 6)) * np.minimum(1, t / 0.005)
    scrape = 0.15 * rng.standard_normal(len(t)) * np.exp(-t / 0.015)  # a bow's noise, gone in 30 ms
    noise = 0.01 * rng.standard_normal(8000)  # -40 dBFS
    start, quiet = 3000, np.zeros(8000)
    tracker = StreamTracker()
    tracker.push(np.concatenate([quiet[:start], tone + scrape, quiet, noise, quiet]).astype(np.float32))
    frames = []  # (window end, frame)
    while tracker.early_onset() or tracker.ready():
        if tracker.ready():
            end = tracker.next_centre + tracker.settings.lookahead_samples
            frames.append((end, tracker.next_frame()))
    sounding = [(end, f) for end, f in frames if f.gate_open]
    first_end, first = sounding[0]
    assert not first.pitched  # the scrape still covers the pitch: the noise alone will sound...
    assert first_end - start <= 0.012 * 16000  # ...12 ms into the note at most
    pitched = [f for _, f in sounding if f.pitched]
    assert sounding[1][1].pitched and abs(cents(sounding[1][1].f0_hz, 330.0)) < 10  # then the note
    assert len(pitched) >= 12
    noise_start = start + len(t) + len(quiet)
    assert not [end for end, f in frames if f.gate_open and end > noise_start]  # noise never opens it


# --- bad input ------------------------------------------------------------------------------

def scene(rate: int) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Silence, notes, -40 dBFS noise bursts, a note after 5 s of silence, DC, clipping, NaN."""
    from ddspkit.render.soundfont import render_notes

    rng = np.random.default_rng(0)
    note = resample(render_notes([(64, 0.0, 0.9, 90)], program=40, tail_s=0.1), 16000, rate)

    def silence(s):
        return np.zeros(int(s * rate), np.float32)

    def noise(s):
        return (rng.standard_normal(int(s * rate)) * 0.01).astype(np.float32)  # -40 dBFS

    parts = [("silent", silence(1.0)), ("note", note), ("silent", silence(0.5)), ("noise", noise(1.0)),
             ("silent", silence(0.3)), ("note", note), ("silent", silence(5.0)), ("note", note),
             ("silent", silence(0.5)), ("noise", noise(0.5)), ("silent", silence(1.0)),
             ("dc", silence(2.0) + 0.2), ("dc note", note + 0.2), ("dc", silence(2.0) + 0.2),
             ("clipped", np.clip(10 * note, -1, 1)), ("silent", silence(2.0)),
             ("nan", np.full(480, np.nan, np.float32)), ("silent", silence(2.0)), ("note", note),
             ("silent", silence(2.0))]
    spans, start = [], 0
    for name, samples in parts:
        spans.append((name, start, start + len(samples)))
        start += len(samples)
    return np.concatenate([p for _, p in parts]), spans


@pytest.mark.slow
@pytest.mark.parametrize("reverb", [False, True])
def test_stream_survives_silence_noise_dc_clipping_and_nan(cello, reverb):
    rate = 48000
    audio, spans = scene(rate)
    engine = EffectEngine(cello, rate, reverb=reverb)
    out = stream_effect(engine, audio, 480)[engine.latency_samples :]
    assert np.isfinite(out).all() and np.abs(out).max() < 1.0  # never NaN, never over 0 dBFS
    # Silence after a sound: the dry synth stops within 0.2 s; the room rings for its 1.5 s.
    settle = int((1.8 if reverb else 0.2) * rate)
    for name, start, stop in spans:
        if name in ("silent", "noise", "dc", "nan") and stop > start + settle:
            level = 10 * np.log10(np.mean(out[start + settle : stop] ** 2) + 1e-20)
            assert level < -60, (name, start / rate, level)  # room noise and DC stay silent
        if name in ("note", "dc note", "clipped"):
            loud = 10 * np.log10(np.mean(out[start + int(0.1 * rate) : stop - int(0.1 * rate)] ** 2))
            assert loud > -45, (name, start / rate, loud)  # every note plays, the late one too


def test_engine_refuses_bad_blocks(cello):
    engine = EffectEngine(cello, 16000)
    with pytest.raises(ValueError, match="blocks hold"):
        engine.process(np.zeros(0, np.float32))
    synth = SynthEngine(cello, 16000)
    import mido

    with pytest.raises(ValueError, match="outside the block"):
        synth.process(64, [(64, mido.Message("note_on", note=60, velocity=90))])


# --- the command ------------------------------------------------------------------------------

def ddspkit_cli(*args):
    return subprocess.run([sys.executable, "-m", "ddspkit.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_stream_command_writes_what_a_listener_hears(tmp_path, expressive):
    import soundfile as sf

    voice = tmp_path / "voice [take 1].wav"
    sf.write(voice, sung_phrase()[: 2 * 16000], 16000)
    result = ddspkit_cli("stream", str(voice), "-m", "Cello", "-o", str(tmp_path / "out.wav"),
                         "--block", "256", "--rate", "44100")
    assert result.returncode == 0, result.stderr
    assert "voice [take 1].wav ->" in result.stdout and "effect mode" in result.stdout
    latency_ms = float(result.stdout.split("latency ")[1].split(" ms")[0])
    assert 25 < latency_ms <= 32
    written, rate = sf.read(tmp_path / "out.wav")
    assert rate == 44100 and len(written) == 2 * 44100 + round(latency_ms / 1000 * 44100)
    midi = ddspkit_cli("stream", str(expressive), "-m", "Cello", "-o", str(tmp_path / "song.wav"))
    assert midi.returncode == 0, midi.stderr
    assert "synth mode" in midi.stdout and "latency 0.65 ms" in midi.stdout


def test_stream_command_errors_are_one_line(tmp_path):
    from test_cli import assert_one_line_error

    assert_one_line_error(ddspkit_cli("stream", str(tmp_path / "none.wav"), "-m", "Cello", "-o",
                                      str(tmp_path / "o.wav")), "none.wav", "no such file")
    bad = tmp_path / "bad [1].wav"
    bad.write_bytes(b"RIFF not audio")
    assert_one_line_error(ddspkit_cli("stream", str(bad), "-m", "Cello", "-o", str(tmp_path / "o.wav")),
                          "bad [1].wav", "cannot read audio")
    sound = tmp_path / "ok.wav"
    import soundfile as sf

    sf.write(sound, np.zeros(1600, np.float32), 16000)
    assert_one_line_error(ddspkit_cli("stream", str(sound), "-m", "Cello", "-o", str(tmp_path / "o.wav"),
                                      "--rate", "100"), "--rate 100")
    assert not (tmp_path / "o.wav").exists()


def test_a_ddsp_vst_tflite_model_streams_as_it_renders(tmp_path):

    tflite = ddspkit.load_model(FIXTURES / "CelloNotebook.tflite", "cpu")
    pm = pretty_midi.PrettyMIDI()
    part = pretty_midi.Instrument(42)
    part.notes = [pretty_midi.Note(velocity=80, pitch=p, start=0.1 + 0.3 * i, end=0.9 + 0.3 * i)
                  for i, p in enumerate((48, 52))]  # two overlapping notes: two voices
    pm.instruments.append(part)
    pm.write(str(tmp_path / "two.mid"))
    offline = tflite.render_midi(tmp_path / "two.mid", sample_rate_hz=16000).audio
    streamed = stream_midi_file(tmp_path / "two.mid", tflite, block_samples=480, sample_rate_hz=16000)
    assert error_db(streamed.audio, offline) < -60
