"""Variable types of the configuration model."""

from __future__ import annotations

from typing import Any

from .base import ConfigError, FlatParam, Variable, canonical_value
from .categorical import Categorical, Ordinal
from .numeric import Integer, Real
from .sequence import ChoiceSequence
from .subset import Subset
from .vector import RealVector

__all__ = [
    "Categorical",
    "ChoiceSequence",
    "ConfigError",
    "FlatParam",
    "Integer",
    "Ordinal",
    "Real",
    "RealVector",
    "Subset",
    "Variable",
    "VARIABLE_KINDS",
    "canonical_value",
    "variable_from_spec",
]

VARIABLE_KINDS: dict[str, type[Variable]] = {
    cls.kind: cls for cls in (Categorical, Ordinal, Integer, Real, ChoiceSequence, Subset, RealVector)
}


def variable_from_spec(spec: dict[str, Any]) -> Variable:
    """Build a variable from its description, e.g. ``{"name": "x", "kind": "real", "low": 0, "high": 1}``."""
    if not isinstance(spec, dict):
        raise ConfigError(f"a variable must be a mapping with 'name' and 'kind', got {spec!r}")
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in VARIABLE_KINDS:
        raise ConfigError(
            f"variable {spec.get('name')!r}: 'kind' is {kind!r}; allowed: {sorted(VARIABLE_KINDS)}"
        )
    try:
        return VARIABLE_KINDS[kind](**spec)
    except TypeError as exc:
        raise ConfigError(f"variable {spec.get('name')!r} ({kind}): {exc}") from None
