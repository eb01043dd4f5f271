"""The plan: a run's recipe and start, decided before a trainer is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddspkit.errors import UserError
from ddspkit.training.plan import plan
from ddspkit.training.recipes import DEFAULT_RECIPE, FINETUNE_RECIPE, RECIPES
from ddspkit.training.run import SavedRun
from ddspkit.training.start import DEFAULT_START

CHECKPOINT = Path("runs/Cello/checkpoint.pt")


def saved(recipe="fast", seed=0, start=None) -> SavedRun:
    meta = {"recipe": recipe, "seed": seed}
    if start is not None:
        meta["start"] = start
    return SavedRun(CHECKPOINT, meta)


FROM_CELLO = {"from": "auto", "model": "Cello", "file": "Cello", "weights_sha256": "ab"}


def test_a_new_run_takes_the_recipe_of_its_start():
    default = plan()
    assert (default.start_from, default.resume, default.recorded_start) == (DEFAULT_START, False, None)
    assert default.recipe == RECIPES[FINETUNE_RECIPE]  # the default start is a model's weights
    for scratch in ("scratch", " Random", "none"):
        assert plan(start_from=scratch).recipe == RECIPES[DEFAULT_RECIPE]
    assert plan(start_from="Cello").recipe == RECIPES[FINETUNE_RECIPE]
    assert plan(start_from="models/My Flute.safetensors").recipe == RECIPES[FINETUNE_RECIPE]
    assert plan("reference", start_from="Cello").recipe == RECIPES["reference"]  # asked for
    assert plan(RECIPES["fast"]).recipe == RECIPES["fast"]


def test_step_options_replace_the_recipes_own():
    chosen = plan("fast", n_steps=12, checkpoint_every=5).recipe
    assert (chosen.name, chosen.n_steps, chosen.checkpoint_every) == ("fast", 12, 5)
    assert chosen.learning_rate == RECIPES["fast"].learning_rate
    assert plan(n_steps=0).recipe.n_steps == 0


@pytest.mark.parametrize(("recipe", "n_steps", "every"), [
    ("finetune", None, 125),  # 1,000 steps: 8 checkpoints of 125, not 4 of 250
    ("fast", None, 250),  # 4,000 steps: the recipe's 250 already give more than 8
    ("fast", 80, 10), ("fast", 4, 1)])
def test_at_most_so_many_checkpoints_shortens_the_interval(recipe, n_steps, every):
    assert plan(recipe, n_steps=n_steps, max_checkpoints=8).recipe.checkpoint_every == every


def test_a_resume_keeps_the_runs_own_recipe_and_start():
    resumed = plan(saved=saved("fast", start=FROM_CELLO), n_steps=6000)
    assert resumed.resume and resumed.recipe.name == "fast" and resumed.recipe.n_steps == 6000
    assert resumed.recorded_start.model == "Cello" and resumed.start_from == "auto"
    # the same start by the name of the model it picked, in any case, agrees
    assert plan(saved=saved(start=FROM_CELLO), start_from="cello").resume
    assert plan("fast", saved=saved(start=FROM_CELLO), start_from="auto").resume
    # a run from before fine-tuning existed started from random weights
    old = plan(saved=saved())
    assert old.recorded_start.model is None and old.start_from == "scratch"
    assert plan(saved=saved(), max_checkpoints=8).recipe.checkpoint_every == 250  # of 4,000 steps


@pytest.mark.parametrize(("asked", "message"), [
    (dict(recipe="reference"), "started with recipe 'fast' and seed 0"),
    (dict(seed=1), "started with recipe 'fast' and seed 0"),
    (dict(start_from="Flute"), "started from Cello (--from auto), not --from Flute"),
    (dict(start_from="scratch"), "started from Cello (--from auto), not --from scratch")])
def test_a_resume_asked_for_differently_says_how_to_start_over(asked, message):
    with pytest.raises(UserError) as refused:
        plan(saved=saved(start=FROM_CELLO), **asked)
    assert str(refused.value).startswith(f"{CHECKPOINT}: this run ") and message in str(refused.value)
    assert str(refused.value).endswith("use the same, or --restart to start over")


def test_a_run_of_a_recipe_this_version_lacks_resumes_only_with_that_recipe_given():
    with pytest.raises(UserError, match="recipe 'mine'"):
        plan(saved=saved("mine"))
    mine = RECIPES["fast"].__class__(**{**RECIPES["fast"].__dict__, "name": "mine"})
    assert plan(mine, saved=saved("mine")).recipe == mine


def test_an_unknown_recipe_names_the_known_ones():
    with pytest.raises(UserError, match="unknown recipe 'slow' \\(choose from reference, fast, finetune\\)"):
        plan("slow")
