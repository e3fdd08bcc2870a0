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
from ..registry import keyword_defaults, keyword_names
from ..trial import Observation
from .base import Optimizer

__all__ = ["PymooOptimizer"]

_FAILED_VIOLATION = 1e12
#: algorithms that optimise one objective
_SINGLE_OBJECTIVE = ("GA", "DE", "CMAES")
#: algorithms without constraint handling
_NO_CONSTRAINTS = ("MOEAD",)
#: algorithms that need reference directions
_NEED_REF_DIRS = ("NSGA3", "UNSGA3", "MOEAD", "CTAEA")


def _reference_directions(value: Any, n_objectives: int) -> np.ndarray:
    """``ref_dirs`` as pymoo wants them: an array of directions (one column per objective) from a
    list, from the arguments of ``get_reference_directions``, or by default Das-Dennis directions
    (12 partitions for up to 3 objectives, fewer beyond: under 100 directions)."""
    from pymoo.util.ref_dirs import get_reference_directions

    if value is None:
        parts = 12 if n_objectives <= 3 else max(1, 6 - n_objectives // 2)
        return get_reference_directions("das-dennis", n_objectives, n_partitions=parts)
    if isinstance(value, dict):
        opts = dict(value)
        name = opts.pop("name", "das-dennis")
        return get_reference_directions(name, n_objectives, **opts)
    dirs = np.asarray(value, dtype=float)
    if dirs.ndim != 2 or dirs.shape[1] != n_objectives:
        raise ValueError(f"'ref_dirs' must be directions of {n_objectives} numbers each (one per objective), "
                         f"got shape {dirs.shape}")
    return dirs


class PymooOptimizer(Optimizer):
    """``algorithm`` is a pymoo algorithm class name from ``pymoo.algorithms.moo`` or
    ``pymoo.algorithms.soo`` (``"NSGA2"``, ``"SMSEMOA"``, ``"NSGA3"`` and ``"MOEAD"`` with ``ref_dirs``,
    by default Das-Dennis directions...) built with ``algorithm_kwargs``, or an algorithm instance."""

    name = "pymoo"

    def __init__(self, *args, algorithm: Any = "NSGA2", algorithm_kwargs: dict[str, Any] | None = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination

        if isinstance(algorithm, str):
            algorithm = self._build(algorithm, dict(algorithm_kwargs or {}), self.n_objectives)
        self.algorithm = algorithm
        # failed evaluations are told as a violated constraint; an algorithm without constraint
        # handling (MOEA/D) gets them as the worst objective values instead
        self._constrained = type(algorithm).__name__ not in _NO_CONSTRAINTS
        if not self._constrained and self.constraint_names:
            raise ValueError(f"pymoo's {type(algorithm).__name__} does not handle constraints, and this study has "
                             f"{self.constraint_names}; choose another algorithm (NSGA2, NSGA3, SMSEMOA...)")
        self._problem = Problem(n_var=self.space.unit_dim, n_obj=self.n_objectives,
                                n_ieq_constr=1 if self._constrained else 0, xl=0.0, xu=1.0)
        try:
            self.algorithm.setup(self._problem, termination=NoTermination(), seed=self.seed, verbose=False)
        except Exception as exc:  # noqa: BLE001 - pymoo raises bare Exceptions: name the algorithm
            raise ValueError(f"pymoo's {type(algorithm).__name__} cannot run step by step (ask/tell) here: {exc}") from None
        self._pop: Any = None
        self._configs: list[Config] = []
        self._keys: list[str] = []
        self._next = 0
        self._F: np.ndarray | None = None
        self._G: np.ndarray | None = None
        self._done: np.ndarray | None = None

    @staticmethod
    def _build(name: str, kwargs: dict[str, Any], n_objectives: int) -> Any:
        """The algorithm ``name`` built with ``kwargs``: unknown keywords (which pymoo would ignore)
        are an error; ``ref_dirs`` may be a list of directions or the arguments of pymoo's
        ``get_reference_directions`` (``{name: das-dennis, n_partitions: 12}``), and defaults to
        Das-Dennis directions for the algorithms that need them."""
        import importlib
        import importlib.util

        candidates = {
            "NSGA2": "pymoo.algorithms.moo.nsga2", "NSGA3": "pymoo.algorithms.moo.nsga3",
            "SMSEMOA": "pymoo.algorithms.moo.sms", "MOEAD": "pymoo.algorithms.moo.moead",
            "AGEMOEA": "pymoo.algorithms.moo.age", "AGEMOEA2": "pymoo.algorithms.moo.age2",
            "SPEA2": "pymoo.algorithms.moo.spea2", "RNSGA2": "pymoo.algorithms.moo.rnsga2",
            "UNSGA3": "pymoo.algorithms.moo.unsga3",
            "CTAEA": "pymoo.algorithms.moo.ctaea", "GA": "pymoo.algorithms.soo.nonconvex.ga",
            "DE": "pymoo.algorithms.soo.nonconvex.de", "CMAES": "pymoo.algorithms.soo.nonconvex.cmaes",
        }
        if name not in candidates:
            raise ValueError(f"unknown pymoo algorithm {name!r}; allowed: {sorted(candidates)}")
        if name in _SINGLE_OBJECTIVE and n_objectives > 1:
            raise ValueError(f"pymoo's {name} optimises one objective, and this study has {n_objectives}; "
                             f"choose a multi-objective algorithm: {sorted(set(candidates) - set(_SINGLE_OBJECTIVE))}")
        if name.startswith("AGEMOEA") and importlib.util.find_spec("numba") is None:
            raise ValueError(f"pymoo's {name} needs numba: pip install numba, or choose another algorithm")
        cls = getattr(importlib.import_module(candidates[name]), name)
        allowed = keyword_names(cls, past_var_keywords=True) or set()  # pymoo's base class swallows the rest
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise ValueError(f"pymoo's {name} has no argument(s) {unknown} in 'algorithm_kwargs'; "
                             f"allowed: {sorted(allowed)}")
        defaults = keyword_defaults(cls)
        for key, value in kwargs.items():  # a number given as text (YAML "6") failed at the first proposal
            default = defaults.get(key)
            if isinstance(default, (int, float)) and not isinstance(default, bool) and (
                    isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"pymoo's {name}: 'algorithm_kwargs.{key}' must be a number (default {default!r}), "
                                 f"got {value!r}")
        if "ref_dirs" in allowed and (kwargs.get("ref_dirs") is not None or name in _NEED_REF_DIRS):
            kwargs["ref_dirs"] = _reference_directions(kwargs.get("ref_dirs"), n_objectives)
        for key in ("ref_points", "weights"):  # points given as YAML lists
            if isinstance(kwargs.get(key), list):
                kwargs[key] = np.asarray(kwargs[key], dtype=float)
        try:
            return cls(**kwargs)
        except Exception as exc:  # noqa: BLE001 - pymoo raises bare Exceptions (a missing numba...)
            raise ValueError(f"pymoo's {name} could not be built: {exc}") from None

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
                    self._F[i] = 0.0 if self._constrained else _FAILED_VIOLATION
                    self._G[i, 0] = _FAILED_VIOLATION
                self._done[i] = True
        if self._done.all():
            from pymoo.core.individual import Individual

            F, G = self._F.copy(), self._G.copy()
            if isinstance(self._pop, Individual):  # loop-wise algorithms (MOEA/D) ask one at a time
                F, G = F[0], G[0]
            if self._constrained:
                self._pop.set("F", F, "G", G)
            else:
                self._pop.set("F", F)
            self.algorithm.tell(infills=self._pop)
            self._pop = None
