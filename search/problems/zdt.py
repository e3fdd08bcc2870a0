"""The ZDT1-3 two-objective test problems (Zitzler, Deb and Thiele, 2000).

``f1 = x0``, ``g = 1 + 9 * sum(x1..x{n-1}) / (n - 1)``, ``f2 = g * h(f1, g)``, both minimised,
on ``n_var`` reals in [0, 1]. The Pareto front is at ``g = 1`` (``x1.. = 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any, ClassVar

import numpy as np

from ...evaluators.base import EvalResult, Evaluator
from ...spaces.space import Space
from ...spaces.variables import ConfigError, Real
from ..objectives import Objective
from ..pareto import hypervolume
from ._common import front_2d, real_matrix, to_results
from .base import Problem

__all__ = ["ZDT", "ZDT1", "ZDT2", "ZDT3", "ZDTEvaluator", "zdt_objectives"]

#: f1-ranges of ZDT3's five disconnected front pieces (as in pymoo)
ZDT3_REGIONS = ((0.0, 0.0830015349), (0.182228780, 0.2577623634), (0.4093136748, 0.4538821041),
                (0.6183967944, 0.6525117038), (0.8233317983, 0.8518328654))


def _h(kind: str, r: np.ndarray, f1: np.ndarray) -> np.ndarray:
    if kind == "zdt1":
        return 1.0 - np.sqrt(r)
    if kind == "zdt2":
        return 1.0 - r**2
    return 1.0 - np.sqrt(r) - r * np.sin(10.0 * np.pi * f1)


def zdt_objectives(kind: str, X: np.ndarray) -> np.ndarray:
    """``(n, 2)`` objective values of ZDT1/2/3 (``kind``) at the rows of ``X`` (``n >= 2`` columns)."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    f1 = X[:, 0]
    g = 1.0 + 9.0 * X[:, 1:].sum(axis=1) / (X.shape[1] - 1)
    return np.column_stack([f1, g * _h(kind, f1 / g, f1)])


class ZDTEvaluator(Evaluator):
    """Vectorised ZDT evaluator: one numpy pass per batch; bad configurations fail alone."""

    metrics = ("f1", "f2")

    def __init__(self, kind: str, n_var: int) -> None:
        self.kind, self.n_var = kind, n_var
        self.names = [f"x{i}" for i in range(n_var)]

    def evaluate(self, configs: Sequence[dict[str, Any]], fidelity: float = 1.0) -> list[EvalResult]:
        X, errors = real_matrix(configs, self.names)
        return to_results(zdt_objectives(self.kind, X), self.metrics, errors)


@cache
def _zdt3_front(n_points: int) -> np.ndarray:
    lengths = np.array([b - a for a, b in ZDT3_REGIONS])
    counts = np.maximum(2, np.round(n_points * lengths / lengths.sum()).astype(int))
    f1 = np.concatenate([np.linspace(a, b, c) for (a, b), c in zip(ZDT3_REGIONS, counts)])
    F = np.column_stack([f1, _h("zdt3", f1, f1)])
    return F[front_2d(F)]


class ZDT(Problem):
    """Base of ZDT1-3: ``n_var`` (default 30) reals ``x0..`` in [0, 1]; objectives ``f1, f2``;
    reference point (1.1, 1.1)."""

    kind: ClassVar[str] = "zdt"

    def __init__(self, n_var: int = 30) -> None:
        if not isinstance(n_var, int) or isinstance(n_var, bool) or n_var < 2:
            raise ConfigError(f"{self.kind}: 'n_var' must be an integer >= 2, got {n_var!r}")
        self.n_var = n_var
        self.name = self.kind
        self._space = Space([Real(f"x{i}", 0.0, 1.0) for i in range(n_var)], name=self.kind)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_var={self.n_var})"

    @property
    def space(self) -> Space:
        return self._space

    @property
    def objectives(self) -> list[Objective]:
        return [Objective("f1", "minimize"), Objective("f2", "minimize")]

    def evaluator(self) -> ZDTEvaluator:
        return ZDTEvaluator(self.kind, self.n_var)

    @property
    def reference_point(self) -> np.ndarray:
        return np.array([1.1, 1.1])

    def pareto_front(self, n_points: int = 1000) -> np.ndarray:
        """``n_points`` points of the analytic front (``f2 = h(f1)`` at ``g = 1``), sorted by f1."""
        f1 = np.linspace(0.0, 1.0, n_points)
        return np.column_stack([f1, _h(self.kind, f1, f1)])


class ZDT1(ZDT):
    """Convex front ``f2 = 1 - sqrt(f1)``."""

    kind = "zdt1"

    @property
    def best_hypervolume(self) -> float:  # type: ignore[override]
        """Exact: the box beyond f1 = 1 (0.1 * 1.1), plus ``int_0^1 (1.1 - 1 + sqrt(x)) dx``."""
        return 0.11 + 0.1 + 2.0 / 3.0


class ZDT2(ZDT):
    """Concave front ``f2 = 1 - f1^2``."""

    kind = "zdt2"

    @property
    def best_hypervolume(self) -> float:  # type: ignore[override]
        """Exact: ``0.11 + int_0^1 (0.1 + x^2) dx``."""
        return 0.11 + 0.1 + 1.0 / 3.0


class ZDT3(ZDT):
    """Front of five disconnected pieces ``f2 = 1 - sqrt(f1) - f1 sin(10 pi f1)``."""

    kind = "zdt3"

    def pareto_front(self, n_points: int = 1000) -> np.ndarray:
        """About ``n_points`` points over the five pieces (non-dominated ones), sorted by f1."""
        return _zdt3_front(n_points).copy()

    @property
    def best_hypervolume(self) -> float:  # type: ignore[override]
        """Hypervolume of a 100,000-point sample of the front (cached per process)."""
        return _zdt3_best_hv()


@lru_cache(maxsize=1)
def _zdt3_best_hv() -> float:
    return hypervolume(_zdt3_front(100_000), np.array([1.1, 1.1]))
