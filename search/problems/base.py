"""Benchmark problems that carry their own reference point and best hypervolume."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property

import numpy as np

from ...evaluators.base import Evaluator
from ...spaces.space import Space
from ..objectives import Objective
from ..pareto import hypervolume

__all__ = ["Problem"]


class Problem(ABC):
    """A multi-objective test problem: a space, an evaluator, objectives (all minimised), a
    reference point and the best hypervolume reachable (analytic or by enumeration)."""

    name: str = "problem"

    @property
    @abstractmethod
    def space(self) -> Space:
        """The search space."""

    @property
    @abstractmethod
    def objectives(self) -> list[Objective]:
        """The objectives; every one is minimised."""

    @abstractmethod
    def evaluator(self) -> Evaluator:
        """A fresh evaluator (picklable, for worker processes)."""

    @property
    @abstractmethod
    def reference_point(self) -> np.ndarray:
        """Reference point for hypervolume, in the objectives' order."""

    @abstractmethod
    def pareto_front(self) -> np.ndarray:
        """The true Pareto front (exact points, or a dense sample of an analytic front)."""

    @cached_property
    def best_hypervolume(self) -> float:
        """Hypervolume of the true front at :attr:`reference_point`."""
        return hypervolume(self.pareto_front(), self.reference_point)

    def normalized_hypervolume(self, F: np.ndarray) -> float:
        """Hypervolume of the points ``F`` divided by :attr:`best_hypervolume`."""
        return hypervolume(F, self.reference_point) / self.best_hypervolume
