"""A real vector (checkpoint coefficients), optionally on the simplex."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import ConfigError, FlatParam, Variable, canonical_value, check_flag
from .numeric import sbx_pair

__all__ = ["RealVector"]

# canonical values keep 12 significant digits, so a normalised vector's sum is off by < 1e-11
_SIMPLEX_TOL = 1e-9


class RealVector(Variable):
    """``length`` reals in ``[low, high]``. With ``simplex=True`` the entries are non-negative
    and sum to 1 (repair clips, then renormalises; an all-zero vector becomes uniform)."""

    kind = "vector"

    def __init__(self, name: str, length: int, low: float = 0.0, high: float = 1.0,
                 simplex: bool = False) -> None:
        super().__init__(name)
        simplex = check_flag(name, "simplex", simplex)
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ConfigError(f"variable '{name}': 'length' must be a positive integer, got {length!r}")
        if simplex:
            low, high = 0.0, 1.0
        if not float(low) < float(high):
            raise ConfigError(f"variable '{name}': 'low' ({low}) must be < 'high' ({high})")
        # canonical bounds: rounding an entry inside them to 12 significant digits stays inside
        self.low, self.high = canonical_value(float(low)), canonical_value(float(high))
        self.length, self.simplex = length, bool(simplex)

    def _array(self, value: Any) -> np.ndarray:
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
            raise self._error(f"value {value!r} is not a list of {self.length} numbers")
        if len(value) != self.length:
            raise self._error(f"has {len(value)} entries, expected {self.length}")
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise self._error(f"value {value!r} is not a list of numbers") from None
        if arr.ndim != 1:
            raise self._error(f"value {value!r} is not a flat list of {self.length} numbers")
        if not np.isfinite(arr).all():
            raise self._error(f"value {list(value)!r} has non-finite entries")
        return arr

    def _finish(self, arr: np.ndarray) -> list[float]:
        return canonical_value(arr.tolist())

    def _project(self, arr: np.ndarray) -> np.ndarray:
        arr = np.clip(arr, self.low, self.high)
        if self.simplex:
            s = arr.sum()
            # a vector already on the simplex up to the rounding of canonical values is kept as it
            # is: renormalising it would move its last digits, so validate would not be idempotent
            if abs(s - 1.0) > _SIMPLEX_TOL:
                arr = arr / s if s > 0 else np.full(self.length, 1.0 / self.length)
        return arr

    def sample(self, rng: np.random.Generator) -> list[float]:
        if self.simplex:
            return self._finish(rng.dirichlet(np.ones(self.length)))
        return self._finish(rng.uniform(self.low, self.high, self.length))

    def validate(self, value: Any) -> list[float]:
        arr = self._array(value)
        if (arr < self.low - 1e-9).any() or (arr > self.high + 1e-9).any():
            raise self._error(f"entries must lie in [{self.low}, {self.high}], got {arr.tolist()}")
        if self.simplex and not math.isclose(arr.sum(), 1.0, abs_tol=1e-6):
            raise self._error(f"entries must sum to 1 (simplex), got sum {arr.sum():.6g}")
        return self._finish(self._project(arr))

    def repair(self, value: Any, rng: np.random.Generator | None = None) -> list[float]:
        return self._finish(self._project(self._array(value)))

    def mutate(self, value: Any, rng: np.random.Generator) -> list[float]:
        arr = self._array(value)
        mask = rng.random(self.length) < max(1.0 / self.length, 0.2)
        if not mask.any():  # make sure a mutation moves
            mask[int(rng.integers(self.length))] = True
        arr = arr + mask * rng.normal(0.0, 0.1 * (self.high - self.low), self.length)
        return self._finish(self._project(arr))

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> tuple[list[float], list[float]]:
        xa, xb = self._array(a), self._array(b)
        c1, c2 = xa.copy(), xb.copy()
        for i in range(self.length):
            if rng.random() < 0.5:
                c1[i], c2[i] = sbx_pair(xa[i], xb[i], self.low, self.high, rng)
        return self._finish(self._project(c1)), self._finish(self._project(c2))

    def neighbors(self, value: Any) -> list[list[float]]:
        arr = self._array(value)
        step = 0.05 * (self.high - self.low)
        out = []
        for i in range(self.length):
            for d in (-step, step):
                x = arr.copy()
                x[i] += d
                out.append(self._finish(self._project(x)))
        return out

    @property
    def width(self) -> int:
        return self.length

    def encode(self, value: Any) -> np.ndarray:
        return (self._array(value) - self.low) / (self.high - self.low)

    def encoding_groups(self) -> list[int]:
        return [1] * self.length

    def encode_unit(self, U: np.ndarray) -> np.ndarray:
        span = self.high - self.low
        x = np.clip(self.low + np.clip(np.asarray(U, dtype=float), 0.0, 1.0) * span, self.low, self.high)
        if self.simplex:  # as _project: renormalised unless already on the simplex, uniform if all zero
            s = x.sum(1, keepdims=True)
            off = np.abs(s - 1.0) > _SIMPLEX_TOL
            x = np.where(off & (s > 0), x / np.where(s > 0, s, 1.0), x)
            x = np.where(off & (s <= 0), 1.0 / self.length, x)
        return (x - self.low) / span

    def flat_params(self) -> list[FlatParam]:
        return [FlatParam(f"{self.name}[{i}]", "float", low=self.low, high=self.high) for i in range(self.length)]

    def to_flat(self, value: Any) -> list[Any]:
        return self._array(value).tolist()

    def from_flat(self, flat: Sequence[Any]) -> list[float]:
        return self.repair([float(x) for x in flat])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "length": self.length, "low": self.low, "high": self.high,
                "simplex": self.simplex}
