"""The abstract variable: one decision of a configuration, with its own search operators.

Every variable knows how to sample, mutate, cross over and repair its values, how to encode a
value as numbers for predictors, how to give a canonical (hashable, JSON-able) form of a value,
and how to show itself as "flat" parameters (categorical, integer or real scalars), which is the
view that the Optuna and pymoo adapters work on.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = ["ConfigError", "FlatParam", "Variable", "canonical_value"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class ConfigError(ValueError):
    """A configuration, variable definition or value that is not valid, with the key at fault."""


def check_flag(name: str, key: str, value: Any) -> bool:
    """A true/false setting of variable ``name``: a YAML string such as ``"false"`` would be true."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"variable '{name}': '{key}' must be true or false, got {value!r}")
    return bool(value)


def canonical_value(value: Any) -> Any:
    """JSON-able canonical form: tuples become lists, numpy scalars become Python scalars and
    floats are rounded to 12 significant digits so that keys do not depend on float noise."""
    if isinstance(value, (list, tuple)):
        return [canonical_value(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v):
            return float(f"{v:.12g}")
        return v
    return value


@dataclass(frozen=True)
class FlatParam:
    """One scalar of a variable's flat view.

    ``kind`` is ``"cat"`` (``choices`` given), ``"int"`` or ``"float"`` (``low``/``high``, ``log``).
    ``ranked``: the value depends on this scalar only through its order among its variable's
    ranked scalars (a subset's item scores), not through its size.
    """

    name: str
    kind: str
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    ranked: bool = False

    def from_unit(self, u: float) -> Any:
        """Map a number in [0, 1] to a value of this parameter."""
        u = min(max(float(u), 0.0), 1.0)
        if self.kind == "cat":
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        if self.kind == "int":
            return int(min(max(round(x), self.low), self.high))
        return float(min(max(x, self.low), self.high))

    def to_unit(self, value: Any) -> float:
        """Inverse of :meth:`from_unit` (the centre of the value's cell for categorical ones)."""
        if self.kind == "cat":
            v = canonical_value(value)
            i = next(k for k, c in enumerate(self.choices) if c == v and isinstance(c, bool) == isinstance(v, bool))
            return (i + 0.5) / len(self.choices)
        if self.high == self.low:
            return 0.5
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (float(value) - self.low) / (self.high - self.low)


class Variable(ABC):
    """A named decision with its own sampling, variation, repair and encoding."""

    kind: ClassVar[str] = "variable"

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"variable name {name!r} is not allowed: use letters, digits, '_', '.', '-'"
            )
        self.name = name

    # -- values -----------------------------------------------------------------------------
    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """A uniformly random valid value."""

    @abstractmethod
    def validate(self, value: Any) -> Any:
        """Return the canonical form of ``value`` or raise :class:`ConfigError` naming the key."""

    def repair(self, value: Any, rng: np.random.Generator | None = None) -> Any:
        """Project ``value`` onto the domain (clip, round, fix cardinality...). Default: validate."""
        return self.validate(value)

    @abstractmethod
    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        """A nearby value (usually different from ``value``)."""

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> tuple[Any, Any]:
        """Two children of parents ``a`` and ``b``; default: swap the whole values."""
        return b, a

    def neighbors(self, value: Any) -> list[Any]:
        """Values one small step away (used by budget repair and local search)."""
        return []

    def key(self, value: Any) -> Any:
        """Canonical JSON-able form used for deduplication keys."""
        return canonical_value(value)

    # -- numeric views ----------------------------------------------------------------------
    @property
    @abstractmethod
    def width(self) -> int:
        """Length of :meth:`encode`'s output."""

    @abstractmethod
    def encode(self, value: Any) -> np.ndarray:
        """A float vector of length :attr:`width` (one-hot, normalised numbers...)."""

    def encoding_groups(self) -> list[int]:
        """Widths of the consecutive blocks of :meth:`encode` that are separate decisions (one
        per position of a sequence, per entry of a vector); they sum to :attr:`width`. A
        predictor with per-input relevances (the GP's ``ard``) gives each block its own.
        Default: one block."""
        return [self.width]

    @abstractmethod
    def flat_params(self) -> list[FlatParam]:
        """The scalars of the flat view, names prefixed with this variable's name."""

    def encode_unit(self, U: np.ndarray) -> np.ndarray | None:
        """:meth:`encode` of the values that the rows of ``U`` (points of the unit cube of
        :meth:`flat_params`, one column per flat parameter) stand for, i.e. of
        ``from_flat([p.from_unit(u) for p, u in zip(flat_params, row)])``, for all rows at once;
        None where this variable has no vectorised form (callers then go through values)."""
        return None

    def from_unit_many(self, U: np.ndarray) -> list[Any]:
        """The values that the rows of ``U`` (points of the unit cube of :meth:`flat_params`)
        stand for: ``from_flat([p.from_unit(u) for p, u in zip(flat_params, row)])`` for each
        row. Subclasses with a vectorised form override it."""
        params = self.flat_params()
        return [self.from_flat([p.from_unit(float(u)) for p, u in zip(params, row)])
                for row in np.asarray(U, dtype=float).reshape(-1, len(params))]

    def spread_unit(self, U: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Points of the unit cube that stand for the same values as the rows of ``U`` but whose
        ``ranked`` scalars are drawn apart (members high, the others low, in a random order), so
        that moving one of them changes the value. Default: ``U`` (no ranked scalars)."""
        return U

    @abstractmethod
    def to_flat(self, value: Any) -> list[Any]:
        """The flat scalars of ``value`` (same order as :meth:`flat_params`)."""

    @abstractmethod
    def from_flat(self, flat: Sequence[Any]) -> Any:
        """A valid value from flat scalars (repairs what the flat view cannot express)."""

    # -- enumeration ------------------------------------------------------------------------
    @property
    def cardinality(self) -> int | None:
        """Number of distinct values, or ``None`` when continuous."""
        return None

    def enumerate(self) -> Iterator[Any]:
        """Every value, for discrete variables."""
        raise ConfigError(f"variable '{self.name}' ({self.kind}) is continuous and cannot be enumerated")

    # -- description ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """A JSON-able description (shown in exports and the store)."""
        return {"name": self.name, "kind": self.kind}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "kind")
        return f"{type(self).__name__}({fields})"

    def _error(self, what: str) -> ConfigError:
        return ConfigError(f"variable '{self.name}': {what}")
