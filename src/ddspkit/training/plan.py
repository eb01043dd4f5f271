"""The plan of a run, decided before a trainer is built: the recipe it trains with (steps,
checkpoint interval) and where it starts (the saved run it continues, or a new start from
random weights, a model, or the nearest bundled model).

:func:`plan` is pure: what the run folder saved comes in as a :class:`SavedRun`
(:meth:`RunFolder.saved`), and nothing is read, loaded or scored here; the trainer carries
the plan out (resolving "auto" needs the data and the device).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ddspkit.errors import UserError
from ddspkit.training.recipes import DEFAULT_RECIPE, FINETUNE_RECIPE, RECIPES, Recipe, get_recipe
from ddspkit.training.run import SavedRun
from ddspkit.training.start import DEFAULT_START, StartPoint, is_scratch, same_start


@dataclass(frozen=True)
class Plan:
    """What a run will do."""

    recipe: Recipe  # with the step options applied
    resume: bool  # True: continue the saved run (its weights, optimizer, step and start)
    start_from: str  # a new run: "auto", "scratch", a model name or a path; a resume: as it was asked
    recorded_start: StartPoint | None = None  # a resume: where the saved run started


def plan(recipe: Recipe | str | None = None, *, saved: SavedRun | None = None,
         start_from: str | None = None, seed: int = 0, n_steps: int | None = None,
         checkpoint_every: int | None = None, max_checkpoints: int | None = None) -> Plan:
    """Decide a run's recipe and start.

    Args:
        recipe: a :class:`Recipe` or a recipe's name; None: the saved run's own recipe when it
            resumes, else FINETUNE_RECIPE from a model's weights and DEFAULT_RECIPE from
            random weights.
        saved: what the run folder's checkpoint recorded (None: a new run, or a start over).
        start_from: "scratch", "auto", a model name or a path; None: DEFAULT_START for a new
            run, and whatever a resumed run started from.
        seed: must be the saved run's own when it resumes.
        n_steps, checkpoint_every: replace the recipe's (None: the recipe's).
        max_checkpoints: at most this many checkpoints in the run (a UI that plays each
            one's held-out preview): the interval is shortened to fit.
    Raises:
        UserError: an unknown recipe; a resume asked for with another recipe, seed or start.
    """
    asked = get_recipe(recipe) if isinstance(recipe, str) else recipe

    def chosen(default: str) -> Recipe:
        """The recipe asked for (else ``default``), with the step options applied."""
        result = asked or get_recipe(default)
        if n_steps is not None:
            result = replace(result, n_steps=n_steps)
        if checkpoint_every is not None:
            result = replace(result, checkpoint_every=checkpoint_every)
        if max_checkpoints is not None:
            fitting = max(1, result.n_steps // max_checkpoints)
            result = replace(result, checkpoint_every=min(result.checkpoint_every, fitting))
        return result

    if saved is None:
        start = start_from or DEFAULT_START
        return Plan(chosen(DEFAULT_RECIPE if is_scratch(start) else FINETUNE_RECIPE), False, start)
    # A resume keeps the run's own recipe unless one is asked for (which must be the same).
    own = chosen(saved.recipe if saved.recipe in RECIPES else DEFAULT_RECIPE)
    if saved.recipe != own.name or saved.seed != seed:
        raise UserError(
            f"{saved.checkpoint}: this run was started with recipe '{saved.recipe}' "
            f"and seed {saved.seed}; use the same, or --restart to start over")
    recorded = StartPoint.from_dict(saved.meta.get("start"))
    if start_from is not None and not same_start(start_from, recorded):
        raise UserError(
            f"{saved.checkpoint}: this run started from "
            f"{recorded.model or 'random weights'} (--from {recorded.requested}), not "
            f"--from {start_from}; use the same, or --restart to start over")
    return Plan(own, True, recorded.requested, recorded)
