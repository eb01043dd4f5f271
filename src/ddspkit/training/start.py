"""Where training starts: random weights, a model's weights, or the nearest bundled model.

Every bundled model already knows what a harmonic instrument sounds like, so training from
one reaches a given held-out quality in a fraction of the steps that random weights need
(measured by ``benchmarks/time_to_quality.py``, figures in the README). ``auto`` picks the
bundled model whose held-out spectral loss on a few of the new data's validation windows is
lowest, before any training: the one that already sounds most like the data.

The candidates are the bundled models by their bundled files: a user model that has a
bundled model's name (imported before names were checked) never stands in for it.

A start is asked for as ``"scratch"``, ``"auto"``, a model name (user models first, then
bundled ones) or a path to a ``.safetensors`` model or a ddspkit ``.tflite`` export (whose
decoder weights are read back from its constants; the plugin has no room, so the reverb
starts fresh).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ddspkit.errors import UserError
from ddspkit.io.modelfile import ModelInfo, weights_digest
from ddspkit.io.models import VST_SUFFIX, bundled_dir, bundled_models, load_model, resolve_model
from ddspkit.model import Instrument

SCRATCH = "scratch"
SCRATCH_WORDS = (SCRATCH, "none", "random")  # each asks for random weights
AUTO = "auto"
# Measured (README, "Time to quality"): from the nearest bundled model, the held-out quality
# that 4,000 steps from random weights reach comes in a fraction of the steps.
DEFAULT_START = AUTO
AUTO_WINDOWS = 8  # validation windows (4 s each) every candidate is scored on

# Scores an instrument (lower is better): the held-out spectral loss of the data at hand.
Scorer = Callable[[Instrument], float]
# Told which candidate is being scored: (model name, 1-based index, number of candidates).
OnCandidate = Callable[[str, int, int], None]


@dataclass
class StartPoint:
    """What a training run starts from, as recorded in its checkpoint and provenance."""

    requested: str  # "scratch", "auto", a model name or a path, as asked
    model: str | None = None  # the model whose weights it starts from; None from scratch
    file: str | None = None  # that model's file ("bundled" models by name only)
    weights_sha256: str | None = None  # of the starting weights, float32
    chosen_by: str | None = None  # for "auto": how the model was chosen
    candidate_losses: dict[str, float | None] | None = None  # "auto": each candidate's loss
    state: dict[str, torch.Tensor] | None = field(default=None, repr=False)  # not recorded

    def to_dict(self) -> dict[str, Any]:
        record = {"from": self.requested, "model": self.model, "file": self.file,
                  "weights_sha256": self.weights_sha256}
        if self.chosen_by:
            record["chosen_by"] = self.chosen_by
            record["candidate_losses"] = self.candidate_losses
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any] | None) -> StartPoint:
        """A recorded start; runs from before fine-tuning existed started from scratch."""
        record = record or {"from": SCRATCH}
        return cls(record.get("from", SCRATCH), record.get("model"), record.get("file"),
                   record.get("weights_sha256"), record.get("chosen_by"),
                   record.get("candidate_losses"))

    def describe(self) -> str:
        """One line for the user: where this run starts."""
        if self.model is None:
            return "from random weights"
        if self.chosen_by:
            return f"from {self.model} ({self.chosen_by})"
        return f"from {self.model}"


def is_scratch(requested: str) -> bool:
    """Whether ``requested`` asks for random weights (every other request names a model)."""
    return requested.strip().lower() in SCRATCH_WORDS


def normalised(requested: str) -> str:
    """A start request in a comparable form: a path resolved, a name or keyword lowercased."""
    text = requested.strip()
    path = Path(text).expanduser()
    if path.suffix or "/" in text or "\\" in text:
        return str(path.resolve())
    return text.lower()


def same_start(requested: str, recorded: StartPoint) -> bool:
    """Whether asking for ``requested`` agrees with a run that started at ``recorded``:
    the same request, or a name of the very model that run started from."""
    asked = normalised(requested)
    return asked == normalised(recorded.requested) or (
        recorded.model is not None and asked == recorded.model.lower())


def _weights_of(name_or_path: str | Path) -> tuple[str, str, dict[str, torch.Tensor]]:
    """(model name, file label, float32 state dict) of a model to start from."""
    path, source = resolve_model(name_or_path)
    if path.parent.resolve() == bundled_dir().resolve():
        source = "bundled"
    label = path.stem if source == "bundled" else str(path)
    if path.suffix.lower() == VST_SUFFIX:
        from ddspkit.config import ModelConfig
        from ddspkit.io.ddsp_vst.graph import decoder_weights
        from ddspkit.io.ddsp_vst.runtime import read_vst_info

        info = read_vst_info(path)  # checked as the plugin would, before reading further
        state = Instrument(info.config).state_dict()
        if info.config != ModelConfig():
            raise UserError(f"{path}: a model of another configuration cannot be a start")
        state.update(decoder_weights(path.read_bytes(), info.config, path))
        return info.name, label, state
    loaded = load_model(path)
    return loaded.info.name, label, {k: v.detach().float().clone()
                                     for k, v in loaded.instrument.state_dict().items()}


def bundled_candidates(exclude: Iterable[str] = ()) -> list[ModelInfo]:
    """The bundled models ``auto`` chooses among (by their bundled files), less ``exclude``
    and the models fine-tuned from one of them (directly or further back), which carry its
    weights."""
    bundled = {info.name.lower(): info for info in bundled_models()
               if info.path is not None and info.path.suffix != VST_SUFFIX}
    skip = {name.lower() for name in exclude}

    def descends_from_skipped(name: str) -> bool:
        seen: set[str] = set()
        while name in bundled and name not in seen:
            if name in skip:
                return True
            seen.add(name)
            name = str((bundled[name].provenance.get("start") or {}).get("model") or "").lower()
        return name in skip

    return [info for key, info in bundled.items() if not descends_from_skipped(key)]


def bundled_names(exclude: Iterable[str] = ()) -> list[str]:
    """Names of the bundled models that ``auto`` chooses among (see :func:`bundled_candidates`)."""
    return [info.name for info in bundled_candidates(exclude)]


def nearest_bundled(score: Scorer, device: torch.device, exclude: Iterable[str] = (),
                    on_candidate: OnCandidate | None = None
                    ) -> tuple[ModelInfo, dict[str, float | None]]:
    """The bundled model that scores lowest on the data, and every candidate's score.

    Each candidate is loaded from its bundled file, never by name. ``on_candidate`` is told
    which one is being scored (a front end's progress)."""
    losses: dict[str, float | None] = {}  # None: not finite (the data holds NaN)
    candidates = bundled_candidates(exclude)
    by_name = {info.name: info for info in candidates}
    for i, info in enumerate(candidates):
        if on_candidate is not None:
            on_candidate(info.name, i + 1, len(candidates))
        loaded = load_model(info.path, device)
        loss = float(score(loaded.instrument))
        losses[info.name] = round(loss, 4) if math.isfinite(loss) else None
    scored = {name: loss for name, loss in losses.items() if loss is not None}
    if not scored:
        raise UserError("--from auto: no bundled model could be scored on this data; use "
                        "--from scratch or --from a model's name")
    return by_name[min(scored, key=scored.get)], losses


def resolve_start(requested: str, score: Scorer | None, device: torch.device,
                  exclude: Iterable[str] = (), on_candidate: OnCandidate | None = None) -> StartPoint:
    """Turn a request into a :class:`StartPoint` with its weights (None from scratch).

    ``score`` rates a candidate for ``auto`` (required then); ``exclude`` names bundled
    models ``auto`` must not pick (a benchmark leaving out the data's own instrument);
    ``on_candidate`` is told which candidate ``auto`` scores.
    Raises UserError for an unknown model or a file whose weights cannot be read.
    """
    keyword = requested.strip().lower()
    if is_scratch(requested):
        return StartPoint(SCRATCH)
    chosen_by = candidates = None
    name_or_path: str | Path = requested
    if keyword == AUTO:
        if score is None:
            raise ValueError("auto needs a scorer")
        nearest, candidates = nearest_bundled(score, device, exclude, on_candidate)
        name_or_path = nearest.path  # the bundled file itself, whatever the user folder holds
        chosen_by = (f"auto: the lowest held-out spectral loss on up to {AUTO_WINDOWS} windows "
                     f"of this data among {len(candidates)} bundled models")
    model, file, state = _weights_of(name_or_path)
    digest = weights_digest({k: v.contiguous() for k, v in state.items()})
    return StartPoint(requested, model, file, digest, chosen_by, candidates, state)
