"""Resynthesis quality on held-out audio, against a plain harmonic baseline.

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

from ddspkit.config import HOP_SAMPLES, SAMPLE_RATE_HZ
from ddspkit.core import hz_to_midi
from ddspkit.dataset import prepare
from ddspkit.features import Features, extract_features
from ddspkit.losses import multiscale_spectral_loss
from ddspkit.model import Instrument
from ddspkit.synths import harmonic_synth


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
def evaluate(instrument: Instrument, folder: str | Path, reverb: bool = True
             ) -> tuple[Scores, Scores]:
    """Model and harmonic-baseline scores on every audio file under ``folder``."""
    data = prepare(folder, min_usable_minutes=0.0)
    model_scores, base_scores, weights = [], [], []
    device = instrument.device
    for f in data.files:
        n = (f.features.n_frames - 1) * HOP_SAMPLES
        target = f.audio[:n]
        resynth = instrument.render(torch.from_numpy(f.features.f0_hz).to(device),
                                    torch.from_numpy(f.features.power_db).to(device), n,
                                    reverb=reverb).cpu().numpy()
        model_scores.append(score(target, f.features, resynth))
        base_scores.append(score(target, f.features, harmonic_baseline(f.features, n)))
        weights.append(n)
    return _mean(model_scores, weights), _mean(base_scores, weights)


def scores_table(heldout: str | Path, models: list, title: str | None = None):
    """A rich Table: each loaded model's scores and the harmonic baseline's, on one folder.

    ``models`` are :class:`ddspkit.modelfile.LoadedModel`; ratio = baseline distance / model's.
    Returns (table, [(label, Scores)], baseline Scores).
    """
    from ddspkit.terminal import table as literal_table

    rows, baseline = [], None
    for loaded in models:
        scores, baseline = evaluate(loaded.instrument, heldout)
        dry, _ = evaluate(loaded.instrument, heldout, reverb=False)
        p = loaded.info.provenance
        recipe = p.get("recipe", {}).get("name", "?") if isinstance(p.get("recipe"), dict) else "?"
        rows.append((f"{loaded.info.name} ({recipe}, {p.get('steps', '?')} steps)", scores))
        rows.append(("  dry: without the learned room, as DDSP-VST plays it", dry))
    rows.append(("harmonic baseline (same f0 and loudness)", baseline))
    table = literal_table("synth", "spectral distance", "vs baseline", "loudness L1 (dB)",
                  "f0 L1 (semitones)", "f0 outliers > 12 st",
                  title=title or f"resynthesis of {heldout}")
    for label, s in rows:
        table.add_row(label, f"{s.spectral_distance:.3f}",
                      f"{baseline.spectral_distance / s.spectral_distance:.2f}x",
                      f"{s.loudness_l1_db:.2f}", f"{s.f0_l1_semitones:.3f}",
                      f"{100 * s.f0_outlier_share:.2f} %")
    return table, rows[:-1], baseline
