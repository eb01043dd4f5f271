"""Resynthesis quality on held-out audio, against a plain harmonic baseline; and the
held-out recordings' expression, to set beside each model's expression profile.

For each held-out file, the model resynthesises the audio from its own f0 and power. The
baseline is a plain harmonic synth (1/k harmonic spectrum, no noise, no reverb) driven by the
same f0, with its level set so that every frame's power equals the target's: it has the
right pitch and loudness and nothing else, so the gap between the two is what the model
learned of the instrument's timbre.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ddspkit.analysis.features import Features, extract_features
from ddspkit.analysis.measure import MeasuredExpression, measure_expression, merge
from ddspkit.config import FRAME_RATE_HZ, HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.dsp.core import hz_to_midi
from ddspkit.dsp.losses import multiscale_spectral_loss
from ddspkit.dsp.synths import harmonic_synth
from ddspkit.io.model import Model, ModelInfo
from ddspkit.model import Instrument
from ddspkit.training.data import PreparedDataset, PreparedFile, prepare


def harmonic_baseline(features: Features, n_samples: int, n_harmonics: int = 60) -> np.ndarray:
    """A 1/k harmonic tone following f0, with each frame's mean-square power matched. [T]."""
    f0 = torch.from_numpy(features.f0_hz.astype(np.float32))[None]
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float32)
    dist = (1.0 / k).expand(1, features.n_frames, n_harmonics).clone()
    dist = dist * (f0[..., None] * k < SAMPLE_RATE_HZ / 2)
    dist = dist / dist.sum(-1, keepdim=True).clamp_min(1e-9)
    power = torch.from_numpy(10 ** (features.power_db.astype(np.float32) / 10))[None]
    # A harmonic with amplitude a has mean square a^2 / 2.
    amplitude = torch.sqrt(2 * power / (dist**2).sum(-1).clamp_min(1e-12))[..., None]
    audio, _ = harmonic_synth(f0, amplitude, dist, n_samples)
    return audio[0].numpy()


@dataclass
class Scores:
    """Resynthesis measures (lower is better), averaged over held-out files by duration."""

    spectral_distance: float  # multi-scale spectral loss, as in training
    loudness_l1_db: float  # mean |power_db difference| over frames above -60 dB
    f0_l1_semitones: float  # mean |f0 difference| on the target's confident frames
    f0_outlier_share: float  # share of those frames more than 12 semitones off (octave errors+)


# As magenta/ddsp's metrics: f0 is compared where the target's pitch is confidently tracked.
MIN_F0_CONFIDENCE = 0.85


def score(target: np.ndarray, target_features: Features, output: np.ndarray) -> Scores:
    """Compare ``output`` [T] with ``target`` [T] (16 kHz).

    f0 L1 (semitones) and the outlier share are over frames where the target's f0 confidence
    is at least 0.85, the output's f0 tracked independently from the output audio.
    """
    spectral = float(multiscale_spectral_loss(torch.from_numpy(output)[None],
                                              torch.from_numpy(target)[None]))
    out = extract_features(output)
    loud = loudness_l1_db(target_features.power_db, out.power_db)
    confident = target_features.f0_confidence >= MIN_F0_CONFIDENCE
    diff = np.abs(hz_to_midi(out.f0_hz[confident]) - hz_to_midi(target_features.f0_hz[confident]))
    f0_l1 = float(np.mean(diff)) if diff.size else float("nan")
    outliers = float(np.mean(diff > 12)) if diff.size else float("nan")
    return Scores(spectral, loud, f0_l1, outliers)


@dataclass
class NoteScores:
    """Transcribed notes against the score: a note counts when pitch and onset agree."""

    precision: float  # share of transcribed notes that are in the score
    recall: float  # share of the score's notes that were transcribed
    f1: float
    n_reference: int
    n_estimated: int
    onset_lag_s: float = 0.0  # median lateness of transcribed onsets, removed before matching


NOTE_ONSET_TOLERANCE_S = 0.05  # as mir_eval's transcription metrics
LAG_SEARCH_S = 0.2  # how far from a score onset a transcribed onset can count for the lag


def onset_lag_s(reference, estimated, search_s: float = LAG_SEARCH_S) -> float:
    """Median of (nearest same-pitch transcribed onset - score onset), over score notes that
    have one within ``search_s``; 0 when none has. A bowed or blown attack is heard, and
    transcribed, tens of milliseconds after its MIDI note-on, by a steady amount."""
    lags = []
    for r in reference:
        near = [e.start_s - r.start_s for e in estimated
                if e.pitch == r.pitch and abs(e.start_s - r.start_s) <= search_s]
        if near:
            lags.append(min(near, key=abs))
    return float(np.median(lags)) if lags else 0.0


def note_scores(reference, estimated, onset_tolerance_s: float = NOTE_ONSET_TOLERANCE_S,
                remove_lag: bool = True) -> NoteScores:
    """Precision, recall and F1 of ``estimated`` notes against ``reference`` notes.

    Notes are :class:`ddspkit.midi.Note`; a pair matches when the pitches are equal and the
    onsets within ``onset_tolerance_s`` (offsets are ignored, as mir_eval does with
    ``offset_ratio=None``), after the estimate's :func:`onset_lag_s` is removed when
    ``remove_lag``. Each note matches at most once: a maximum bipartite matching.
    """
    lag = onset_lag_s(reference, estimated) if remove_lag else 0.0
    candidates = [[j for j, e in enumerate(estimated)
                   if e.pitch == r.pitch and abs(e.start_s - lag - r.start_s) <= onset_tolerance_s]
                  for r in reference]
    owner: dict[int, int] = {}  # estimated index -> reference index

    def augment(i: int, seen: set[int]) -> bool:  # Kuhn's augmenting path
        for j in candidates[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    matched = sum(augment(i, set()) for i in range(len(reference)) if candidates[i])
    precision = matched / len(estimated) if estimated else 0.0
    recall = matched / len(reference) if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return NoteScores(precision, recall, f1, len(reference), len(estimated), lag)


def loudness_l1_db(target_power_db: np.ndarray, output_power_db: np.ndarray) -> float:
    """Mean |power difference| in dB over the target's frames above -60 dB."""
    active = target_power_db > -60
    return float(np.mean(np.abs(output_power_db[active] - target_power_db[active])))


def _mean(scores: list[Scores], weights: list[float]) -> Scores:
    w = np.asarray(weights) / np.sum(weights)
    fields = Scores.__dataclass_fields__
    return Scores(**{f: float(np.nansum([getattr(s, f) * wi for s, wi in zip(scores, w, strict=True)]))
                     for f in fields})


@torch.no_grad()
def resynthesize(instrument: Instrument, prepared: PreparedFile, reverb: bool = True
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(target [T], the instrument's resynthesis [T]) of a prepared file, from its own f0
    and power; T covers every whole hop."""
    n = (prepared.features.n_frames - 1) * HOP_SAMPLES
    device = instrument.device
    resynth = instrument.render(torch.from_numpy(prepared.features.f0_hz).to(device),
                                torch.from_numpy(prepared.features.power_db).to(device), n,
                                reverb=reverb).cpu().numpy()
    return prepared.audio[:n], resynth


def spectral_distance(instrument: Instrument, heldout: PreparedDataset, reverb: bool = True
                      ) -> float:
    """The held-out multi-scale spectral distance alone (the quicker part of
    :func:`evaluate`), averaged over files by duration."""
    distances, weights = [], []
    for f in heldout.files:
        target, resynth = resynthesize(instrument, f, reverb)
        distances.append(float(multiscale_spectral_loss(torch.from_numpy(resynth)[None],
                                                        torch.from_numpy(target)[None])))
        weights.append(len(target))
    return float(np.average(distances, weights=weights))


@torch.no_grad()
def evaluate(instrument: Instrument, folder: str | Path, reverb: bool = True
             ) -> tuple[Scores, Scores]:
    """Model and harmonic-baseline scores on every audio file under ``folder``."""
    data = prepare(folder, min_usable_minutes=0.0)
    model_scores, base_scores, weights = [], [], []
    for f in data.files:
        target, resynth = resynthesize(instrument, f, reverb)
        n = len(target)
        model_scores.append(score(target, f.features, resynth))
        base_scores.append(score(target, f.features, harmonic_baseline(f.features, n)))
        weights.append(n)
    return _mean(model_scores, weights), _mean(base_scores, weights)


@dataclass
class ModelScores:
    """One model's resynthesis scores on a held-out folder, with and without its learned room."""

    info: ModelInfo
    scores: Scores  # as the model renders, its learned room included
    dry: Scores  # without the learned room, as DDSP-VST plays it


def evaluate_models(heldout: str | Path, models: list[Model]) -> tuple[list[ModelScores], Scores | None]:
    """Each model's scores on every audio file under ``heldout`` (:func:`evaluate`, with and
    without the room), and the harmonic baseline's (None when ``models`` is empty)."""
    results, baseline = [], None
    for model in models:
        scores, baseline = evaluate(model.instrument, heldout)
        dry, _ = evaluate(model.instrument, heldout, reverb=False)
        results.append(ModelScores(model.info, scores, dry))
    return results, baseline


def heldout_expression(heldout: str | Path) -> MeasuredExpression:
    """The expression of every audio file under ``heldout``, note by note (notes found from
    the pitch and power, as a profile is learned from the training recordings), gathered:
    what ``evaluate`` shows beside each model's profile."""
    data = prepare(heldout, min_usable_minutes=0.0)
    return merge([measure_expression(f.audio) for f in data.files])


# --------------------------------------------------------------------------- against a score

NOTE_SETTLE_S = 0.06  # a note's pitch is judged from 60 ms after its onset
NOTE_RELEASE_S = 0.03  # to 30 ms before its end
ON_PITCH_CENTS = 50.0


@dataclass
class ScoreFit:
    """How well tracked pitch sits on a score, over the score's note frames."""

    within_50_cents: float  # share of note frames voiced and within 50 cents of the note
    octave_errors: float  # share of note frames voiced a whole number of octaves off (+-50 c)
    n_frames: int


def note_frames(notes, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, score pitch in MIDI) of every frame inside a note, from NOTE_SETTLE_S
    after its onset to NOTE_RELEASE_S before its end (frame i at i / 50 s)."""
    times = np.arange(n_frames) / FRAME_RATE_HZ
    index, pitch = [], []
    for note in notes:
        inside = np.flatnonzero((times >= note.start_s + NOTE_SETTLE_S)
                                & (times <= note.end_s - NOTE_RELEASE_S))
        index.append(inside)
        pitch.append(np.full(len(inside), float(note.pitch)))
    if not index:
        return np.zeros(0, int), np.zeros(0)
    return np.concatenate(index), np.concatenate(pitch)


def score_fit(features: Features, notes) -> ScoreFit:
    """Tracked pitch (``features``, 50 frames/s) against ``notes`` (:class:`ddspkit.midi.Note`)."""
    frames, pitch_midi = note_frames(notes, features.n_frames)
    if not len(frames):
        return ScoreFit(float("nan"), float("nan"), 0)
    voiced = features.voiced[frames]
    error_st = hz_to_midi(np.maximum(features.f0_hz[frames], 1e-3)) - pitch_midi
    on_pitch = voiced & (np.abs(error_st) * 100 <= ON_PITCH_CENTS)
    octaves = np.round(error_st / 12)
    octave_off = voiced & (octaves != 0) & (np.abs(error_st - 12 * octaves) * 100 <= ON_PITCH_CENTS)
    return ScoreFit(float(on_pitch.mean()), float(octave_off.mean()), len(frames))


ENVELOPE_WINDOW_S = 0.005
ATTACK_BELOW_PEAK_DB = 10.0  # an attack is where the level comes within 10 dB of its peak
MIN_REST_BEFORE_S = 0.05  # notes after a rest at least this long have a clean attack
MIN_ATTACK_RISE_DB = 20.0


def attack_times_s(audio_16k: np.ndarray, notes) -> np.ndarray:
    """When each of ``notes`` has its attack heard, in seconds (NaN where it cannot be told).

    For notes after a rest of MIN_REST_BEFORE_S or more (a legato note has no attack to
    time) whose level rises by MIN_ATTACK_RISE_DB or more (not out of the last note's
    release): the first moment, from 50 ms before the onset, at which a 5 ms RMS envelope
    (1 ms steps) comes within 10 dB of its peak over the next 250 ms. 1 ms resolution,
    where the model's features (20 ms frames) cannot resolve an attack.
    """
    step = SAMPLE_RATE_HZ // 1000
    width = int(ENVELOPE_WINDOW_S * SAMPLE_RATE_HZ)
    squared = np.concatenate([[0.0], np.cumsum(np.asarray(audio_16k, np.float64) ** 2)])
    starts = np.arange(0, max(len(audio_16k) - width, 0), step)
    envelope_db = 10 * np.log10((squared[starts + width] - squared[starts]) / width + 1e-12)
    times = np.full(len(notes), np.nan)
    previous_end = -np.inf
    for i in sorted(range(len(notes)), key=lambda j: notes[j].start_s):
        note = notes[i]
        if note.start_s - previous_end >= MIN_REST_BEFORE_S:
            lo = int(max(note.start_s - 0.05, 0) * 1000)
            hi = min(int((note.start_s + 0.25) * 1000), len(envelope_db))
            span = envelope_db[lo:hi]
            # a clean attack rises from well below its peak (not out of a release tail)
            if hi > lo and span.max() - span[0] >= MIN_ATTACK_RISE_DB:
                first = int(np.argmax(span >= span.max() - ATTACK_BELOW_PEAK_DB))
                times[i] = (lo + first) / 1000
        previous_end = max(previous_end, note.end_s)
    return times


def pitch_change_times_s(features: Features, notes) -> np.ndarray:
    """When each legato note change is heard, in seconds (NaN where it cannot be told).

    For notes that start within MIN_REST_BEFORE_S of the previous note's end (no attack of
    their own): the moment the tracked pitch crosses halfway, in semitones, from the
    previous note to this one, within 100 ms before to 200 ms after the onset (linear
    between frames).
    """
    times = np.full(len(notes), np.nan)
    midi = hz_to_midi(np.maximum(features.f0_hz.astype(np.float64), 1e-3))
    order = sorted(range(len(notes)), key=lambda j: notes[j].start_s)
    for previous, i in zip(order, order[1:], strict=False):
        before, note = notes[previous], notes[i]
        if note.start_s - before.end_s >= MIN_REST_BEFORE_S or note.pitch == before.pitch:
            continue
        halfway = (before.pitch + note.pitch) / 2
        lo = max(int(np.floor((note.start_s - 0.1) * FRAME_RATE_HZ)), 0)
        hi = min(int(np.ceil((note.start_s + 0.2) * FRAME_RATE_HZ)), len(midi) - 1)
        side = np.sign(midi[lo : hi + 1] - halfway) == np.sign(note.pitch - before.pitch)
        crossed = np.flatnonzero(side[1:] & ~side[:-1])
        if side[0] or not len(crossed):
            continue
        k = lo + int(crossed[0])  # frames k (before halfway) and k + 1 (past it)
        fraction = (halfway - midi[k]) / (midi[k + 1] - midi[k])
        times[i] = (k + fraction) / FRAME_RATE_HZ
    return times
