"""Constraints on configurations, with the "value <= 0 is feasible" convention.

A constraint that knows how to *repair* a configuration lets the space meet budgets by moving
infeasible proposals to feasible ones instead of only rejecting them.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

log = logging.getLogger("paretoforge")

if TYPE_CHECKING:
    from .space import Config, Space

__all__ = ["BudgetConstraint", "Constraint", "FunctionConstraint"]


class Constraint(ABC):
    """A named constraint on a configuration: feasible when :meth:`value` <= 0."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def value(self, config: Config, space: Space) -> float:
        """The violation measure; <= 0 means feasible."""

    def repair(self, config: Config, space: Space, rng: np.random.Generator) -> Config:
        """A feasible configuration close to ``config``; default: ``config`` unchanged."""
        return config


class FunctionConstraint(Constraint):
    """A constraint given by a function, with an optional repair function."""

    def __init__(self, name: str, fn: Callable[[Config], float],
                 repair_fn: Callable[[Config, np.random.Generator], Config] | None = None) -> None:
        super().__init__(name)
        self.fn, self.repair_fn = fn, repair_fn

    def value(self, config: Config, space: Space) -> float:
        return float(self.fn(config))

    def repair(self, config: Config, space: Space, rng: np.random.Generator) -> Config:
        return self.repair_fn(config, rng) if self.repair_fn is not None else config


class BudgetConstraint(Constraint):
    """``cost(config) <= budget``, where ``cost`` is one of the space's cost functions.

    Repair walks downhill on the cost through the variables' one-step neighbours (lower a
    bit-width, drop an expert, use a smaller model for one step), choosing at random among the
    moves that reduce the cost, until the budget is met. Random choice keeps repaired
    configurations diverse; the walk is bounded by ``max_steps``."""

    def __init__(self, cost: str, budget: float, name: str | None = None, max_steps: int = 10_000) -> None:
        super().__init__(name or f"{cost}<={budget}")
        self.cost, self.budget, self.max_steps = cost, float(budget), max_steps
        self._warned = False

    def value(self, config: Config, space: Space) -> float:
        return space.cost(self.cost, config) - self.budget

    def repair(self, config: Config, space: Space, rng: np.random.Generator) -> Config:
        cur = config
        c = space.cost(self.cost, cur)
        for _ in range(self.max_steps):
            if c <= self.budget:
                return cur
            cands: list[tuple[float, Any]] = []
            for nb in space.neighbors(cur):
                cn = space.cost(self.cost, nb)
                if cn < c:
                    cands.append((cn, nb))
            if not cands:  # no cheaper neighbour: the budget is below every cost reachable from here
                if not self._warned:
                    self._warned = True
                    log.warning("constraint '%s': the budget %g is below %s = %g of a configuration with no cheaper "
                                "neighbour (the lowest reachable); no configuration may meet it: raise the budget",
                                self.name, self.budget, self.cost, c)
                return cur
            c, cur = cands[int(rng.integers(len(cands)))]
        return cur
