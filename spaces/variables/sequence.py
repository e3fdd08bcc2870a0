"""A fixed-length sequence of choices: one decision per step or per layer."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .base import ConfigError, FlatParam, Variable, canonical_value, check_flag
from .categorical import _check_choices, _index, unit_cells, unit_ranks

__all__ = ["ChoiceSequence"]


class ChoiceSequence(Variable):
    """``length`` decisions, each one of ``choices`` (the same list for every position, or one
    list per position). ``ordered=True`` treats the choices as ordered (bit-widths, model sizes):
    mutation moves one step and the encoding is the normalised rank. ``skip=True`` adds the
    ``None`` token ("none/skip": drop this layer, skip this step) as the first choice of every
    position."""

    kind = "sequence"

    def __init__(self, name: str, length: int, choices: Sequence[Any] | Sequence[Sequence[Any]],
                 ordered: bool = False, skip: bool = False) -> None:
        super().__init__(name)
        ordered, skip = check_flag(name, "ordered", ordered), check_flag(name, "skip", skip)
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ConfigError(f"variable '{name}': 'length' must be a positive integer, got {length!r}")
        per_position = (isinstance(choices, Sequence) and not isinstance(choices, str) and len(choices) > 0
                        and all(isinstance(c, (list, tuple)) for c in choices))
        if per_position:
            if len(choices) != length:
                raise ConfigError(
                    f"variable '{name}': per-position 'choices' has {len(choices)} lists, expected 'length' = {length}"
                )
            lists = [_check_choices(name, c) for c in choices]
        else:
            lists = [_check_choices(name, choices)] * length
        if skip:
            if any(None in c for c in lists):
                raise ConfigError(f"variable '{name}': 'skip' adds null; remove null from 'choices'")
            lists = [(None, *c) for c in lists]
        self.length, self.ordered, self.skip = length, bool(ordered), bool(skip)
        self.position_choices: list[tuple[Any, ...]] = lists

    def sample(self, rng: np.random.Generator) -> list[Any]:
        return [c[int(rng.integers(len(c)))] for c in self.position_choices]

    def validate(self, value: Any) -> list[Any]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise self._error(f"value {value!r} is not a list of length {self.length}")
        if len(value) != self.length:
            raise self._error(f"has {len(value)} entries, expected {self.length}")
        out = []
        for i, (v, c) in enumerate(zip(value, self.position_choices)):
            try:
                out.append(c[_index(self, c, v)])
            except ConfigError:
                raise self._error(f"position {i}: value {v!r} is not one of {list(c)}") from None
        return out

    def _step(self, i: int, v: Any, rng: np.random.Generator) -> Any:
        c = self.position_choices[i]
        n = len(c)
        if n == 1:
            return c[0]
        k = _index(self, c, v)
        if self.ordered and rng.random() >= 0.2:
            step = 1 if (k == 0 or (k < n - 1 and rng.random() < 0.5)) else -1
            return c[k + step]
        j = int(rng.integers(n - 1))
        return c[j + (j >= k)]

    def mutate(self, value: Any, rng: np.random.Generator) -> list[Any]:
        out = self.validate(value)
        mask = rng.random(self.length) < 1.0 / self.length
        if not mask.any():
            mask[int(rng.integers(self.length))] = True
        for i in np.flatnonzero(mask):
            out[i] = self._step(int(i), out[i], rng)
        return out

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
        a, b = list(a), list(b)
        swap = rng.random(self.length) < 0.5
        c1 = [y if s else x for x, y, s in zip(a, b, swap)]
        c2 = [x if s else y for x, y, s in zip(a, b, swap)]
        return c1, c2

    def neighbors(self, value: Any) -> list[list[Any]]:
        v = self.validate(value)
        out = []
        for i, c in enumerate(self.position_choices):
            k = _index(self, c, v[i])
            alts = [c[j] for j in (k - 1, k + 1) if 0 <= j < len(c)] if self.ordered else [
                x for x in c if x != v[i]]
            for x in alts:
                out.append(v[:i] + [x] + v[i + 1:])
        return out

    @property
    def width(self) -> int:
        return self.length if self.ordered else sum(len(c) for c in self.position_choices)

    def encoding_groups(self) -> list[int]:
        return [1] * self.length if self.ordered else [len(c) for c in self.position_choices]

    def encode(self, value: Any) -> np.ndarray:
        parts = []
        for v, c in zip(value, self.position_choices):
            k = _index(self, c, v)
            if self.ordered:
                parts.append([k / max(len(c) - 1, 1)])
            else:
                oh = [0.0] * len(c)
                oh[k] = 1.0
                parts.append(oh)
        return np.array([x for p in parts for x in p], dtype=float)

    def encode_unit(self, U: np.ndarray) -> np.ndarray:
        idx = self._unit_index(U)
        sizes = np.array([len(c) for c in self.position_choices])
        if self.ordered:  # the normalised rank
            return idx / np.maximum(sizes - 1, 1)
        out = np.zeros((len(idx), int(sizes.sum())))
        out[np.arange(len(idx))[:, None], np.concatenate([[0], np.cumsum(sizes)[:-1]]) + idx] = 1.0
        return out

    def _unit_index(self, U: np.ndarray) -> np.ndarray:
        """Each row's choice index per position, as :meth:`from_flat` of the flat parameters'
        ``from_unit`` gives it: the rank rounded half to even, as ``round()`` (ordered: an "int"
        parameter in [0, n - 1]), or the cell of the unit interval ("cat")."""
        U = np.asarray(U, dtype=float).reshape(-1, self.length)
        sizes = np.array([len(c) for c in self.position_choices])
        return unit_ranks(U, sizes) if self.ordered else unit_cells(U, sizes)

    def from_unit_many(self, U: np.ndarray) -> list[list[Any]]:
        idx = self._unit_index(U)
        first = self.position_choices[0]
        if all(c is first for c in self.position_choices):  # one list for every position: one lookup
            return np.array(first, dtype=object)[idx].tolist()  # JSON scalars, kept as they are
        return [[c[i] for c, i in zip(self.position_choices, row)] for row in idx.tolist()]

    def flat_params(self) -> list[FlatParam]:
        if self.ordered:
            return [FlatParam(f"{self.name}[{i}]", "int", low=0, high=len(c) - 1)
                    for i, c in enumerate(self.position_choices)]
        return [FlatParam(f"{self.name}[{i}]", "cat", choices=c) for i, c in enumerate(self.position_choices)]

    def to_flat(self, value: Any) -> list[Any]:
        v = self.validate(value)
        if self.ordered:
            return [_index(self, c, x) for x, c in zip(v, self.position_choices)]
        return v

    def from_flat(self, flat: Sequence[Any]) -> list[Any]:
        if self.ordered:
            return [c[min(max(int(round(float(x))), 0), len(c) - 1)] for x, c in zip(flat, self.position_choices)]
        return self.validate(list(flat))

    @property
    def cardinality(self) -> int:
        n = 1
        for c in self.position_choices:
            n *= len(c)
        return n

    def enumerate(self) -> Iterator[list[Any]]:
        return (list(t) for t in itertools.product(*self.position_choices))

    def describe(self) -> dict[str, Any]:
        first = self.position_choices[0][1:] if self.skip else self.position_choices[0]
        same = all(c == self.position_choices[0] for c in self.position_choices)
        choices = list(first) if same else [list(c[1:] if self.skip else c) for c in self.position_choices]
        return {"name": self.name, "kind": self.kind, "length": self.length, "choices": canonical_value(choices),
                "ordered": self.ordered, "skip": self.skip}
