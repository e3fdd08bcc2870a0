"""A subset of k items out of n (experts to keep, layers to keep)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from math import comb
from typing import Any

import numpy as np

from .base import ConfigError, FlatParam, Variable, canonical_value
from .categorical import _check_choices

__all__ = ["Subset"]


class Subset(Variable):
    """A subset of ``items`` (or of ``range(n)``) whose size lies in ``[k_min, k_max]``.

    Values are lists in the order of ``items``. Repair fixes the cardinality by dropping or
    adding random items. The flat view has one score in [0, 1] per item (plus the size, when it
    may vary): the subset is the top-scoring items, so continuous optimizers can drive it."""

    kind = "subset"

    def __init__(self, name: str, items: int | Sequence[Any], k: int | None = None,
                 k_min: int | None = None, k_max: int | None = None) -> None:
        super().__init__(name)
        if isinstance(items, int) and not isinstance(items, bool):
            if items < 1:
                raise ConfigError(f"variable '{name}': 'items' must be >= 1, got {items}")
            self.items: tuple[Any, ...] = tuple(range(items))
        else:
            self.items = _check_choices(name, items)
        n = len(self.items)
        if k is not None:
            if k_min is not None or k_max is not None:
                raise ConfigError(f"variable '{name}': give either 'k' or 'k_min'/'k_max', not both")
            k_min = k_max = k
        k_min = 0 if k_min is None else k_min
        k_max = n if k_max is None else k_max
        if not (isinstance(k_min, int) and isinstance(k_max, int) and not isinstance(k_min, bool)
                and not isinstance(k_max, bool) and 0 <= k_min <= k_max <= n):
            raise ConfigError(f"variable '{name}': need 0 <= k_min <= k_max <= {n}, got k_min={k_min}, k_max={k_max}")
        self.k_min, self.k_max = k_min, k_max
        self._pos = {repr(x): i for i, x in enumerate(self.items)}
        self._range = self.items == tuple(range(n))  # items 0..n-1: a value's items are its positions

    @property
    def n(self) -> int:
        return len(self.items)

    def _positions(self, value: Any) -> list[int]:
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
            raise self._error(f"value {value!r} is not a list of items")
        if self._range:  # fast path (search operators call this for every candidate)
            n = len(self.items)
            fast = [v for v in value if type(v) is int and 0 <= v < n]
            if len(fast) == len(value) and len(set(fast)) == len(fast):
                return sorted(fast)
        pos = []
        for v in value:
            p = self._pos.get(repr(canonical_value(v)))
            if p is None:
                raise self._error(f"item {v!r} is not one of {list(self.items)}")
            pos.append(p)
        if len(set(pos)) != len(pos):
            raise self._error(f"value {list(value)!r} repeats an item")
        return sorted(pos)

    def _from_positions(self, pos: Sequence[int]) -> list[Any]:
        return [self.items[p] for p in sorted(pos)]

    def sample(self, rng: np.random.Generator) -> list[Any]:
        k = int(rng.integers(self.k_min, self.k_max + 1))
        return self._from_positions(rng.choice(self.n, size=k, replace=False).tolist())

    def validate(self, value: Any) -> list[Any]:
        pos = self._positions(value)
        if not self.k_min <= len(pos) <= self.k_max:
            size = f"{self.k_min}" if self.k_min == self.k_max else f"between {self.k_min} and {self.k_max}"
            raise self._error(f"has {len(pos)} items, expected {size}")
        return self._from_positions(pos)

    def repair(self, value: Any, rng: np.random.Generator | None = None) -> list[Any]:
        rng = rng if rng is not None else np.random.default_rng(0)
        pos = self._positions(value)
        if len(pos) > self.k_max:
            pos = sorted(rng.choice(pos, size=self.k_max, replace=False).tolist())
        elif len(pos) < self.k_min:
            rest = [p for p in range(self.n) if p not in set(pos)]
            pos = pos + rng.choice(rest, size=self.k_min - len(pos), replace=False).tolist()
        return self._from_positions(pos)

    def mutate(self, value: Any, rng: np.random.Generator) -> list[Any]:
        pos = set(self._positions(value))
        outside = [p for p in range(self.n) if p not in pos]
        moves = []
        if pos and outside:
            moves.append("swap")
        if len(pos) < self.k_max and outside:
            moves.append("add")
        if len(pos) > self.k_min and pos:
            moves.append("drop")
        if not moves:
            return self._from_positions(sorted(pos))
        move = moves[int(rng.integers(len(moves)))]
        if move in ("swap", "drop"):
            pos.discard(int(rng.choice(sorted(pos))))
        if move in ("swap", "add"):
            pos.add(int(rng.choice(outside)))
        return self._from_positions(sorted(pos))

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
        pa, pb = set(self._positions(a)), set(self._positions(b))
        common, diff = pa & pb, sorted(pa ^ pb)
        children = []
        for size in (len(pa), len(pb)):
            extra = rng.choice(diff, size=min(size - len(common), len(diff)), replace=False).tolist() if diff else []
            children.append(self._from_positions(sorted(common | set(extra))))
        return children[0], children[1]

    def neighbors(self, value: Any) -> list[list[Any]]:
        pos = set(self._positions(value))
        outside = [p for p in range(self.n) if p not in pos]
        out = []
        if len(pos) > self.k_min:
            out += [self._from_positions(sorted(pos - {p})) for p in sorted(pos)]
        if len(pos) < self.k_max:
            out += [self._from_positions(sorted(pos | {q})) for q in outside]
        if self.k_min == self.k_max:
            out += [self._from_positions(sorted((pos - {p}) | {q})) for p in sorted(pos) for q in outside]
        return out

    @property
    def width(self) -> int:
        return self.n

    def encoding_groups(self) -> list[int]:
        return [1] * self.n

    def encode(self, value: Any) -> np.ndarray:
        out = np.zeros(self.n)
        out[self._positions(value)] = 1.0
        return out

    def flat_params(self) -> list[FlatParam]:
        ps = [FlatParam(f"{self.name}[{i}]", "float", low=0.0, high=1.0, ranked=True) for i in range(self.n)]
        if self.k_min != self.k_max:
            ps.append(FlatParam(f"{self.name}.k", "int", low=self.k_min, high=self.k_max))
        return ps

    def to_flat(self, value: Any) -> list[Any]:
        pos = set(self._positions(value))
        flat: list[Any] = [1.0 if i in pos else 0.0 for i in range(self.n)]
        if self.k_min != self.k_max:
            flat.append(len(pos))
        return flat

    def from_flat(self, flat: Sequence[Any]) -> list[Any]:
        scores = np.asarray([float(x) for x in flat[: self.n]])
        if self.k_min != self.k_max:
            k = min(max(int(round(float(flat[self.n]))), self.k_min), self.k_max)
        else:
            k = self.k_min
        order = np.argsort(-scores, kind="stable")[:k]
        return self._from_positions(sorted(order.tolist()))

    def encode_unit(self, U: np.ndarray) -> np.ndarray:
        U = np.asarray(U, dtype=float).reshape(-1, self.n + (self.k_min != self.k_max))
        if self.k_min != self.k_max:  # FlatParam "int" in [k_min, k_max] (round half to even, as round())
            k = np.clip(np.rint(self.k_min + np.clip(U[:, self.n], 0.0, 1.0) * (self.k_max - self.k_min)),
                        self.k_min, self.k_max)
        else:
            k = np.full(len(U), self.k_min)
        order = np.argsort(-np.clip(U[:, : self.n], 0.0, 1.0), axis=1, kind="stable")  # as from_flat
        rank = np.empty_like(order)
        rank[np.arange(len(U))[:, None], order] = np.arange(self.n)
        return (rank < k[:, None]).astype(float)

    def spread_unit(self, U: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        U = np.array(U, dtype=float).reshape(-1, self.n + (self.k_min != self.k_max))
        member = self.encode_unit(U) > 0.5
        r = 0.5 * rng.random(member.shape)  # members in (0.5, 1], the others in [0, 0.5)
        U[:, : self.n] = np.where(member, 1.0 - r, r)
        return U

    @property
    def cardinality(self) -> int:
        return sum(comb(self.n, k) for k in range(self.k_min, self.k_max + 1))

    def enumerate(self) -> Iterator[list[Any]]:
        for k in range(self.k_min, self.k_max + 1):
            for pos in itertools.combinations(range(self.n), k):
                yield self._from_positions(pos)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "items": list(self.items), "k_min": self.k_min,
                "k_max": self.k_max}
