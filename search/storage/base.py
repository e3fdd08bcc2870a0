"""The study store protocol. Every implementation passes ``tests/test_storage_contract.py``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..trial import Trial, TrialState

__all__ = ["Storage", "StudyRecord", "StudyExistsError"]


class StudyExistsError(RuntimeError):
    """A study of that name already holds trials and the caller did not ask to resume."""


@dataclass
class StudyRecord:
    id: int
    name: str
    spec: dict[str, Any]
    created_at: float


class Storage(ABC):
    """Durable home of studies and their trials.

    Writes are committed before the call returns: a completed trial survives a ``kill -9``."""

    @abstractmethod
    def create_study(self, name: str, spec: dict[str, Any]) -> StudyRecord:
        """Create a study; raises :class:`StudyExistsError` if the name is taken."""

    @abstractmethod
    def replace_spec(self, study_id: int, spec: dict[str, Any]) -> None:
        """Store ``spec`` as the description of a study that holds no trial yet (a run that
        stopped before its first evaluation, started again with corrected settings)."""

    @abstractmethod
    def get_study(self, name: str) -> StudyRecord | None:
        """The study of that name, or ``None``."""

    @abstractmethod
    def list_studies(self) -> list[StudyRecord]:
        """All studies in the store."""

    @abstractmethod
    def add_trials(self, study_id: int, trials: Sequence[Trial]) -> None:
        """Insert new (running) trials; sets their ``id``."""

    @abstractmethod
    def finish_trials(self, trials: Sequence[Trial]) -> None:
        """Store the final state, metrics, constraints, error, worker and timings of trials."""

    @abstractmethod
    def get_trials(self, study_id: int, states: Sequence[TrialState] | None = None) -> list[Trial]:
        """Trials of a study in trial-number order, optionally only those in ``states``."""

    @abstractmethod
    def mark_interrupted(self, study_id: int) -> int:
        """Mark running trials of a dead study as interrupted; returns how many."""

    def close(self) -> None:
        """Release connections."""
