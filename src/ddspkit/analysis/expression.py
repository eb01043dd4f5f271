"""How a player plays each note: vibrato, attack, release, scoop, glide and loudness, from audio.

An independent measurement of expression, for learning a player's profile from recordings and
for checking that a rendering plays like the player. It reads the features (pitch, voicing and
power at 50 frames/s, see :mod:`ddspkit.analysis.features`; extracted with ``sharpen=False``,
the tracker's own reading of note changes, or glides read as steps) and, when given, the audio:
the pitch is then refined from it (:func:`refine_f0_hz`: swift-f0 reads small deviations
shrunk) and attacks and releases are timed on its 1 ms envelope.

Notes come from :func:`segment_notes` (recordings have no MIDI) or from a score as
(pitch, start_s, end_s) tuples. A note spans the frames whose centres lie in
[start_s, end_s); frame i is centred on i / 50 s.

Vibrato follows MIDI-DDSP (Wu et al. 2022, ``modules/interpretable_conditioning.py``): the
pitch deviation from the note, mean removed, windowed, the FFT peak between 3 and 9 Hz;
refined here by a least-squares sine fit, so that the rate is exact to a few hundredths of a
hertz on a 1 s note and the depth is the fitted sine's amplitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ddspkit.config import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from ddspkit.dsp.core import hz_to_midi

# --- Which frames sound (segment_notes, slur detection) ---
SILENT_LOUDNESS_DB = -70.0  # quieter frames never belong to a note
LOUD_RANGE_DB = 40.0  # ... nor do frames this far below the recording's loud level
LOUD_PERCENTILE = 95.0  # the loud level: this percentile of the voiced frames' power
DROPOUT_DB = 6.0  # one unvoiced frame within this of both neighbours' power is a tracker dropout

# --- Where the pitch moves to a new note (segment_notes) ---
SMOOTH_FRAMES = 7  # median filter, 140 ms: most of a 5-8 Hz vibrato cycle
NEW_NOTE_ST = 0.6  # a new note is further than this from the current one...
HELD_FRAMES = 3  # ... for at least this many frames of the smoothed pitch
CYCLE_FRAMES = 9  # 180 ms: a cycle of vibrato, over which its median is its centre
SETTLED_ST = 0.35  # a pitch this close to its median over the next cycle has arrived
REFERENCE_FRAMES = 25  # the current note's pitch: median of its last 500 ms of smoothed pitch
MIN_NOTE_FRAMES = 3  # shorter runs are blips, not notes

# --- Vibrato (measure_notes) ---
MIN_VIBRATO_NOTE_S = 0.4  # shorter notes cannot show a cycle or two of vibrato
MIN_VIBRATO_SPAN_S = 0.3  # ... nor can a note with less than this left out of its glides
VIBRATO_BAND_HZ = (3.0, 9.0)
VIBRATO_EDGE_FRAMES = 2  # frames left out at each end (attack, scoop, release), and glides
MAX_DEVIATION_CENTS = 200.0  # MIDI-DDSP masks jumps over 2 semitones
FFT_POINTS = 1024  # zero-padded: 0.05 Hz bins at 50 frames/s
RATE_SEARCH_HZ = 0.3  # the sine fit searches this far either side of the FFT peak...
RATE_STEP_HZ = 0.005  # ... in these steps
MIN_VIBRATO_CENTS = 5.0  # shallower oscillations are not vibrato (rate and onset NaN)
MIN_VIBRATO_FIT = 0.5  # ... nor those a sine explains less than this fraction of
ENVELOPE_CYCLES = 1  # the local amplitude's Hann window, in vibrato cycles

# --- The pitch refined from the audio (refine_f0_hz) ---
REFINE_KERNEL = np.convolve([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0
REFINE_SEARCH = 0.06  # the period is looked for within 6 % (a semitone) of the tracker's
REFINE_MIN_WINDOW = 160  # samples (10 ms): the difference window is this or one period
REFINE_MAX_DIFFERENCE = 0.25  # windows differing more (normalised) are not periodic there

# --- Attack, release, scoop, glide, level ---
ATTACK_WINDOW_S = 0.4  # the note's level: its peak within this time of its start
LOOK_BEFORE_S = 0.1  # the quiet point before a note is looked for this far before its start
RELEASE_WINDOW_S = 0.3  # the level before a release: peak over this time before the note's end
LOOK_AFTER_S = 0.3  # the quiet point after a note is looked for this far after its end
ENVELOPE_HOP_S = 0.001
SCOOP_S = 0.04  # the start pitch: median over the first voiced frames within this time
GLIDE_WINDOW_S = 0.25  # a glide is fitted to the pitch this far either side of a note's start
GLIDE_SEARCH_S = 0.1  # ... its middle within this of the start
GLIDE_MAX_S = 0.4  # ... lasting up to this
GLIDE_STEP_S = 0.0025
GLIDE_10_TO_90 = 0.8  # of a straight glide's duration
RAMP_TIE = 1e-12  # glides whose squared errors differ less than this (relative) fit alike
LEVEL_EDGE_S = 0.1  # the level slope leaves out this much at each end (attack, release)


@dataclass
class NoteSpan:
    """A note found in the audio.

    start_s, end_s: the frames whose centres lie in [start_s, end_s) (50 frames/s); after
        silence the note starts half a frame before its first sounding frame, after a slur
        where the pitch crossed half-way from the previous note.
    pitch_midi: median pitch (fractional MIDI note).
    slurred: reached from the previous note without silence (legato: a glide or step).
    """

    start_s: float
    end_s: float
    pitch_midi: float
    slurred: bool = False


@dataclass
class NoteExpression:
    """What one note shows of the player's expression; NaN where the note cannot show it.

    pitch_midi: median pitch; duration_s: end - start; slurred: as :class:`NoteSpan`.
    level_db: median frame power (dB re full scale); level_slope_db_per_s: the least-squares
        slope of the power between the first and last LEVEL_EDGE_S (NaN under 5 frames left).
    vibrato_rate_hz, vibrato_depth_cents (half the peak-to-peak extent, the fitted sine's
        amplitude), vibrato_onset_s (after the note's start, where the vibrato reaches half its
        depth): notes of MIN_VIBRATO_NOTE_S or more. The depth is measured on every such note
        (a few cents where there is no vibrato); rate and onset are NaN unless the pitch
        oscillates (depth >= MIN_VIBRATO_CENTS and a sine explains MIN_VIBRATO_FIT of it).
    attack_s: 10 % to 90 % of the rise from the quiet point before the note to its level
        (linear amplitude); NaN for slurred notes. release_s: 90 % to 10 % of the fall at the
        end, for notes followed by silence. From the audio's envelope (1 ms hop) when given,
        else from the 20 ms power frames (coarse: 64 ms windows read fast attacks as ~50 ms).
    scoop_cents: the pitch over the first SCOOP_S of voiced frames minus the note's pitch
        (negative: from below); NaN for slurred notes.
    glide_s: slurred notes at least half a semitone from the previous one: the time the pitch
        takes from 10 % to 90 % of the interval from the previous note's pitch, that of the
        straight glide that fits the pitch best (vibrato either side averages out); a step
        reads as 10 ms or less.
    """

    start_s: float
    pitch_midi: float
    duration_s: float
    slurred: bool
    level_db: float
    level_slope_db_per_s: float
    vibrato_rate_hz: float
    vibrato_depth_cents: float
    vibrato_onset_s: float
    attack_s: float
    release_s: float
    scoop_cents: float
    glide_s: float


# ---------------------------------------------------------------------------------------------
# Segmentation


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of True in a [F] bool mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


def sounding_frames(power_db: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """[F] bool: voiced frames loud enough to be part of a note.

    Loud enough: above SILENT_LOUDNESS_DB and within LOUD_RANGE_DB of the recording's loud level. A
    single unvoiced frame whose power is within DROPOUT_DB of both neighbours' (sounding)
    frames is the tracker losing the pitch for a moment, not silence, and counts as sounding.
    """
    power_db = np.asarray(power_db, np.float64)
    voiced = np.asarray(voiced, bool)
    if not voiced.any():
        return np.zeros(len(power_db), bool)
    loud_db = np.percentile(power_db[voiced], LOUD_PERCENTILE)
    loud = power_db >= max(SILENT_LOUDNESS_DB, loud_db - LOUD_RANGE_DB)
    sounding = voiced & loud
    # a gap of one frame between sounding ones (filling one cannot make another such a gap)
    inner = np.zeros(len(sounding), bool)
    inner[1:-1] = (~sounding[1:-1] & sounding[:-2] & sounding[2:] & loud[1:-1]
                   & (power_db[1:-1] >= np.minimum(power_db[:-2], power_db[2:]) - DROPOUT_DB))
    return sounding | inner


def _median_smooth(values: np.ndarray, width: int) -> np.ndarray:
    """[N] -> [N] running median over ``width`` (odd) frames, the ends held."""
    padded = np.pad(values, width // 2, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)


def _settle(smooth: np.ndarray, i: int) -> int:
    """The first frame from ``i`` on where the smoothed pitch [N] has arrived: within SETTLED_ST
    of the median of the CYCLE_FRAMES from there (a glide has ended; vibrato has no trend)."""
    for k in range(i, len(smooth)):
        if abs(smooth[k] - np.median(smooth[k:k + CYCLE_FRAMES])) <= SETTLED_ST:
            return k
    return len(smooth) - 1


def _crossing(midi: np.ndarray, lo: int, hi: int, old: float, new: float) -> float:
    """Fractional frame in [lo, hi] where ``midi`` first crosses half-way from ``old`` to ``new``."""
    progress = (midi - old) / (new - old)
    for k in range(max(lo, 1), hi + 1):
        if progress[k] >= 0.5:
            step = progress[k] - progress[k - 1]
            return k - (progress[k] - 0.5) / step if step > 0 else float(k)
    return float(hi)


def _prefix_medians(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """[K] the medians of ``values[:length]`` for each of ``lengths`` [K] (each under
    REFERENCE_FRAMES + 1): each row padded with as many -inf as +inf, which leaves its median."""
    medians = np.empty(len(lengths))
    for width in (REFERENCE_FRAMES, REFERENCE_FRAMES + 1):
        rows = np.flatnonzero((width - lengths) % 2 == 0)
        if len(rows) == 0:
            continue
        length, column = lengths[rows, None], np.arange(width)
        pad = (width - length) // 2
        padded = np.where(column < length, values[np.minimum(column, len(values) - 1)],
                          np.where(column < length + pad, -np.inf, np.inf))
        medians[rows] = np.median(padded, axis=1)
    return medians


def _references(smooth: np.ndarray, note_start: int, first: int, stop: int) -> np.ndarray:
    """[stop - first] the pitch of the note that starts at frame ``note_start`` as it stands at
    each frame in [first, stop): the median of the smoothed pitch ``smooth`` [N] over its last
    REFERENCE_FRAMES frames before then, within the note; over the note's first CYCLE_FRAMES
    (a cycle of vibrato) until it has that many."""
    frames = np.arange(first, stop)
    references = np.empty(len(frames))
    head = frames < note_start + CYCLE_FRAMES
    if head.any():
        references[head] = np.median(smooth[note_start:note_start + CYCLE_FRAMES])
    growing = np.flatnonzero(~head & (frames < note_start + REFERENCE_FRAMES))
    if len(growing):
        references[growing] = _prefix_medians(smooth[note_start:], frames[growing] - note_start)
    tail = frames >= note_start + REFERENCE_FRAMES
    if tail.any():
        windows = np.lib.stride_tricks.sliding_window_view(smooth, REFERENCE_FRAMES)
        references[tail] = np.median(windows[frames[tail] - REFERENCE_FRAMES], axis=1)
    return references


SCAN_FRAMES = 250  # _pitch_boundaries looks for a departure this many frames at a time


def _pitch_boundaries(midi: np.ndarray) -> list[float]:
    """Fractional frames (within one sounding run, [N] MIDI pitch) where a new note starts.

    A new note: the median-smoothed pitch leaves the current note's pitch (see
    :func:`_references`) by more than NEW_NOTE_ST for HELD_FRAMES frames. The new note's
    pitch is read over a cycle from where the glide has arrived, and the boundary is where
    the smoothed pitch crossed half-way: one per glide.
    """
    smooth = _median_smooth(midi, SMOOTH_FRAMES)
    if len(smooth) < HELD_FRAMES:
        return []
    held = np.lib.stride_tricks.sliding_window_view(smooth, HELD_FRAMES)  # [N - HELD + 1, HELD]
    boundaries: list[float] = []
    note_start, i = 0, 0
    while i < len(held):
        stop = min(len(held), i + SCAN_FRAMES)
        references = _references(smooth, note_start, i, stop)
        away = np.all(np.abs(held[i:stop] - references[:, None]) > NEW_NOTE_ST, axis=1)
        block_start, i = i, stop  # no departure in this block unless one is found below
        for k in np.flatnonzero(away):
            candidate, reference = block_start + int(k), float(references[k])
            settled = _settle(smooth, candidate)
            new = float(np.median(smooth[settled:settled + CYCLE_FRAMES]))
            if abs(new - reference) <= NEW_NOTE_ST:  # it came back: vibrato or a wobble
                continue
            boundary = _crossing(smooth, max(note_start + 1, candidate - SMOOTH_FRAMES // 2 - 1),
                                 settled, reference, new)
            boundaries.append(boundary)
            note_start = i = max(settled, int(np.ceil(boundary)))
            break
    return boundaries


def segment_notes(f0_hz: np.ndarray, power_db: np.ndarray, voiced: np.ndarray,
                  frame_rate_hz: float = FRAME_RATE_HZ) -> list[NoteSpan]:
    """Notes from features alone: sounding runs, split where the pitch moves to a new note.

    Vibrato (a 5-8 Hz oscillation of up to +-50 cents) and drifts stay one note; a glide
    between two notes splits once, half-way. A note after a split is ``slurred``; one after
    silence is not. Runs shorter than MIN_NOTE_FRAMES are dropped. Repeated notes of one pitch
    with no silent frame between them stay one note.

    Args:
        f0_hz: [F] pitch in Hz (features with ``sharpen=False`` show glides as played).
        power_db: [F] frame power in dB.
        voiced: [F] bool.
    Returns:
        The notes in time order; a note covers the frames whose centres lie in [start_s, end_s).
    """
    f0_hz = np.asarray(f0_hz, np.float64)
    midi = np.asarray(hz_to_midi(f0_hz), np.float64)
    notes: list[NoteSpan] = []
    for start, stop in _runs(sounding_frames(power_db, voiced)):
        edges = [max(start - 0.5, 0.0), *(start + b for b in _pitch_boundaries(midi[start:stop])), stop - 0.5]
        for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            first, last = int(np.ceil(lo)), int(np.ceil(hi))
            if last - first < MIN_NOTE_FRAMES:
                continue
            notes.append(NoteSpan(lo / frame_rate_hz, hi / frame_rate_hz,
                                  float(np.median(midi[first:last])), slurred=k > 0))
    return notes


# ---------------------------------------------------------------------------------------------
# Pitch, refined from the audio


def _smoothed_audio(audio_16k: np.ndarray) -> np.ndarray:
    """[T] -> [T] audio low-passed by a 9-tap binomial filter (zero phase; -12 dB at 4 kHz):
    without its highest partials a tone's difference function is a parabola near its minimum."""
    return np.convolve(np.asarray(audio_16k, np.float64), REFINE_KERNEL, mode="same")


REFINE_CHUNK_ELEMENTS = 1_000_000  # frames x lags x window samples per batch: 8 MB an array


def _period_samples(audio: np.ndarray, centres: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """[N] periods (fractional samples) near ``periods`` [N] of ``audio`` [T] around samples
    ``centres`` [N].

    For each: the lag within REFINE_SEARCH of its period that minimises the squared
    difference between the window of max(one period, REFINE_MIN_WINDOW) samples centred there
    and its copy a lag later (YIN's difference function, centred), refined by a parabola
    through its neighbours. NaN where the window leaves the audio, the minimum is at the edge
    of the search or the window is not periodic there (a normalised difference over
    REFINE_MAX_DIFFERENCE: a note's first frame, half silence). Frames of similar period are
    computed together, their lags and windows padded to the longest and masked.
    """
    centres = np.asarray(centres, np.int64)
    periods = np.asarray(periods, np.float64)
    first_lags = (periods * (1 - REFINE_SEARCH)).astype(np.int64)
    n_lags = np.ceil(periods * (1 + REFINE_SEARCH)).astype(np.int64) + 1 - first_lags
    widths = np.maximum(np.round(periods).astype(np.int64), REFINE_MIN_WINDOW)
    # a frame's windows span [first of its first lag, last of its last lag + width)
    last_lags = first_lags + n_lags - 1
    inside = ((centres - widths // 2 - last_lags // 2 >= 0)
              & (centres - widths // 2 - first_lags // 2 + last_lags + widths <= len(audio)))
    result = np.full(len(centres), np.nan)
    todo = np.flatnonzero(inside)
    todo = todo[np.argsort(periods[todo], kind="stable")]  # similar periods: little padding
    margin = int(n_lags.max() + widths.max()) if len(todo) else 0
    padded = np.pad(audio, (0, margin))  # padded lags and samples read zeros, masked out
    squares = np.concatenate([[0.0], np.cumsum(padded * padded)])
    costs = n_lags[todo] * widths[todo]  # nondecreasing with the period, nearly
    start = 0
    while start < len(todo):
        over = (np.arange(1, len(todo) - start + 1) * np.maximum.accumulate(costs[start:])
                > REFINE_CHUNK_ELEMENTS)
        chunk = todo[start:start + (max(1, int(np.argmax(over))) if over.any() else len(todo))]
        start += len(chunk)
        result[chunk] = _chunk_periods(padded, squares, centres[chunk], first_lags[chunk], n_lags[chunk],
                                       widths[chunk])
    return result


def _chunk_periods(audio: np.ndarray, squares: np.ndarray, centres: np.ndarray, first_lags: np.ndarray,
                   n_lags: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """:func:`_period_samples` for [C] frames whose windows all lie in ``audio``; ``squares``:
    [T + 1] the running sum of its squares."""
    lags = first_lags[:, None] + np.arange(n_lags.max())  # [C, L]
    valid = np.arange(n_lags.max()) < n_lags[:, None]  # [C, L]
    lags = np.where(valid, lags, first_lags[:, None])
    first = centres[:, None] - widths[:, None] // 2 - lags // 2  # [C, L] window starts
    windows = np.lib.stride_tricks.sliding_window_view(audio, int(widths.max()))
    in_window = (np.arange(widths.max()) < widths[:, None])[:, None, :]  # [C, 1, W]
    difference = (windows[first] - windows[first + lags]) * in_window  # [C, L, W]
    # normalised by the two windows' energy, so that a rising or falling level does not pull it
    width = widths[:, None]
    two_energies = (squares[first + width] - squares[first]
                    + squares[first + lags + width] - squares[first + lags])
    energy = np.einsum("clw,clw->cl", difference, difference) / np.maximum(two_energies, 1e-20)
    energy = np.where(valid, energy, np.inf)
    rows = np.arange(len(centres))
    k = np.argmin(energy, axis=1)
    ok = (k > 0) & (k < n_lags - 1) & (energy[rows, k] <= REFINE_MAX_DIFFERENCE)
    k = np.clip(k, 1, n_lags - 2)  # where not ok, any lag with two neighbours: the result is NaN
    left, mid, right = energy[rows, k - 1], energy[rows, k], energy[rows, k + 1]
    curvature = left - 2 * mid + right
    offset = 0.5 * (left - right) / np.where(curvature > 0, curvature, 1.0)
    return np.where(ok, lags[rows, k] + np.where(curvature > 0, offset, 0.0), np.nan)


def refine_f0_hz(audio_16k: np.ndarray, f0_hz: np.ndarray, voiced: np.ndarray,
                 frame_rate_hz: float = FRAME_RATE_HZ) -> np.ndarray:
    """The pitch of each voiced frame, measured precisely near the tracker's (within a semitone).

    swift-f0 scores 70-cent pitch steps and reads small deviations shrunk, by a factor that
    depends on the pitch (a 30-cent vibrato reads 18-28 cents); this reads them to a few
    percent (see :func:`_period_samples`: windows of about 10 ms, which shrink a 6 Hz
    vibrato by under 1 %).

    Args:
        audio_16k: [T] audio at 16 kHz; frame i is centred on sample i * 16000 / frame_rate_hz.
        f0_hz: [F] the tracker's pitch.
        voiced: [F] bool; only these frames are measured.
    Returns:
        [F] pitch in Hz; NaN where not measured (unvoiced, or not periodic enough there: a
        note's first frame, half silence, is one).
    """
    audio = _smoothed_audio(audio_16k)
    f0_hz = np.asarray(f0_hz, np.float64)
    refined = np.full(len(f0_hz), np.nan)
    frames = np.flatnonzero(np.asarray(voiced, bool) & (f0_hz > 0))
    centres = np.round(frames * SAMPLE_RATE_HZ / frame_rate_hz).astype(np.int64)
    refined[frames] = SAMPLE_RATE_HZ / _period_samples(audio, centres, SAMPLE_RATE_HZ / f0_hz[frames])
    return refined


# ---------------------------------------------------------------------------------------------
# Measurement


@dataclass
class _Track:
    """One recording's features, as measure_notes reads them."""

    midi: np.ndarray  # [F] pitch, fractional MIDI
    power_db: np.ndarray  # [F]
    voiced: np.ndarray  # [F] bool
    sounding: np.ndarray  # [F] bool, see sounding_frames
    frame_rate_hz: float
    audio_16k: np.ndarray | None

    def frames(self, start_s: float, end_s: float) -> tuple[int, int]:
        """[first, stop) frames whose centres lie in [start_s, end_s)."""
        n = len(self.midi)
        first = int(np.ceil(start_s * self.frame_rate_hz - 1e-6))
        stop = int(np.ceil(end_s * self.frame_rate_hz - 1e-6))
        return min(max(first, 0), n), min(max(stop, 0), n)


def _as_span(track: _Track, note, previous: NoteSpan | None) -> NoteSpan:
    """``note`` as a :class:`NoteSpan` with its pitch the median of its voiced frames (the given
    pitch if none is). A NoteSpan keeps its slur; a (pitch, start_s, end_s, ...) tuple or an
    object with ``pitch``, ``start_s`` and ``end_s`` (a score's note) is slurred when every
    frame from the previous note's end to its start sounds."""
    if isinstance(note, NoteSpan):
        pitch, start_s, end_s = note.pitch_midi, note.start_s, note.end_s
    elif isinstance(note, tuple | list):
        pitch, start_s, end_s = (float(v) for v in note[:3])
    else:
        pitch, start_s, end_s = float(note.pitch), float(note.start_s), float(note.end_s)
    first, stop = track.frames(start_s, end_s)
    voiced = track.voiced[first:stop]
    if voiced.any():
        pitch = float(np.median(track.midi[first:stop][voiced]))
    if isinstance(note, NoteSpan):
        return NoteSpan(start_s, end_s, pitch, note.slurred)
    slurred = False
    if previous is not None:
        previous_stop = track.frames(previous.start_s, previous.end_s)[1]
        lo, hi = min(previous_stop, first) - 1, max(previous_stop, first) + 1
        slurred = lo >= 0 and bool(track.sounding[lo:hi].all())
    return NoteSpan(start_s, end_s, pitch, slurred)


def _level(track: _Track, first: int, stop: int) -> tuple[float, float]:
    """(median power in dB, least-squares slope in dB/s between the edges) of frames [first, stop)."""
    if stop <= first:
        return np.nan, np.nan
    level_db = float(np.median(track.power_db[first:stop]))
    edge = int(round(LEVEL_EDGE_S * track.frame_rate_hz))
    inner = track.power_db[first + edge:stop - edge]
    if len(inner) < 5:
        return level_db, np.nan
    times_s = np.arange(len(inner)) / track.frame_rate_hz
    return level_db, float(np.polyfit(times_s, inner, 1)[0])


def _scoop_cents(track: _Track, first: int, stop: int, pitch_midi: float) -> float:
    """The pitch over the note's first SCOOP_S of voiced frames minus ``pitch_midi``, in cents."""
    voiced = np.flatnonzero(track.voiced[first:stop]) + first
    if len(voiced) == 0:
        return np.nan
    early = voiced[voiced < voiced[0] + SCOOP_S * track.frame_rate_hz]
    return float(100.0 * (np.median(track.midi[early]) - pitch_midi))


def _deviation_cents(midi: np.ndarray, voiced: np.ndarray, pitch_midi: float) -> np.ndarray | None:
    """[N] pitch -> [N] deviation from ``pitch_midi`` in cents, linear trend removed.

    Unvoiced frames and jumps over MAX_DEVIATION_CENTS are filled from their neighbours;
    None when fewer than two thirds of the frames are usable.
    """
    cents = 100.0 * (midi - pitch_midi)
    usable = voiced & (np.abs(cents) <= MAX_DEVIATION_CENTS)
    if len(cents) < 8 or usable.mean() < 2 / 3:
        return None
    index = np.arange(len(cents))
    cents = np.interp(index, index[usable], cents[usable])
    return cents - np.polyval(np.polyfit(index, cents, 1), index)


def _fft_peak_hz(deviation: np.ndarray, frame_rate_hz: float) -> float:
    """Frequency of the largest peak of the Hann-windowed spectrum within VIBRATO_BAND_HZ,
    parabolically interpolated between bins."""
    n_fft = max(FFT_POINTS, 2 ** int(np.ceil(np.log2(len(deviation)))))
    magnitude = np.abs(np.fft.rfft(deviation * np.hanning(len(deviation)), n_fft))
    freqs_hz = np.fft.rfftfreq(n_fft, 1 / frame_rate_hz)
    band = np.flatnonzero((freqs_hz >= VIBRATO_BAND_HZ[0]) & (freqs_hz <= VIBRATO_BAND_HZ[1]))
    k = int(band[np.argmax(magnitude[band])])
    left, centre, right = magnitude[k - 1], magnitude[k], magnitude[k + 1]
    curvature = left - 2 * centre + right
    offset = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)) if curvature < 0 else 0.0
    return float(np.clip(freqs_hz[k] + offset * (freqs_hz[1] - freqs_hz[0]), *VIBRATO_BAND_HZ))


def _sine_fits(deviation: np.ndarray, frame_rate_hz: float, freqs_hz: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """([C] amplitudes, [C] fractions of the variance explained) of the least-squares sine
    plus straight line through ``deviation`` [N] at each of ``freqs_hz`` [C]."""
    n = len(deviation)
    times_s = np.arange(n) / frame_rate_hz
    phase = 2 * np.pi * np.asarray(freqs_hz, np.float64)[:, None] * times_s
    waves = np.stack([np.sin(phase), np.cos(phase)], axis=1)  # [C, 2, N]
    # the normal equations of the basis (sine, cosine, 1, t): the constant and the line's
    # sums are the same for every frequency
    with_rest = waves @ np.stack([np.ones(n), times_s, deviation], axis=1)  # [C, 2, 3]
    gram = np.empty((len(phase), 4, 4))
    gram[:, :2, :2] = waves @ waves.transpose(0, 2, 1)
    gram[:, :2, 2:] = with_rest[:, :, :2]
    gram[:, 2:, :2] = with_rest[:, :, :2].transpose(0, 2, 1)
    gram[:, 2:, 2:] = [[n, times_s.sum()], [times_s.sum(), times_s @ times_s]]
    rhs = np.concatenate([with_rest[:, :, 2], np.broadcast_to([deviation.sum(), times_s @ deviation],
                                                              (len(phase), 2))], axis=1)
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]  # [C, 4]
    residual = (deviation - np.einsum("ckn,ck->cn", waves, coef[:, :2])
                - coef[:, 2:3] - coef[:, 3:4] * times_s)
    centred = deviation - deviation.mean()
    explained = 1.0 - np.einsum("cn,cn->c", residual, residual) / max(float(centred @ centred), 1e-12)
    return np.hypot(coef[:, 0], coef[:, 1]), explained


def _best_sine(deviation: np.ndarray, frame_rate_hz: float, guess_hz: float
               ) -> tuple[float, float, float]:
    """(rate in Hz, amplitude, fraction explained) of the sine that fits ``deviation`` best,
    searched within RATE_SEARCH_HZ of ``guess_hz``."""
    low, high = VIBRATO_BAND_HZ
    candidates = np.arange(max(low, guess_hz - RATE_SEARCH_HZ), min(high, guess_hz + RATE_SEARCH_HZ)
                           + RATE_STEP_HZ / 2, RATE_STEP_HZ)
    amplitudes, explained = _sine_fits(deviation, frame_rate_hz, candidates)
    best = int(np.argmax(explained))
    return float(candidates[best]), float(amplitudes[best]), float(explained[best])


def _sine_envelope(deviation: np.ndarray, frame_rate_hz: float, freq_hz: float) -> np.ndarray:
    """[N] local amplitude of the ``freq_hz`` oscillation in ``deviation`` [N]: complex
    demodulation, averaged over a Hann window one cycle long (which nulls the 2 f image);
    the window is cut and renormalised at the ends."""
    times_s = np.arange(len(deviation)) / frame_rate_hz
    baseband = deviation * np.exp(-2j * np.pi * freq_hz * times_s)
    window = np.hanning(max(3, int(round(ENVELOPE_CYCLES * frame_rate_hz / freq_hz)) | 1))
    weight = np.convolve(np.ones(len(deviation)), window, mode="same")
    return 2.0 * np.abs(np.convolve(baseband, window, mode="same")) / weight


def _first_reaching(values: np.ndarray, level: float) -> float:
    """Fractional index where ``values`` [N] first reaches ``level`` (linear between samples);
    NaN if it never does."""
    reached = values >= level
    if not reached.any():
        return np.nan
    k = int(np.argmax(reached))
    if k == 0:
        return 0.0
    return k - 1 + (level - values[k - 1]) / (values[k] - values[k - 1])


def _vibrato(deviation: np.ndarray, frame_rate_hz: float) -> tuple[float, float, float]:
    """(rate in Hz, depth in cents, onset in frames from the first) of ``deviation`` [N] in cents.

    The onset is the first frame where the local amplitude reaches half its plateau (the
    median of the frames above half its 90th percentile); the rate the FFT peak refined by
    the sine that fits best from the onset on; the depth the amplitude of the sine at that
    rate fitted from a cycle after the onset on (from the onset if that leaves under 1.5
    cycles). Rate and onset are NaN without vibrato.
    """
    guess_hz = _fft_peak_hz(deviation, frame_rate_hz)
    rate_hz, depth, explained = _best_sine(deviation, frame_rate_hz, guess_hz)
    envelope = _sine_envelope(deviation, frame_rate_hz, rate_hz)
    plateau = float(np.median(envelope[envelope >= 0.5 * np.percentile(envelope, 90)]))
    onset = _first_reaching(envelope, 0.5 * plateau)
    cycle = frame_rate_hz / rate_hz
    if int(onset) > 0:
        rate_hz, depth, explained = _best_sine(deviation[int(onset):], frame_rate_hz, rate_hz)
    steady = int(np.ceil(onset + cycle))
    if len(deviation) - steady >= 1.5 * cycle:
        depths, fits = _sine_fits(deviation[steady:], frame_rate_hz, np.array([rate_hz]))
        depth, explained = float(depths[0]), float(fits[0])
    if depth < MIN_VIBRATO_CENTS or explained < MIN_VIBRATO_FIT:
        return np.nan, depth, np.nan
    return rate_hz, depth, onset


def _audio_envelope(audio_16k: np.ndarray, start_s: float, end_s: float, pitch_midi: float
                    ) -> np.ndarray:
    """[M] RMS amplitude every ENVELOPE_HOP_S from ``start_s`` to ``end_s`` (clipped to the
    audio), each over one period of ``pitch_midi`` (at least 1 ms) centred on its time: a
    period-long window reads a harmonic tone without ripple."""
    period = int(round(SAMPLE_RATE_HZ / (440.0 * 2.0 ** ((pitch_midi - 69.0) / 12.0))))
    width = max(int(ENVELOPE_HOP_S * SAMPLE_RATE_HZ), period)
    times_s = np.arange(max(start_s, 0.0), end_s, ENVELOPE_HOP_S)
    if len(times_s) == 0:
        return np.zeros(0)
    lo = np.clip(np.round(times_s * SAMPLE_RATE_HZ).astype(int) - width // 2, 0, len(audio_16k))
    hi = np.clip(lo + width, 0, len(audio_16k))
    # the running sum over the samples the windows cover only: a note's, not the recording's
    first = int(lo[0])
    audio = np.asarray(audio_16k[first:int(hi[-1])], np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(audio * audio)])
    return np.sqrt((cumulative[hi - first] - cumulative[lo - first]) / width)


def _envelope(track: _Track, start_s: float, end_s: float, pitch_midi: float
              ) -> tuple[np.ndarray, float, float]:
    """(amplitude envelope [M], its hop in s, the time of its first value): the audio's when
    given, else the frames' power as linear amplitude."""
    start_s = max(start_s, 0.0)
    if track.audio_16k is not None:
        return _audio_envelope(track.audio_16k, start_s, end_s, pitch_midi), ENVELOPE_HOP_S, start_s
    first, stop = track.frames(start_s, end_s)
    amplitude = 10.0 ** (track.power_db[first:stop] / 20.0)
    return amplitude, 1.0 / track.frame_rate_hz, first / track.frame_rate_hz


def _rise_s(envelope: np.ndarray, hop_s: float, quiet_from: int, peak_from: int, peak_to: int
            ) -> float:
    """Seconds ``envelope`` [M] takes from 10 % to 90 % of its rise from the quiet point (its
    minimum from ``quiet_from`` to the peak) to the peak (its maximum in [peak_from, peak_to)).

    NaN where there is no such rise of 6 dB or more.
    """
    if peak_to <= peak_from or quiet_from > peak_from:
        return np.nan
    peak = peak_from + int(np.argmax(envelope[peak_from:peak_to]))
    quiet = quiet_from + int(np.argmin(envelope[quiet_from:peak + 1]))
    low, high = envelope[quiet], envelope[peak]
    if high < 2.0 * low or high <= 0:
        return np.nan
    rising = envelope[quiet:peak + 1]
    at_90 = _first_reaching(rising, low + 0.9 * (high - low))
    below_10 = np.flatnonzero(rising[:int(np.ceil(at_90)) + 1] <= low + 0.1 * (high - low))
    at_10 = below_10[-1] + _first_reaching(rising[below_10[-1]:], low + 0.1 * (high - low))
    return float((at_90 - at_10) * hop_s)


def _attack_s(track: _Track, note: NoteSpan, previous: NoteSpan | None) -> float:
    """The note's attack time (see NoteExpression), NaN for a slurred note."""
    if note.slurred:
        return np.nan
    quiet_from_s = note.start_s - LOOK_BEFORE_S
    if previous is not None:
        quiet_from_s = max(quiet_from_s, (previous.start_s + previous.end_s) / 2)
    peak_to_s = min(note.end_s, note.start_s + ATTACK_WINDOW_S)
    envelope, hop_s, t0_s = _envelope(track, quiet_from_s, peak_to_s, note.pitch_midi)
    start = max(int(round((note.start_s - t0_s) / hop_s)), 0)
    return _rise_s(envelope, hop_s, 0, start, len(envelope))


def _release_s(track: _Track, note: NoteSpan, following: NoteSpan | None) -> float:
    """The note's release time (see NoteExpression), NaN unless silence follows it."""
    if following is not None and following.slurred:
        return np.nan
    peak_from_s = max((note.start_s + note.end_s) / 2, note.end_s - RELEASE_WINDOW_S)
    quiet_to_s = note.end_s + LOOK_AFTER_S
    if following is not None:
        quiet_to_s = min(quiet_to_s, (following.start_s + following.end_s) / 2)
    envelope, hop_s, t0_s = _envelope(track, peak_from_s, quiet_to_s, note.pitch_midi)
    # the release is the attack of the envelope played backwards
    backwards = envelope[::-1]
    end = len(envelope) - 1 - int(round((note.end_s - t0_s) / hop_s))
    return _rise_s(backwards, hop_s, 0, max(end, 0), len(backwards))


def _ramp_fit(times_s: np.ndarray, midi: np.ndarray, old: float, new: float, centre_s: float
              ) -> tuple[float, float]:
    """(middle, duration) in s of the straight glide from ``old`` to ``new`` that fits ``midi``
    [N] at ``times_s`` [N] (ascending) best (least squares), its middle within GLIDE_SEARCH_S
    of ``centre_s``: searched over a grid of GLIDE_STEP_S.

    The glide's progress is 0 before it, (t - its beginning) / duration during it and 1 after:
    the squared error of every glide on the grid comes from running sums over the frames.
    """
    offsets_s = np.arange(-GLIDE_SEARCH_S, GLIDE_SEARCH_S + 1e-9, GLIDE_STEP_S)
    centres = centre_s + offsets_s
    durations = np.arange(GLIDE_STEP_S, GLIDE_MAX_S + 1e-9, GLIDE_STEP_S)
    t = np.asarray(times_s, np.float64) - centre_s  # small numbers: the sums stay exact
    below = old - np.asarray(midi, np.float64)  # the error where the glide has not begun
    step = new - old

    def running(values: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(values)])

    n_sum, t_sum, tt_sum = running(np.ones_like(t)), running(t), running(t * t)
    b_sum, tb_sum = running(below), running(t * below)
    begin = offsets_s[:, None] - durations / 2  # [centres, durations]
    first = np.searchsorted(t, begin, "right")  # frames during the glide: [first, after)
    after = np.searchsorted(t, begin + durations, "left")  # progress 1 from here on

    def during(sums: np.ndarray) -> np.ndarray:
        return sums[after] - sums[first]

    # progress p = (t - begin) / duration during the glide; error = sum (below + step p)^2
    p_below = (during(tb_sum) - begin * during(b_sum)) / durations + (b_sum[-1] - b_sum[after])
    p_p = ((during(tt_sum) - 2 * begin * during(t_sum) + begin**2 * during(n_sum)) / durations**2
           + (len(t) - after))
    error = 2 * step * p_below + step**2 * p_p  # + sum below^2, the same for every glide
    # glides that differ only between frames fit alike: the first (earliest, shortest) of
    # them, rounding aside
    scale = float(below @ below) + step**2 * len(t)
    best = int(np.argmax(error.ravel() <= error.min() + RAMP_TIE * scale))
    best_centre, best_duration = np.unravel_index(best, error.shape)
    return float(centres[best_centre]), float(durations[best_duration])


def _glide(track: _Track, note: NoteSpan, previous: NoteSpan | None) -> tuple[float, float]:
    """(middle, duration) in s of the glide into a slurred note: the straight glide from the
    previous note's pitch to this one's that fits the voiced pitch within GLIDE_WINDOW_S of the
    note's start best (vibrato either side averages out). NaN for other notes, and for notes
    under half a semitone from the previous one."""
    if previous is None or not note.slurred or abs(note.pitch_midi - previous.pitch_midi) < 0.5:
        return np.nan, np.nan
    first, stop = track.frames(max(previous.start_s, note.start_s - GLIDE_WINDOW_S),
                               min(note.end_s, note.start_s + GLIDE_WINDOW_S))
    frames = np.arange(first, stop)[track.voiced[first:stop]]
    if len(frames) < 4:
        return np.nan, np.nan
    return _ramp_fit(frames / track.frame_rate_hz, track.midi[frames], previous.pitch_midi,
                     note.pitch_midi, note.start_s)


def _vibrato_span(track: _Track, note: NoteSpan, glide_in: tuple[float, float],
                  glide_out: tuple[float, float]) -> tuple[int, int]:
    """[first, stop) frames of the note where vibrato is measured: VIBRATO_EDGE_FRAMES in from
    its ends, and out of the glides into and out of it (``(middle, duration)`` in s, NaN if none)."""
    first, stop = track.frames(note.start_s, note.end_s)
    first, stop = first + VIBRATO_EDGE_FRAMES, stop - VIBRATO_EDGE_FRAMES
    if np.isfinite(glide_in[0]):
        first = max(first, int(np.ceil((glide_in[0] + glide_in[1] / 2) * track.frame_rate_hz)) + 1)
    if np.isfinite(glide_out[0]):
        stop = min(stop, int(np.floor((glide_out[0] - glide_out[1] / 2) * track.frame_rate_hz)))
    return first, stop


def _vibrato_of(track: _Track, note: NoteSpan, first: int, stop: int) -> tuple[float, float, float]:
    """(rate in Hz, depth in cents, onset in s after the note's start) measured over frames
    [first, stop) of ``note``; NaN for notes shorter than MIN_VIBRATO_NOTE_S or spans shorter
    than MIN_VIBRATO_SPAN_S."""
    if (note.end_s - note.start_s < MIN_VIBRATO_NOTE_S
            or stop - first < MIN_VIBRATO_SPAN_S * track.frame_rate_hz):
        return np.nan, np.nan, np.nan
    deviation = _deviation_cents(track.midi[first:stop], track.voiced[first:stop], note.pitch_midi)
    if deviation is None:
        return np.nan, np.nan, np.nan
    rate_hz, depth, onset = _vibrato(deviation, track.frame_rate_hz)
    return rate_hz, depth, float((first + onset) / track.frame_rate_hz - note.start_s)


def _measure(track: _Track, spans: list[NoteSpan], j: int) -> NoteExpression:
    """The :class:`NoteExpression` of ``spans[j]``."""
    note = spans[j]
    previous = spans[j - 1] if j > 0 else None
    following = spans[j + 1] if j + 1 < len(spans) else None
    first, stop = track.frames(note.start_s, note.end_s)
    level_db, slope = _level(track, first, stop)
    glide_in = _glide(track, note, previous)
    glide_out = _glide(track, following, note) if following is not None else (np.nan, np.nan)
    rate_hz, depth, onset_s = _vibrato_of(track, note, *_vibrato_span(track, note, glide_in, glide_out))
    return NoteExpression(
        start_s=note.start_s, pitch_midi=note.pitch_midi, duration_s=note.end_s - note.start_s,
        slurred=note.slurred, level_db=level_db, level_slope_db_per_s=slope,
        vibrato_rate_hz=rate_hz, vibrato_depth_cents=depth, vibrato_onset_s=onset_s,
        attack_s=_attack_s(track, note, previous), release_s=_release_s(track, note, following),
        scoop_cents=np.nan if note.slurred else _scoop_cents(track, first, stop, note.pitch_midi),
        glide_s=GLIDE_10_TO_90 * glide_in[1])


def attack_and_release_s(audio_16k: np.ndarray, start_s: float, end_s: float, pitch_midi: float
                         ) -> tuple[float, float]:
    """(attack_s, release_s) of one note with silence before and after it in ``audio_16k`` [T]
    (16 kHz), timed on the audio's envelope exactly as :func:`measure_notes` times a note's
    (see :class:`NoteExpression`); NaN where there is no rise or fall of 6 dB. Cheap: no pitch
    is measured."""
    empty = np.zeros(0)
    track = _Track(empty, empty, empty.astype(bool), empty.astype(bool), FRAME_RATE_HZ, audio_16k)
    note = NoteSpan(start_s, end_s, pitch_midi)
    return _attack_s(track, note, None), _release_s(track, note, None)


def measure_notes(f0_hz: np.ndarray, power_db: np.ndarray, voiced: np.ndarray, notes: Sequence,
                  audio_16k: np.ndarray | None = None, frame_rate_hz: float = FRAME_RATE_HZ
                  ) -> list[NoteExpression]:
    """Per note, what it shows of the player's expression (see :class:`NoteExpression`).

    Args:
        f0_hz: [F] pitch in Hz (features with ``sharpen=False``).
        power_db: [F] frame power in dB.
        voiced: [F] bool.
        notes: in time order: :class:`NoteSpan` (from :func:`segment_notes`), (pitch, start_s,
            end_s, ...) tuples or objects with ``pitch``, ``start_s`` and ``end_s`` (a score's
            notes, aligned with the audio: their pitch and slurs are measured).
        audio_16k: [T] the audio at 16 kHz, on the features' timeline: the pitch is refined
            from it (:func:`refine_f0_hz`; the tracker's alone reads vibrato shallow) and the
            attack and release are timed on its 1 ms envelope instead of the frames' power.
    Returns:
        One :class:`NoteExpression` per note, in order.
    """
    f0_hz, power_db = np.asarray(f0_hz, np.float64), np.asarray(power_db, np.float64)
    if not len(f0_hz) == len(power_db) == len(voiced):
        raise ValueError(f"f0_hz, power_db and voiced differ in length: "
                         f"{len(f0_hz)}, {len(power_db)}, {len(voiced)}")
    voiced = np.asarray(voiced, bool) & (f0_hz > 0)
    sounding = sounding_frames(power_db, voiced)
    if audio_16k is not None:  # the pitch measured precisely; frames that cannot be are left out
        refined_hz = refine_f0_hz(audio_16k, f0_hz, voiced, frame_rate_hz)
        voiced &= np.isfinite(refined_hz)
        f0_hz = np.where(voiced, refined_hz, f0_hz)
    track = _Track(np.asarray(hz_to_midi(f0_hz), np.float64), power_db, voiced, sounding,
                   frame_rate_hz, audio_16k)
    spans: list[NoteSpan] = []
    for note in notes:
        spans.append(_as_span(track, note, spans[-1] if spans else None))
    return [_measure(track, spans, j) for j in range(len(spans))]
