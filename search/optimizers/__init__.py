"""Optimizers, looked up lazily by name (third parties: entry-point group ``paretoforge.optimizers``)."""

from __future__ import annotations

from typing import Any

from ..registry import Registry, keyword_names
from .base import Optimizer

__all__ = ["OPTIMIZERS", "Optimizer", "create_optimizer"]

OPTIMIZERS = Registry(
    "optimizer",
    "paretoforge.optimizers",
    {
        "random": "paretoforge.search.optimizers.random_search:RandomSearch",
        "nsga2": "paretoforge.search.optimizers.nsga2:NSGA2",
        "optuna": "paretoforge.search.optimizers.optuna_adapter:OptunaOptimizer",
        "pymoo": "paretoforge.search.optimizers.pymoo_adapter:PymooOptimizer",
        "guided": "paretoforge.search.optimizers.guided:PredictorGuided",
    },
)


def create_optimizer(name: str, space: Any, objectives: Any, seed: int = 0, constraint_names: Any = (),
                     **settings: Any) -> Optimizer:
    """Build the optimizer registered under ``name`` with its ``settings``."""
    cls = OPTIMIZERS.get(name)
    allowed = keyword_names(cls)
    if allowed is not None:
        allowed -= {"space", "objectives", "seed", "constraint_names"}
    unknown = sorted(set(settings) - allowed) if allowed is not None else []
    if unknown:
        raise TypeError(f"optimizer '{name}': unknown setting(s) {unknown}; allowed: {sorted(allowed or ())}")
    try:
        return cls(space, objectives, seed=seed, constraint_names=constraint_names, **settings)
    except TypeError as exc:
        raise TypeError(f"optimizer '{name}': bad settings {sorted(settings)}: {exc}") from None

