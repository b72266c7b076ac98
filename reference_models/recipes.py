"""Training recipes of the starter kit: epochs, learning rate, warm-up and batch size per method.

One small torch-free table, so that the recipes chosen on validation live in one place and can be
recorded with every cached baseline (``reference_models.make_baselines``). ``train.py`` reads it;
command-line flags (``--epochs``, ``--lr``, ``--batch-size``) still override it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from reference_models.specs import get_method_spec


@dataclass(frozen=True)
class Recipe:
    epochs: int
    lr: float
    warmup_fraction: float = 0.05  # share of the optimiser steps spent warming the lr up (linear)
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"recipe needs epochs and batch_size >= 1, not {self}")
        if not self.lr > 0 or not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"recipe needs lr > 0 and 0 <= warmup_fraction < 1, not {self}")

    def to_json(self) -> dict[str, int | float]:
        return asdict(self)

    def overridden(
        self, *, epochs: int | None = None, lr: float | None = None,
        batch_size: int | None = None,
    ) -> Recipe:
        """The recipe with the explicitly given values in place of the table's."""
        return replace(
            self,
            epochs=self.epochs if epochs is None else epochs,
            lr=self.lr if lr is None else lr,
            batch_size=self.batch_size if batch_size is None else batch_size,
        )


# Bump when the training procedure itself changes (trainer, schedule, augmentation): cached
# baseline archives record it, so archives trained the old way are not reused.
TRAINING_VERSION = "2"  # 2: LP-FT with an L-BFGS probe (reference_models.probe)

# Per method family, chosen on the 1k protocol's val split only (docs/methods.md, "Recipes"): two
# learning rates per family at 2 epochs after the L-BFGS probe (LP-FT), the lower on ties. The
# linear probe is fitted by L-BFGS with its L2 chosen on val (reference_models.probe): its epochs
# and lr are not used.
FAMILY_RECIPES: dict[str, Recipe] = {
    "linear-probe": Recipe(epochs=1, lr=1e-2),
    "full-finetune": Recipe(epochs=2, lr=1e-4, warmup_fraction=0.05),
    "bitfit": Recipe(epochs=2, lr=1e-3, warmup_fraction=0.05),
    "prompt": Recipe(epochs=2, lr=3e-3, warmup_fraction=0.05),
    "adapter": Recipe(epochs=2, lr=1e-3, warmup_fraction=0.05),
    "lora": Recipe(epochs=2, lr=1e-3, warmup_fraction=0.05),
    "moe": Recipe(epochs=2, lr=1e-3, warmup_fraction=0.05),
}
# A method whose best recipe differs from its family's (none yet).
METHOD_RECIPES: dict[str, Recipe] = {}


def recipe_for(method: str) -> Recipe:
    """The recipe of a registered method (raises CheckpointInvalid for an unknown name)."""
    spec = get_method_spec(method)
    if method in METHOD_RECIPES:
        return METHOD_RECIPES[method]
    if spec.family not in FAMILY_RECIPES:
        raise KeyError(f"no training recipe for family {spec.family!r} (method {method!r})")
    return FAMILY_RECIPES[spec.family]
