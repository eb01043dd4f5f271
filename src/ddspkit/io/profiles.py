"""Expression profiles as files, and the choice a face offers: ``learned``, ``plain`` or a file.

A model file carries the profile learned from its training recordings (JSON metadata); a
profile can also be written to and read from a ``.json`` file of its own, to play one
instrument with another player's expression.
"""

from __future__ import annotations

import json
from pathlib import Path

from ddspkit.analysis.profile import ExpressionProfile
from ddspkit.audio import atomic_write
from ddspkit.errors import UserError
from ddspkit.midi.curves import Expression

EXPRESSION_CHOICES = ("learned", "plain")
# What MIDI plays with unless told: "plain" until a learned profile measures closer to the
# recordings than plain does (benchmarks/expression.py: today its vibrato does, its
# loudness contours do not yet).
DEFAULT_EXPRESSION = "plain"


def read_profile(path: str | Path) -> ExpressionProfile:
    """An expression profile from a JSON file; one-line UserError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such expression profile (choose learned, plain or a .json file)")
    try:
        return ExpressionProfile.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not an expression profile ({exc})") from None


def write_profile(path: str | Path, profile: ExpressionProfile) -> Path:
    """Write ``profile`` as JSON, atomically."""
    path = Path(path)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(profile.to_dict(), indent=1)))
    return path


def model_expression(info, choice: str = DEFAULT_EXPRESSION, **explicit: float) -> Expression:
    """:func:`choose_expression` for a model (its :class:`ddspkit.io.model.ModelInfo`'s
    profile); every face plays MIDI with :data:`DEFAULT_EXPRESSION` unless told otherwise."""
    return choose_expression(choice, info.expression_profile, **explicit)


def choose_expression(choice: str, model_profile: ExpressionProfile | None,
                      **explicit: float) -> Expression:
    """The expression a render or a live synth plays with.

    ``choice``: "learned" (the model's profile; a model without one plays with the
    literature's, see :mod:`ddspkit.analysis.profile`), "plain" (every note shaped alike by
    the ADSR and vibrato options) or the path of a profile's JSON file. ``explicit``:
    :class:`Expression` fields the user set (``attack_s=0.1``...), which win over the profile.
    """
    if choice == "plain":
        return Expression(**explicit)
    profile = (model_profile or ExpressionProfile()) if choice == "learned" else read_profile(choice)
    return Expression(profile=profile, fixed=frozenset(explicit), **explicit)
