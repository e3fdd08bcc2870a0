"""Objectives (with directions) and metric constraints (feasible when value <= 0)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..spaces.variables import ConfigError

__all__ = ["MetricConstraint", "Objective"]

_DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class Objective:
    """A metric to minimise or maximise. ``metric`` defaults to ``name``. ``noisy``: the metric is
    measured with noise (an accuracy after a training run with its seed, a timed latency), so
    the same configuration may measure differently; acquisitions that model it (the guided
    optimizer's ``observation_noise: auto``) then score the result a candidate will get, not
    only its underlying value."""

    name: str
    direction: str = "minimize"
    metric: str | None = None
    noisy: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"objective name must be a non-empty string, got {self.name!r} (an objective is a name, "
                              "an Objective(name, direction), or a mapping {name: ..., direction: ...})")
        if self.direction not in _DIRECTIONS:
            raise ConfigError(f"objective '{self.name}': 'direction' is {self.direction!r}; allowed: {list(_DIRECTIONS)}")
        if not isinstance(self.noisy, bool):
            raise ConfigError(f"objective '{self.name}': 'noisy' is {self.noisy!r}; allowed: true, false")

    @property
    def source(self) -> str:
        return self.metric or self.name

    @property
    def sign(self) -> float:
        """+1 for minimisation, -1 for maximisation: optimizers always minimise ``sign * value``."""
        return 1.0 if self.direction == "minimize" else -1.0

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "direction": self.direction, "metric": self.source}
        if self.noisy:  # only when set, so that studies stored before the flag describe the same
            out["noisy"] = True
        return out


@dataclass(frozen=True)
class MetricConstraint:
    """``lower <= metric <= upper`` on a measured (or cost) metric; value <= 0 is feasible."""

    name: str
    metric: str
    upper: float | None = None
    lower: float | None = None

    def __post_init__(self) -> None:
        if self.upper is None and self.lower is None:
            raise ConfigError(f"constraint '{self.name}': give 'upper' and/or 'lower'")
        if self.upper is not None and self.lower is not None and self.lower > self.upper:
            raise ConfigError(f"constraint '{self.name}': 'lower' {self.lower} is above 'upper' {self.upper}; "
                              "no value can meet it")

    def value(self, metrics: Mapping[str, float]) -> float:
        if self.metric not in metrics:
            raise KeyError(f"constraint '{self.name}' needs metric '{self.metric}', which the result lacks")
        v = float(metrics[self.metric])
        parts = []
        if self.upper is not None:
            parts.append(v - self.upper)
        if self.lower is not None:
            parts.append(self.lower - v)
        return max(parts)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "metric": self.metric, "upper": self.upper, "lower": self.lower}
