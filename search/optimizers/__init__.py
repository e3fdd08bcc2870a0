"""Optimizers, looked up lazily by name (third parties: entry-point group ``paretoforge.optimizers``)."""

from __future__ import annotations

import inspect
from typing import Any

from ..registry import Registry
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
    allowed = _settings_of(cls)
    unknown = sorted(set(settings) - allowed) if allowed is not None else []
    if unknown:
        raise TypeError(f"optimizer '{name}': unknown setting(s) {unknown}; allowed: {sorted(allowed or ())}")
    try:
        return cls(space, objectives, seed=seed, constraint_names=constraint_names, **settings)
    except TypeError as exc:
        raise TypeError(f"optimizer '{name}': bad settings {sorted(settings)}: {exc}") from None


def _settings_of(cls: type) -> set[str] | None:
    """The keyword settings ``cls`` takes, over its class hierarchy (``None`` if any ``__init__``
    takes arbitrary keywords that it does not pass on to its base)."""
    names: set[str] = set()
    for c in cls.__mro__:
        init = c.__dict__.get("__init__")
        if init is None or c is object:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None
        names |= {k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break  # the chain ends here: what it does not name is unknown
    else:
        return None
    return names - {"self", "space", "objectives", "seed", "constraint_names"}
