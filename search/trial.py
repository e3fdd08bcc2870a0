"""Trials (one stored evaluation) and observations (what optimizers are told)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Observation", "Suggestion", "Trial", "TrialState"]

Config = dict[str, Any]


class TrialState(str, enum.Enum):
    """Life cycle of a trial. ``INTERRUPTED`` marks one that was running when its study died."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass
class Suggestion:
    """A configuration to evaluate, at a fidelity (``None``: the study's default fidelity)."""

    config: Config
    fidelity: float | None = None


@dataclass
class Trial:
    """One evaluation as the study store keeps it."""

    number: int
    key: str
    config: Config
    fidelity: float
    state: TrialState = TrialState.RUNNING
    metrics: dict[str, float] = field(default_factory=dict)
    constraints: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    batch: int = 0
    worker: str | None = None
    seed: int | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.constraints.values())


@dataclass
class Observation:
    """What an optimizer learns from one proposal: objective values in minimisation form
    (``None`` when the evaluation failed), the total constraint violation (0 = feasible) and each
    constraint's value (``<= 0`` is feasible; a study's metric bounds and the space's constraints)."""

    config: Config
    key: str
    fidelity: float
    values: np.ndarray | None
    violation: float = 0.0
    trial_number: int | None = None
    constraints: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.values is not None
