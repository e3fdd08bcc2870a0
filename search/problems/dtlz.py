"""The DTLZ2 many-objective test problem (Deb, Thiele, Laumanns and Zitzler, 2002).

With ``k = n_var - n_obj + 1`` distance variables, ``g = sum((x_m - 0.5)^2)`` over them and
``f_i = (1 + g) prod_{j < M-1-i} cos(x_j pi/2) * sin(x_{M-1-i} pi/2)`` (no sine for ``i = 0``).
The front is the unit sphere's positive orthant.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...evaluators.base import EvalResult, Evaluator
from ...spaces.space import Space
from ...spaces.variables import ConfigError, Real
from ..objectives import Objective
from ._common import real_matrix, to_results
from .base import Problem

__all__ = ["DTLZ2", "DTLZ2Evaluator", "dtlz2_objectives", "simplex_lattice"]


def dtlz2_objectives(X: np.ndarray, n_obj: int) -> np.ndarray:
    """``(n, n_obj)`` DTLZ2 objective values at the rows of ``X``."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    g = ((X[:, n_obj - 1:] - 0.5) ** 2).sum(axis=1)
    theta = X[:, : n_obj - 1] * (np.pi / 2.0)
    cos, sin = np.cos(theta), np.sin(theta)
    F = np.empty((len(X), n_obj))
    for i in range(n_obj):
        f = (1.0 + g) * np.prod(cos[:, : n_obj - 1 - i], axis=1)
        if i > 0:
            f = f * sin[:, n_obj - 1 - i]
        F[:, i] = f
    return F


def simplex_lattice(n_obj: int, partitions: int) -> np.ndarray:
    """Das-Dennis points: every ``w >= 0`` with ``sum(w) = 1`` and ``w * partitions`` integer."""
    rows = []
    for bars in itertools.combinations(range(partitions + n_obj - 1), n_obj - 1):
        cuts = (-1, *bars, partitions + n_obj - 1)
        rows.append([cuts[i + 1] - cuts[i] - 1 for i in range(n_obj)])
    return np.array(rows, dtype=float) / partitions


class DTLZ2Evaluator(Evaluator):
    """Vectorised DTLZ2 evaluator; bad configurations fail alone."""

    def __init__(self, n_obj: int, n_var: int) -> None:
        self.n_obj, self.n_var = n_obj, n_var
        self.names = [f"x{i}" for i in range(n_var)]
        self.metrics = tuple(f"f{i + 1}" for i in range(n_obj))

    def evaluate(self, configs: Sequence[dict[str, Any]], fidelity: float = 1.0) -> list[EvalResult]:
        X, errors = real_matrix(configs, self.names)
        return to_results(dtlz2_objectives(X, self.n_obj), self.metrics, errors)


class DTLZ2(Problem):
    """DTLZ2 with ``n_obj`` objectives ``f1..fM`` (default 3) and ``n_var`` reals ``x0..`` in
    [0, 1] (default ``n_obj + 9``); reference point 1.1 in every objective."""

    name = "dtlz2"

    def __init__(self, n_obj: int = 3, n_var: int | None = None) -> None:
        if not isinstance(n_obj, int) or isinstance(n_obj, bool) or n_obj < 2:
            raise ConfigError(f"dtlz2: 'n_obj' must be an integer >= 2, got {n_obj!r}")
        n_var = n_obj + 9 if n_var is None else n_var
        if not isinstance(n_var, int) or isinstance(n_var, bool) or n_var < n_obj:
            raise ConfigError(f"dtlz2: 'n_var' must be an integer >= n_obj ({n_obj}), got {n_var!r}")
        self.n_obj, self.n_var = n_obj, n_var
        self._space = Space([Real(f"x{i}", 0.0, 1.0) for i in range(n_var)], name="dtlz2")

    def __repr__(self) -> str:
        return f"DTLZ2(n_obj={self.n_obj}, n_var={self.n_var})"

    @property
    def space(self) -> Space:
        return self._space

    @property
    def objectives(self) -> list[Objective]:
        return [Objective(f"f{i + 1}", "minimize") for i in range(self.n_obj)]

    def evaluator(self) -> DTLZ2Evaluator:
        return DTLZ2Evaluator(self.n_obj, self.n_var)

    @property
    def reference_point(self) -> np.ndarray:
        return np.full(self.n_obj, 1.1)

    def pareto_front(self, n_points: int = 1000) -> np.ndarray:
        """At most ``n_points`` points of the front: the densest Das-Dennis lattice that fits,
        projected onto the unit sphere."""
        p = 1
        while math.comb(p + 1 + self.n_obj - 1, self.n_obj - 1) <= n_points:
            p += 1
        W = simplex_lattice(self.n_obj, p)
        return W / np.linalg.norm(W, axis=1, keepdims=True)

    @property
    def best_hypervolume(self) -> float:  # type: ignore[override]
        """Exact: ``1.1^M`` minus the unit ball's positive orthant, ``pi^(M/2) / Gamma(M/2+1) / 2^M``."""
        m = self.n_obj
        return 1.1**m - math.pi ** (m / 2) / math.gamma(m / 2 + 1) / 2**m
