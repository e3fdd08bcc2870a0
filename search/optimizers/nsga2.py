"""NSGA-II that varies configurations with the space's own operators and repair.

Elitist (mu + lambda) survival by constrained non-dominated rank and crowding distance (Deb et
al. 2002). Offspring come from binary tournaments, the space's crossover and mutation, and are
repaired by the space, so budget constraints hold by construction. Offspring already proposed
are regenerated, so evaluations are not spent twice on the same point.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...spaces.space import Config
from ..trial import Observation
from .base import Optimizer, resolve_initial

__all__ = ["NSGA2", "crowding_distance", "rank_and_crowding"]

log = logging.getLogger("paretoforge")


def _fronts(F: np.ndarray) -> list[np.ndarray]:
    """Non-dominated sorting of rows of ``F`` (minimisation)."""
    n = len(F)
    le = np.all(F[:, None, :] <= F[None, :, :], axis=2)
    lt = np.any(F[:, None, :] < F[None, :, :], axis=2)
    dom = le & lt  # dom[i, j]: i dominates j
    count = dom.sum(axis=0)
    fronts, current = [], np.flatnonzero(count == 0)
    assigned = np.zeros(n, dtype=bool)
    while len(current):
        fronts.append(current)
        assigned[current] = True
        count = count - dom[current].sum(axis=0)
        current = np.flatnonzero((count == 0) & ~assigned)
    return fronts


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """Crowding distance of the rows of one front (boundary points get infinity)."""
    n, m = F.shape
    if n <= 2:
        return np.full(n, np.inf)
    d = np.zeros(n)
    for j in range(m):
        order = np.argsort(F[:, j], kind="stable")
        span = F[order[-1], j] - F[order[0], j]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (F[order[2:], j] - F[order[:-2], j]) / span
    return d


def rank_and_crowding(F: np.ndarray, violation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank (0 best) and crowding of every row, with Deb's constrained domination: feasible
    points by non-dominated rank, then infeasible ones by increasing violation."""
    n = len(F)
    rank = np.zeros(n, dtype=int)
    crowd = np.zeros(n)
    feas = np.flatnonzero(violation <= 0)
    r = 0
    if len(feas):
        for front in _fronts(F[feas]):
            idx = feas[front]
            rank[idx] = r
            crowd[idx] = crowding_distance(F[idx])
            r += 1
    infeas = np.flatnonzero(violation > 0)
    for k, i in enumerate(infeas[np.argsort(violation[infeas], kind="stable")]):
        rank[i] = r + k
        crowd[i] = 0.0
    return rank, crowd


class NSGA2(Optimizer):
    """NSGA-II with the space's operators. ``population_size`` 20 suits budgets of a few hundred
    evaluations; ``crossover_prob`` is the chance that a child pair comes from crossover.
    ``initial`` seeds the first generation (its first ``population_size``, with a warning when
    there are more): a list of configurations, or ``"space"`` for the
    space's ``initial_configs`` (known good points such as existing solvers). By default a space's
    ``initial_configs`` sequence attribute (e.g. the MILP-optimal bit-width family) seeds it, while
    an ``initial_configs()`` method is used only on request. Random samples fill the rest."""

    name = "nsga2"

    def __init__(self, *args, population_size: int = 20, crossover_prob: float = 0.9,
                 mutation_prob: float | None = None, max_retries: int = 20, initial: Any = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        provided = getattr(self.space, "initial_configs", None)
        if initial is None and provided is not None and not callable(provided):
            initial = provided  # a space's fixed list of known good points is evaluated first by default
        self._initial: list[Config] = resolve_initial(self.space, initial, "NSGA2")
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 2:
            raise ValueError(f"NSGA2: 'population_size' must be an integer >= 2, got {population_size!r}")
        for key, p in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob)):
            if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1):
                raise ValueError(f"NSGA2: '{key}' must be a probability in [0, 1], got {p!r}")
        self.population_size = int(population_size)
        if len(self._initial) > self.population_size:
            log.warning("NSGA2: %d initial configurations, but the first generation holds population_size = %d: "
                        "only the first %d are evaluated; raise population_size to %d to evaluate them all",
                        len(self._initial), self.population_size, self.population_size, len(self._initial))
        self.crossover_prob = float(crossover_prob)
        self.mutation_prob = mutation_prob
        self.max_retries = max_retries
        self.population: list[Observation] = []
        self._offspring: list[Observation] = []
        self._told_in_generation = 0
        self._proposed = 0
        self.generation = 0
        self._seen: set[str] = set()
        self._rank = np.zeros(0, dtype=int)
        self._crowd = np.zeros(0)

    # -- proposals ----------------------------------------------------------------------------
    def _tournament(self) -> Config:
        i, j = self.rng.integers(len(self.population), size=2)
        if (self._rank[i], -self._crowd[i]) <= (self._rank[j], -self._crowd[j]):
            return self.population[i].config
        return self.population[j].config

    def _child(self, pending: list[Config]) -> Config:
        if pending:
            return pending.pop()
        a, b = self._tournament(), self._tournament()
        if self.rng.random() < self.crossover_prob:
            c1, c2 = self.space.crossover(a, b, self.rng)
        else:
            c1, c2 = dict(a), dict(b)
        pending.append(self.space.mutate(c2, self.rng, self.mutation_prob))
        return self.space.mutate(c1, self.rng, self.mutation_prob)

    def ask(self, n: int) -> list[Config]:
        out: list[Config] = []
        pending: list[Config] = []
        for _ in range(n):
            initial = self.generation == 0 and self._proposed < self.population_size or not self.population
            for _ in range(self.max_retries):
                if initial and self._initial:
                    cfg = self._initial.pop(0)
                else:
                    cfg = self.space.sample(self.rng) if initial else self._child(pending)
                key = self.space.key(cfg)
                if key not in self._seen:
                    break
            self._seen.add(key)
            self._proposed += 1
            out.append(cfg)
        return out

    # -- survival -----------------------------------------------------------------------------
    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            self._seen.add(o.key)
            self._told_in_generation += 1
            if o.ok:
                self._offspring.append(o)
            if self._told_in_generation >= self.population_size:
                self._survive()

    def _survive(self) -> None:
        pool = self.population + self._offspring
        self._offspring, self._told_in_generation = [], 0
        self.generation += 1
        if not pool:
            return
        # unique configurations only
        uniq: dict[str, Observation] = {}
        for o in pool:
            uniq.setdefault(o.key, o)
        pool = list(uniq.values())
        F = np.stack([o.values for o in pool])
        V = np.array([o.violation for o in pool])
        rank, crowd = rank_and_crowding(F, V)
        order = np.lexsort((-crowd, rank))[: self.population_size]
        self.population = [pool[i] for i in order]
        self._rank, self._crowd = rank[order], crowd[order]

    def state(self) -> dict:
        return {"name": self.name, "generation": self.generation, "population": len(self.population)}
