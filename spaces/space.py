"""A search space: named variables, constraints and cost functions.

Configurations are plain dicts ``{variable name: value}`` whose values are JSON scalars or lists,
so they store, hash and export without conversion.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .constraints import BudgetConstraint, Constraint
from .variables import ConfigError, FlatParam, Variable

__all__ = ["Config", "Space", "config_key"]

Config = dict[str, Any]


def config_key(canonical: Config) -> str:
    """A short stable hash of a canonical configuration."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


class Space:
    """A named set of variables plus constraints and cost functions.

    ``costs`` maps a cost name to a function of the configuration (model size in bytes, summed
    latency...). Cost values are known before evaluation; the study stores them with the metrics
    so that objectives may refer to them.
    """

    def __init__(self, variables: Sequence[Variable], constraints: Sequence[Constraint] = (),
                 costs: Mapping[str, Callable[[Config], float]] | None = None, name: str = "space",
                 max_repair_rounds: int = 20) -> None:
        names = [v.name for v in variables]
        if not variables:
            raise ConfigError(f"space '{name}' has no variables")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"space '{name}': variable names repeat: {dup}")
        self.name = name
        self.variables: tuple[Variable, ...] = tuple(variables)
        self._by_name = {v.name: v for v in self.variables}
        self.constraints: tuple[Constraint, ...] = tuple(constraints)
        self.costs: dict[str, Callable[[Config], float]] = dict(costs or {})
        for c in self.constraints:
            if isinstance(c, BudgetConstraint) and c.cost not in self.costs:
                raise ConfigError(
                    f"space '{name}': constraint '{c.name}' uses cost '{c.cost}', which is not one of "
                    f"the space's costs {sorted(self.costs)}"
                )
        self.max_repair_rounds = max_repair_rounds
        self._flat: list[tuple[Variable, list[FlatParam]]] = [(v, v.flat_params()) for v in self.variables]

    # -- basics -----------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def __getitem__(self, name: str) -> Variable:
        return self._by_name[name]

    def __iter__(self) -> Iterator[Variable]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def __repr__(self) -> str:
        return f"Space({self.name!r}, {list(self.variables)!r})"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "variables": [v.describe() for v in self.variables],
                "constraints": [c.name for c in self.constraints], "costs": sorted(self.costs)}

    # -- validity ---------------------------------------------------------------------------
    def validate(self, config: Mapping[str, Any]) -> Config:
        """The canonical form of ``config``; :class:`ConfigError` names the bad key."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"space '{self.name}': a configuration must be a mapping, got {config!r}")
        missing = [n for n in self.names if n not in config]
        extra = [k for k in config if k not in self._by_name]
        if missing or extra:
            raise ConfigError(
                f"space '{self.name}': configuration keys do not match; missing {missing}, unknown {extra}; "
                f"allowed: {self.names}"
            )
        return {v.name: v.validate(config[v.name]) for v in self.variables}

    def key(self, config: Mapping[str, Any]) -> str:
        """Canonical hashable key: equal for configurations that are the same point."""
        return config_key({v.name: v.key(config[v.name]) for v in self.variables})

    def cost(self, name: str, config: Config) -> float:
        return float(self.costs[name](config))

    def cost_values(self, config: Config) -> dict[str, float]:
        return {n: float(f(config)) for n, f in self.costs.items()}

    def _constraint_value(self, c: Constraint, config: Config) -> float:
        return c.value(config, self)

    def constraint_values(self, config: Config) -> dict[str, float]:
        return {c.name: self._constraint_value(c, config) for c in self.constraints}

    def is_feasible(self, config: Config) -> bool:
        return all(v <= 0 for v in self.constraint_values(config).values())

    def repair(self, config: Mapping[str, Any], rng: np.random.Generator | None = None) -> Config:
        """Project every variable onto its domain, then let constraints repair violations."""
        rng = rng if rng is not None else np.random.default_rng(0)
        out = {v.name: v.repair(config[v.name], rng) for v in self.variables}
        if not self.constraints:
            return out
        for _ in range(self.max_repair_rounds):
            bad = [c for c in self.constraints if self._constraint_value(c, out) > 0]
            if not bad:
                break
            for c in bad:
                out = c.repair(out, self, rng)
        return out

    # -- search operators -------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Config:
        return self.repair({v.name: v.sample(rng) for v in self.variables}, rng)

    def mutate(self, config: Config, rng: np.random.Generator, prob: float | None = None) -> Config:
        """Mutate each variable with probability ``prob`` (default 1/len), at least one."""
        p = 1.0 / len(self.variables) if prob is None else prob
        mask = rng.random(len(self.variables)) < p
        if not mask.any():
            mask[int(rng.integers(len(self.variables)))] = True
        out = dict(config)
        for v, m in zip(self.variables, mask):
            if m:
                out[v.name] = v.mutate(config[v.name], rng)
        return self.repair(out, rng)

    def crossover(self, a: Config, b: Config, rng: np.random.Generator) -> tuple[Config, Config]:
        """Per variable: with probability 1/2 cross the two values, else keep them."""
        c1, c2 = dict(a), dict(b)
        for v in self.variables:
            if len(self.variables) == 1 or rng.random() < 0.5:
                c1[v.name], c2[v.name] = v.crossover(a[v.name], b[v.name], rng)
        return self.repair(c1, rng), self.repair(c2, rng)

    def neighbors(self, config: Config) -> Iterator[Config]:
        for v in self.variables:
            for nb in v.neighbors(config[v.name]):
                out = dict(config)
                out[v.name] = nb
                yield out

    # -- numeric views ----------------------------------------------------------------------
    @property
    def width(self) -> int:
        return sum(v.width for v in self.variables)

    def encode(self, config: Config) -> np.ndarray:
        """Numeric encoding for predictors (one-hot, normalised numbers, multi-hot)."""
        return np.concatenate([v.encode(config[v.name]) for v in self.variables])

    def encode_many(self, configs: Sequence[Config]) -> np.ndarray:
        if not configs:
            return np.zeros((0, self.width))
        return np.stack([self.encode(c) for c in configs])

    def flat_params(self) -> list[FlatParam]:
        return [p for _, ps in self._flat for p in ps]

    def to_flat(self, config: Config) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for v, ps in self._flat:
            for p, x in zip(ps, v.to_flat(config[v.name])):
                out[p.name] = x
        return out

    def from_flat(self, flat: Mapping[str, Any], rng: np.random.Generator | None = None) -> Config:
        raw = {v.name: v.from_flat([flat[p.name] for p in ps]) for v, ps in self._flat}
        return self.repair(raw, rng)

    @property
    def unit_dim(self) -> int:
        return len(self.flat_params())

    def from_unit(self, u: Sequence[float], rng: np.random.Generator | None = None) -> Config:
        """A configuration from a point of the unit cube (the view of continuous algorithms)."""
        params = self.flat_params()
        return self.from_flat({p.name: p.from_unit(x) for p, x in zip(params, u)}, rng)

    def encode_unit(self, U: np.ndarray, repaired: bool = True) -> np.ndarray | None:
        """``encode_many([from_unit(u) for u in U])`` for all rows of ``U`` at once (up to the
        12 significant digits of canonical reals); None when a variable has no vectorised form
        (:meth:`Variable.encode_unit`), or when a constraint may repair a point. With
        ``repaired=False``: the encoding of the values the rows stand for before any constraint
        repairs them (:meth:`decode_unit`), which is that of ``from_unit`` for the rows that
        :meth:`feasible_unit` accepts."""
        if self.constraints and repaired:
            return None
        U = np.asarray(U, dtype=float).reshape(-1, self.unit_dim)
        cols = []
        for v, block in self._unit_blocks(U):
            e = v.encode_unit(block)
            if e is None:
                return None
            cols.append(np.asarray(e, dtype=float).reshape(len(U), v.width))
        return np.hstack(cols)

    def _unit_blocks(self, U: np.ndarray) -> Iterator[tuple[Variable, np.ndarray]]:
        """Each variable with its columns of the unit-cube matrix ``U`` (one per flat parameter)."""
        j = 0
        for v, ps in self._flat:
            yield v, U[:, j:j + len(ps)]
            j += len(ps)

    def decode_unit(self, U: np.ndarray) -> list[Config]:
        """The configurations the rows of ``U`` stand for before any constraint repairs them
        (``from_unit`` without the repair), all at once (:meth:`Variable.from_unit_many`)."""
        U = np.asarray(U, dtype=float).reshape(-1, self.unit_dim)
        cols = [v.from_unit_many(block) for v, block in self._unit_blocks(U)]
        names = self.names
        return [dict(zip(names, values)) for values in zip(*cols)] if cols else [{} for _ in range(len(U))]

    def feasible_unit(self, U: np.ndarray) -> np.ndarray:
        """Whether each row of ``U`` stands for a configuration that meets every constraint as
        it is (so ``from_unit`` repairs nothing); all True without constraints."""
        U = np.asarray(U, dtype=float).reshape(-1, self.unit_dim)
        if not self.constraints:
            return np.ones(len(U), dtype=bool)
        return np.array([all(self._constraint_value(c, cfg) <= 0 for c in self.constraints)
                         for cfg in self.decode_unit(U)], dtype=bool)

    def spread_unit(self, U: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The rows of ``U`` with each variable's ``ranked`` scalars drawn apart
        (:meth:`Variable.spread_unit`): the same configurations, from which a move of one
        coordinate changes a subset's members. Draws from ``rng`` only for such variables."""
        U = np.asarray(U, dtype=float).reshape(-1, self.unit_dim)
        blocks = [v.spread_unit(block, rng) for v, block in self._unit_blocks(U)]
        return np.hstack(blocks) if blocks else U

    def to_unit(self, config: Config) -> np.ndarray:
        flat = self.to_flat(config)
        return np.array([p.to_unit(flat[p.name]) for p in self.flat_params()])

    # -- enumeration ------------------------------------------------------------------------
    @property
    def cardinality(self) -> int | None:
        n = 1
        for v in self.variables:
            c = v.cardinality
            if c is None:
                return None
            n *= c
        return n

    def enumerate(self) -> Iterator[Config]:
        """Every configuration of a discrete space (feasible ones only)."""
        names = self.names
        for values in itertools.product(*(list(v.enumerate()) for v in self.variables)):
            cfg = dict(zip(names, values))
            if self.is_feasible(cfg):
                yield cfg
