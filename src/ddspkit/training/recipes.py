"""Training recipes: the optimisation settings a run trains with.

Torch-free, so that the command line's help (and the studio's recipe list) can name each
recipe's steps without loading the library.
"""

from __future__ import annotations

from dataclasses import dataclass

from ddspkit.errors import UserError


@dataclass(frozen=True)
class Recipe:
    """Optimisation settings. Learning rate decays as lr * rate ** (step / decay_steps)."""

    name: str
    learning_rate: float
    lr_decay_rate: float
    lr_decay_steps: int
    grad_clip_norm: float
    batch_size: int
    example_seconds: float
    example_hop_seconds: float
    n_steps: int
    checkpoint_every: int
    warmup_seconds: float = 0.0  # synthesized but not scored: reverb and GRU state settle

    def learning_rate_at(self, step: int) -> float:
        return self.learning_rate * self.lr_decay_rate ** (step / self.lr_decay_steps)


RECIPES: dict[str, Recipe] = {
    # Magenta's Train_VST notebook: Adam 3e-4 x0.98 per 10k steps, clip 3, 16 x 4 s, 30k steps.
    "reference": Recipe("reference", 3e-4, 0.98, 10_000, 3.0, 16, 4.0, 1.0, 30_000, 300),
    # ddspkit's default: 2 s examples whose first 0.5 s is synthesized but not scored, so
    # the reverb tail and the GRU state are already under way where the loss starts (short
    # examples without it learn a room that is too loud on long inputs); a higher learning
    # rate halving over the run; about 0.25 s a step on a 2-core laptop CPU.
    "fast": Recipe("fast", 1e-3, 0.5, 4_000, 3.0, 8, 2.0, 0.5, 4_000, 250, 0.5),
    # From a model's weights: the same examples, a learning rate twice as high at first and
    # down to a quarter by the end of a 1,000-step run. Measured (README, "Time to quality"):
    # from the zoo it reaches the held-out distance of 4,000 'fast' steps from random weights
    # in under 1,000 steps; 'fast' from the same start needs 1,250-1,500.
    "finetune": Recipe("finetune", 2e-3, 0.25, 1_000, 3.0, 8, 2.0, 0.5, 1_000, 250, 0.5),
}
DEFAULT_RECIPE = "fast"  # from random weights
FINETUNE_RECIPE = "finetune"  # from a model's weights, unless a recipe is asked for


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise UserError(f"unknown recipe '{name}' (choose from {', '.join(RECIPES)})") from None
