"""Run any pymoo algorithm as a paretoforge optimizer through pymoo's ask/tell interface.

pymoo sees the space's unit-cube view (one coordinate per flat scalar in [0, 1]); each point
becomes a configuration through the space's decoding and repair. pymoo proposes a whole
population at a time; this adapter hands it out ``n`` at a time and tells pymoo once every
member has a result. Failed evaluations are told as strongly infeasible, never as good points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...spaces.space import Config
from ..trial import Observation
from .base import Optimizer

__all__ = ["PymooOptimizer"]

_FAILED_VIOLATION = 1e12


class PymooOptimizer(Optimizer):
    """``algorithm`` is a pymoo algorithm class name from ``pymoo.algorithms.moo`` or
    ``pymoo.algorithms.soo`` (``"NSGA2"``, ``"SMSEMOA"``, ``"MOEAD"`` needs ``ref_dirs``...) built
    with ``algorithm_kwargs``, or an algorithm instance."""

    name = "pymoo"

    def __init__(self, *args, algorithm: Any = "NSGA2", algorithm_kwargs: dict[str, Any] | None = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination

        if isinstance(algorithm, str):
            algorithm = self._build(algorithm, algorithm_kwargs or {})
        self.algorithm = algorithm
        n_constr = 1 if self.constraint_names else 0
        self._problem = Problem(n_var=self.space.unit_dim, n_obj=self.n_objectives, n_ieq_constr=max(n_constr, 1),
                                xl=0.0, xu=1.0)
        self.algorithm.setup(self._problem, termination=NoTermination(), seed=self.seed, verbose=False)
        self._pop: Any = None
        self._configs: list[Config] = []
        self._keys: list[str] = []
        self._next = 0
        self._F: np.ndarray | None = None
        self._G: np.ndarray | None = None
        self._done: np.ndarray | None = None

    @staticmethod
    def _build(name: str, kwargs: dict[str, Any]) -> Any:
        import importlib

        candidates = {
            "NSGA2": "pymoo.algorithms.moo.nsga2", "NSGA3": "pymoo.algorithms.moo.nsga3",
            "SMSEMOA": "pymoo.algorithms.moo.sms", "MOEAD": "pymoo.algorithms.moo.moead",
            "AGEMOEA": "pymoo.algorithms.moo.age", "AGEMOEA2": "pymoo.algorithms.moo.age2",
            "SPEA2": "pymoo.algorithms.moo.spea2", "RNSGA2": "pymoo.algorithms.moo.rnsga2",
            "UNSGA3": "pymoo.algorithms.moo.unsga3", "RVEA": "pymoo.algorithms.moo.rvea",
            "CTAEA": "pymoo.algorithms.moo.ctaea", "GA": "pymoo.algorithms.soo.nonconvex.ga",
            "DE": "pymoo.algorithms.soo.nonconvex.de", "CMAES": "pymoo.algorithms.soo.nonconvex.cmaes",
        }
        if name not in candidates:
            raise ValueError(f"unknown pymoo algorithm {name!r}; allowed: {sorted(candidates)}")
        cls = getattr(importlib.import_module(candidates[name]), name)
        return cls(**kwargs)

    def _new_population(self) -> None:
        self._pop = self.algorithm.ask()
        X = np.atleast_2d(self._pop.get("X"))
        self._configs = [self.space.from_unit(x, self.rng) for x in X]
        self._keys = [self.space.key(c) for c in self._configs]
        self._next = 0
        n = len(self._configs)
        self._F = np.zeros((n, self.n_objectives))
        self._G = np.zeros((n, 1))
        self._done = np.zeros(n, dtype=bool)

    def ask(self, n: int) -> list[Config]:
        if self._pop is None:
            self._new_population()
        out = self._configs[self._next:self._next + n]
        self._next += len(out)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        if self._pop is None:
            return
        assert self._done is not None and self._F is not None and self._G is not None
        for o in observations:
            idx = [i for i, k in enumerate(self._keys) if k == o.key and not self._done[i] and i < self._next]
            for i in idx:
                if o.ok:
                    self._F[i] = o.values
                    self._G[i, 0] = o.violation
                else:
                    self._F[i] = 0.0
                    self._G[i, 0] = _FAILED_VIOLATION
                self._done[i] = True
        if self._done.all():
            self._pop.set("F", self._F.copy(), "G", self._G.copy())
            self.algorithm.tell(infills=self._pop)
            self._pop = None
