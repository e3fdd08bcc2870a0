"""Integer and real scalars, optionally on a log scale."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .base import ConfigError, FlatParam, Variable, canonical_value, check_flag

__all__ = ["Integer", "Real", "sbx_pair"]


def sbx_pair(x1: float, x2: float, low: float, high: float, rng: np.random.Generator,
             eta: float = 15.0) -> tuple[float, float]:
    """Simulated binary crossover of two scalars, clipped to ``[low, high]``."""
    if rng.random() < 0.5:  # as in Deb's SBX: children are exchanged between parents at random
        x1, x2 = x2, x1
    u = rng.random()
    beta = (2 * u) ** (1 / (eta + 1)) if u <= 0.5 else (1 / (2 * (1 - u))) ** (1 / (eta + 1))
    c1 = 0.5 * ((1 + beta) * x1 + (1 - beta) * x2)
    c2 = 0.5 * ((1 - beta) * x1 + (1 + beta) * x2)
    return min(max(c1, low), high), min(max(c2, low), high)


class _Scalar(Variable):
    """Shared by integers and reals: Gaussian mutation (10% of the range, in log-space for log
    variables) and the default exchange crossover. On the benchmark problems this pair beat SBX
    with polynomial mutation inside NSGA-II (see BENCHMARKS.md)."""

    def __init__(self, name: str, low: float, high: float, log: bool) -> None:
        super().__init__(name)
        log = check_flag(name, "log", log)
        if not (isinstance(low, (int, float)) and isinstance(high, (int, float))) or isinstance(
            low, bool
        ):
            raise ConfigError(f"variable '{name}': 'low' and 'high' must be numbers, got {low!r}, {high!r}")
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ConfigError(f"variable '{name}': 'low' and 'high' must be finite, got {low!r}, {high!r} (for a "
                              "wide range, give finite bounds and log: true)")
        if not low <= high:
            raise ConfigError(f"variable '{name}': 'low' ({low}) must be <= 'high' ({high})")
        if log and low <= 0:
            raise ConfigError(f"variable '{name}': a log-scale variable needs 'low' > 0, got {low}")
        self.low, self.high, self.log = low, high, bool(log)

    # internal coordinates: log-space when log=True
    def _to_t(self, v: float) -> float:
        return math.log(v) if self.log else float(v)

    def _from_t(self, t: float) -> float:
        return math.exp(t) if self.log else t

    @property
    def _t_bounds(self) -> tuple[float, float]:
        return self._to_t(self.low), self._to_t(self.high)

    def _finish(self, x: float) -> Any:
        raise NotImplementedError

    def _number(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise self._error(f"value {value!r} is not a number")
        v = float(value)
        if not math.isfinite(v):
            raise self._error(f"value {value!r} is not finite")
        return v

    def sample(self, rng: np.random.Generator) -> Any:
        lo, hi = self._t_bounds
        return self._finish(self._from_t(rng.uniform(lo, hi)))

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        lo, hi = self._t_bounds
        t = self._to_t(self.repair(value)) + rng.normal(0.0, 0.1 * (hi - lo))
        return self._finish(self._from_t(min(max(t, lo), hi)))

    def repair(self, value: Any, rng: np.random.Generator | None = None) -> Any:
        v = self._number(value)
        return self._finish(min(max(v, self.low), self.high))

    @property
    def width(self) -> int:
        return 1

    def encode(self, value: Any) -> np.ndarray:
        lo, hi = self._t_bounds
        return np.array([(self._to_t(value) - lo) / (hi - lo) if hi > lo else 0.5])

    def encode_unit(self, U: np.ndarray) -> np.ndarray:
        lo, hi = self._t_bounds
        if not hi > lo:
            return np.full((len(U), 1), 0.5)
        u = np.clip(U[:, :1], 0.0, 1.0)
        # the flat parameter's value (as FlatParam.from_unit), then this variable's repair
        x = np.exp(lo + u * (hi - lo)) if self.log else self.low + u * (self.high - self.low)
        x = np.clip(x, self.low, self.high)
        if self.kind == "integer":
            x = np.clip(np.rint(x), self.low, self.high)
        t = np.log(x) if self.log else x
        return np.clip((t - lo) / (hi - lo), 0.0, 1.0)

    def to_flat(self, value: Any) -> list[Any]:
        return [self.validate(value)]

    def from_flat(self, flat: Sequence[Any]) -> Any:
        return self.repair(flat[0])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log}


class Integer(_Scalar):
    """An integer in ``[low, high]`` (both included), optionally sampled on a log scale."""

    kind = "integer"

    def __init__(self, name: str, low: int, high: int, log: bool = False) -> None:
        if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in (low, high)):
            raise ConfigError(f"variable '{name}': 'low' and 'high' must be integers, got {low!r}, {high!r}")
        super().__init__(name, int(low), int(high), log)

    def _finish(self, x: float) -> int:
        return int(min(max(round(x), self.low), self.high))

    def sample(self, rng: np.random.Generator) -> int:
        if not self.log:
            return int(rng.integers(self.low, self.high + 1))
        # uniform in log-space over the cells [k - 0.5, k + 0.5]
        lo, hi = math.log(self.low - 0.5 if self.low > 0.5 else self.low), math.log(self.high + 0.5)
        return self._finish(math.exp(rng.uniform(lo, hi)))

    def mutate(self, value: Any, rng: np.random.Generator) -> int:
        if self.low == self.high:
            return self.low
        v = self.validate(value)
        out = super().mutate(v, rng)
        if out == v:  # make sure a mutation moves
            out = v + 1 if v < self.high and (v == self.low or rng.random() < 0.5) else v - 1
        return out

    def validate(self, value: Any) -> int:
        v = self._number(value)
        if v != int(v):
            raise self._error(f"value {value!r} is not an integer")
        if not self.low <= v <= self.high:
            raise self._error(f"value {value!r} is outside [{self.low}, {self.high}]")
        return int(v)

    def neighbors(self, value: Any) -> list[int]:
        v = self.validate(value)
        return [k for k in (v - 1, v + 1) if self.low <= k <= self.high]

    def flat_params(self) -> list[FlatParam]:
        return [FlatParam(self.name, "int", low=self.low, high=self.high, log=self.log)]

    @property
    def cardinality(self) -> int:
        return self.high - self.low + 1

    def enumerate(self) -> Iterator[int]:
        return iter(range(self.low, self.high + 1))


class Real(_Scalar):
    """A real number in ``[low, high]``, optionally on a log scale."""

    kind = "real"

    def __init__(self, name: str, low: float, high: float, log: bool = False) -> None:
        # bounds in canonical form (12 significant digits), so that rounding a value inside the
        # bounds to its canonical form (monotone) can never leave them
        def canon(x: Any) -> Any:
            return canonical_value(float(x)) if isinstance(x, (int, float)) and not isinstance(x, bool) else x

        super().__init__(name, canon(low), canon(high), log)

    def _finish(self, x: float) -> float:
        return canonical_value(min(max(float(x), self.low), self.high))

    def validate(self, value: Any) -> float:
        v = self._number(value)
        if not self.low <= v <= self.high:
            raise self._error(f"value {value!r} is outside [{self.low}, {self.high}]")
        return canonical_value(v)

    def neighbors(self, value: Any) -> list[float]:
        v = self.validate(value)
        lo, hi = self._t_bounds
        step = 0.05 * (hi - lo)
        t = self._to_t(v)
        return [self._finish(self._from_t(x)) for x in (t - step, t + step) if lo <= x <= hi]

    def flat_params(self) -> list[FlatParam]:
        return [FlatParam(self.name, "float", low=self.low, high=self.high, log=self.log)]
