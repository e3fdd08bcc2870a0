"""In-memory study store, for tests and throw-away studies (nothing survives the process)."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

from ..trial import Trial, TrialState
from .base import Storage, StudyExistsError, StudyRecord

__all__ = ["InMemoryStorage"]


class InMemoryStorage(Storage):
    """Keeps copies of trials in dictionaries."""

    def __init__(self) -> None:
        self._studies: dict[str, StudyRecord] = {}
        self._trials: dict[int, dict[int, Trial]] = {}
        self._by_id: dict[int, Trial] = {}
        self._next_trial_id = 1

    def create_study(self, name: str, spec: dict[str, Any]) -> StudyRecord:
        if name in self._studies:
            raise StudyExistsError(f"study '{name}' already exists in memory")
        rec = StudyRecord(len(self._studies) + 1, name, copy.deepcopy(spec), time.time())
        self._studies[name] = rec
        self._trials[rec.id] = {}
        return rec

    def replace_spec(self, study_id: int, spec: dict[str, Any]) -> None:
        if self._trials.get(study_id):
            raise ValueError(f"study {study_id} holds trials: its description is what they were made under")
        for rec in self._studies.values():
            if rec.id == study_id:
                rec.spec = copy.deepcopy(spec)
                return
        raise KeyError(f"no study with id {study_id}")

    def get_study(self, name: str) -> StudyRecord | None:
        return self._studies.get(name)

    def list_studies(self) -> list[StudyRecord]:
        return list(self._studies.values())

    def add_trials(self, study_id: int, trials: Sequence[Trial]) -> None:
        store = self._trials[study_id]
        for t in trials:
            if t.number in store:
                raise ValueError(f"trial number {t.number} already exists in study {study_id}")
            t.id = self._next_trial_id
            self._next_trial_id += 1
            store[t.number] = self._by_id[t.id] = copy.deepcopy(t)

    def finish_trials(self, trials: Sequence[Trial]) -> None:
        for t in trials:
            stored = self._by_id.get(t.id)  # type: ignore[arg-type]
            if stored is None:
                raise KeyError(f"trial id {t.id} is not stored")
            for f in ("state", "metrics", "constraints", "error", "worker", "started_at", "finished_at", "info"):
                setattr(stored, f, copy.deepcopy(getattr(t, f)))

    def get_trials(self, study_id: int, states: Sequence[TrialState] | None = None) -> list[Trial]:
        out = [copy.deepcopy(t) for _, t in sorted(self._trials[study_id].items())]
        return out if states is None else [t for t in out if t.state in states]

    def mark_interrupted(self, study_id: int) -> int:
        n = 0
        for t in self._trials[study_id].values():
            if t.state == TrialState.RUNNING:
                t.state, t.error = TrialState.INTERRUPTED, "interrupted: the study stopped while it ran"
                n += 1
        return n
