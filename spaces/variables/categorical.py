"""Categorical and ordinal choices."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from .base import ConfigError, FlatParam, Variable, canonical_value

__all__ = ["Categorical", "Ordinal"]


def _check_choices(name: str, choices: Sequence[Any]) -> tuple[Any, ...]:
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or len(choices) < 1:
        raise ConfigError(f"variable '{name}': 'choices' must be a non-empty list, got {choices!r}")
    out = tuple(canonical_value(c) for c in choices)
    for c in out:
        if c is not None and not isinstance(c, (str, int, float, bool)):
            raise ConfigError(
                f"variable '{name}': choice {c!r} is not a JSON scalar (string, number, bool or null)"
            )
    if len(set(map(repr, out))) != len(out):
        raise ConfigError(f"variable '{name}': 'choices' has duplicates: {list(out)}")
    return out


@lru_cache(maxsize=4096)
def _lookup(choices: tuple[Any, ...]) -> dict[tuple[bool, Any], int]:
    """``(is a bool, choice) -> first index`` of a tuple of choices (bools apart from 0 and 1)."""
    out: dict[tuple[bool, Any], int] = {}
    for i, c in enumerate(choices):
        out.setdefault((isinstance(c, bool), c), i)
    return out


def unit_cells(U: np.ndarray, sizes: Any) -> np.ndarray:
    """Choice indices of points of the unit interval, as :meth:`FlatParam.from_unit` of a
    "cat" parameter gives them: the cell of ``[0, 1]`` cut into ``sizes`` equal parts
    (``sizes`` broadcasts against ``U``)."""
    return np.minimum((np.clip(U, 0.0, 1.0) * sizes).astype(np.int64), np.asarray(sizes) - 1)


def unit_ranks(U: np.ndarray, sizes: Any) -> np.ndarray:
    """Choice indices as an "int" parameter in ``[0, sizes - 1]`` gives them: the rank rounded
    half to even, as ``round()``."""
    top = np.asarray(sizes) - 1
    return np.clip(np.rint(np.clip(U, 0.0, 1.0) * top), 0, top).astype(np.int64)


_PLAIN = (int, str, float, bool, type(None))  # values whose exact match needs no canonical form


def _index(var: Variable, choices: tuple[Any, ...], value: Any) -> int:
    if type(value) in _PLAIN:  # fast path: the search operators call this for every candidate
        i = _lookup(choices).get((type(value) is bool, value))
        if i is not None and choices[i] == value:  # (a NaN choice found by identity is no match)
            return i
    v = canonical_value(value)
    for i, c in enumerate(choices):
        if c == v and isinstance(c, bool) == isinstance(v, bool):
            return i
    raise var._error(f"value {value!r} is not one of the allowed choices {list(choices)}")


class Categorical(Variable):
    """One of an unordered set of choices."""

    kind = "categorical"

    def __init__(self, name: str, choices: Sequence[Any]) -> None:
        super().__init__(name)
        self.choices = _check_choices(name, choices)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def validate(self, value: Any) -> Any:
        return self.choices[_index(self, self.choices, value)]

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        n = len(self.choices)
        if n == 1:
            return self.choices[0]
        i = _index(self, self.choices, value)
        j = int(rng.integers(n - 1))
        return self.choices[j + (j >= i)]

    def neighbors(self, value: Any) -> list[Any]:
        v = self.validate(value)
        return [c for c in self.choices if c != v]

    @property
    def width(self) -> int:
        return len(self.choices)

    def encode(self, value: Any) -> np.ndarray:
        out = np.zeros(len(self.choices))
        out[_index(self, self.choices, value)] = 1.0
        return out

    def flat_params(self) -> list[FlatParam]:
        return [FlatParam(self.name, "cat", choices=self.choices)]

    def _unit_index(self, U: np.ndarray) -> np.ndarray:
        return unit_cells(np.asarray(U, dtype=float).reshape(-1), len(self.choices))

    def encode_unit(self, U: np.ndarray) -> np.ndarray:
        return np.eye(len(self.choices))[self._unit_index(U)]

    def from_unit_many(self, U: np.ndarray) -> list[Any]:
        return np.array(self.choices, dtype=object)[self._unit_index(U)].tolist()  # JSON scalars, kept as they are

    def to_flat(self, value: Any) -> list[Any]:
        return [self.validate(value)]

    def from_flat(self, flat: Sequence[Any]) -> Any:
        return self.validate(flat[0])

    @property
    def cardinality(self) -> int:
        return len(self.choices)

    def enumerate(self) -> Iterator[Any]:
        return iter(self.choices)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "choices": list(self.choices)}


class Ordinal(Categorical):
    """One of an ordered list of choices (e.g. bit-widths 2, 3, 4, 8): mutation moves one step,
    the encoding is the normalised rank, and neighbours are the adjacent choices."""

    kind = "ordinal"

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        n = len(self.choices)
        if n == 1:
            return self.choices[0]
        i = _index(self, self.choices, value)
        if rng.random() < 0.2:
            return super().mutate(value, rng)
        step = 1 if (i == 0 or (i < n - 1 and rng.random() < 0.5)) else -1
        return self.choices[i + step]

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> tuple[Any, Any]:
        i, j = sorted((_index(self, self.choices, a), _index(self, self.choices, b)))
        return self.choices[int(rng.integers(i, j + 1))], self.choices[int(rng.integers(i, j + 1))]

    def neighbors(self, value: Any) -> list[Any]:
        i = _index(self, self.choices, value)
        return [self.choices[k] for k in (i - 1, i + 1) if 0 <= k < len(self.choices)]

    @property
    def width(self) -> int:
        return 1

    def encode(self, value: Any) -> np.ndarray:
        n = len(self.choices)
        return np.array([_index(self, self.choices, value) / max(n - 1, 1)])

    def flat_params(self) -> list[FlatParam]:
        return [FlatParam(self.name, "int", low=0, high=len(self.choices) - 1)]

    def _unit_index(self, U: np.ndarray) -> np.ndarray:
        return unit_ranks(np.asarray(U, dtype=float).reshape(-1), len(self.choices))

    def encode_unit(self, U: np.ndarray) -> np.ndarray:
        return (self._unit_index(U) / max(len(self.choices) - 1, 1))[:, None]

    def to_flat(self, value: Any) -> list[Any]:
        return [_index(self, self.choices, value)]

    def from_flat(self, flat: Sequence[Any]) -> Any:
        i = int(round(float(flat[0])))
        return self.choices[min(max(i, 0), len(self.choices) - 1)]
