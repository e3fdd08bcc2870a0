"""Read-side view of a study's trials: Pareto front, hypervolume, history.

Used by a running :class:`~paretoforge.search.study.Study` and by the CLI, which opens a store
without building the evaluator or the optimizer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..spaces.variables import ConfigError
from .objectives import Objective
from .pareto import hypervolume, hypervolume_history, infer_reference_point, knee_point, non_dominated
from .storage import Storage, get_storage, normalize_url
from .trial import Trial, TrialState

__all__ = ["MissingStoreError", "StudyResults", "load_results"]


class StudyResults:
    """Objectives plus trials; every method works on completed trials at one fidelity."""

    def __init__(self, name: str, objectives: Sequence[Objective], trials: Sequence[Trial], fidelity: float = 1.0,
                 reference_point: Sequence[float] | None = None, spec: dict[str, Any] | None = None) -> None:
        self.name = name
        self.objectives = list(objectives)
        self.trials = list(trials)
        self.fidelity = float(fidelity)
        self.reference_point = None if reference_point is None else np.asarray(reference_point, dtype=float)
        self.spec = dict(spec or {})

    @property
    def signs(self) -> np.ndarray:
        return np.array([o.sign for o in self.objectives])

    def completed(self, fidelity: float | None = None) -> list[Trial]:
        fid = self.fidelity if fidelity is None else fidelity
        return [t for t in self.trials if t.state == TrialState.COMPLETE and t.fidelity == fid]

    def values(self, trials: Sequence[Trial]) -> np.ndarray:
        """Objective values as measured (not sign-flipped), one row per trial."""
        return np.array([[t.metrics[o.source] for o in self.objectives] for t in trials],
                        dtype=float).reshape(len(trials), len(self.objectives))

    def minimized(self, trials: Sequence[Trial]) -> np.ndarray:
        return self.values(trials) * self.signs

    @staticmethod
    def violation(t: Trial) -> float:
        return float(sum(max(0.0, v) for v in t.constraints.values()))

    def pareto_trials(self, fidelity: float | None = None) -> list[Trial]:
        """Feasible non-dominated completed trials."""
        done = [t for t in self.completed(fidelity) if self.violation(t) <= 0]
        if not done:
            return []
        mask = non_dominated(self.minimized(done))
        return sorted((t for t, m in zip(done, mask) if m), key=lambda t: tuple(self.minimized([t])[0]))

    def knee(self) -> Trial | None:
        front = self.pareto_trials()
        return front[knee_point(self.minimized(front))] if front else None

    def get_reference_point(self, front: Sequence[Trial] | None = None) -> np.ndarray:
        """Reference point in minimisation form (each objective times its sign): the study's
        own, or the front's nadir + 10% of its range."""
        if self.reference_point is not None:
            return self.reference_point * self.signs
        front = self.pareto_trials() if front is None else front
        if not front:
            raise ValueError(f"study '{self.name}' has no feasible completed trial yet")
        return infer_reference_point(self.minimized(front))

    def _ref(self, reference_point: Sequence[float] | None, front: Sequence[Trial] | None = None) -> np.ndarray:
        if reference_point is None:
            return self.get_reference_point(front)
        ref = np.asarray(reference_point, dtype=float)
        if ref.shape != self.signs.shape or not np.all(np.isfinite(ref)):
            raise ConfigError(f"study '{self.name}': a reference point must be {len(self.signs)} finite numbers, one "
                              f"per objective {[o.name for o in self.objectives]}; got {reference_point!r}")
        return ref * self.signs

    def hypervolume(self, reference_point: Sequence[float] | None = None) -> float:
        """Hypervolume of the feasible front. ``reference_point`` is in the objectives' own units
        and directions (like the study's), default: the study's or an inferred one."""
        front = self.pareto_trials()
        if not front:
            return 0.0
        return hypervolume(self.minimized(front), self._ref(reference_point, front))

    def hypervolume_history(self, reference_point: Sequence[float] | None = None) -> np.ndarray:
        """Hypervolume after each completed evaluation, in trial order (reference point as in
        :meth:`hypervolume`)."""
        done = self.completed()
        front = self.pareto_trials()
        if not done or not front:
            return np.zeros(len(done))
        return hypervolume_history(self.minimized(done), self._ref(reference_point, front),
                                   [self.violation(t) for t in done])

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in TrialState}
        for t in self.trials:
            out[t.state.value] += 1
        return out


class MissingStoreError(ConfigError):
    """Reading a study from an SQLite file that does not exist (``path``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no study store at {path}: run the study first, or give the store it was run with")


def _check_sqlite_store(url: str) -> None:
    """A SQLite store to read must exist and hold paretoforge's tables: opening it for writing
    would create them (in an empty file, or in another program's database, such as an Optuna
    storage). Checked read-only; other databases are left to their driver."""
    import sqlite3

    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: its driver says what is wrong
        return
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if not path.is_file():
        raise MissingStoreError(str(path))
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path}: not a SQLite database ({exc}); give the study store paretoforge wrote") from None
    if "pf_studies" not in tables:
        what = "an empty file" if not tables else f"a database of other tables ({sorted(tables)[:4]}...)"
        raise ValueError(f"{path} is not a paretoforge study store: it is {what}; give the store that "
                         f"'paretoforge run' wrote (its output folder's NAME.db)")


def load_results(storage: str | Storage, name: str | None = None) -> StudyResults:
    """Open a stored study for reading (the only study of the store when ``name`` is omitted). A
    missing SQLite file is an error: reading never creates a store."""
    if isinstance(storage, (str, os.PathLike)):
        _check_sqlite_store(normalize_url(os.fspath(storage)))
    store = get_storage(storage)
    if name is None:
        studies = store.list_studies()
        if not studies:
            raise ValueError("the store holds no study: run one first, or give the store it was run with")
        if len(studies) != 1:
            raise ValueError(f"the store holds studies {[s.name for s in studies]}; name one (CLI: --study NAME)")
        record = studies[0]
    else:
        record = store.get_study(name)
        if record is None:
            names = [s.name for s in store.list_studies()]
            raise ValueError(f"no study named '{name}' in the store; it holds {names}")
    objectives = [Objective(o["name"], o["direction"], o.get("metric"), bool(o.get("noisy", False)))
                  for o in record.spec.get("objectives", [])]
    return StudyResults(record.name, objectives, store.get_trials(record.id), record.spec.get("fidelity", 1.0),
                        record.spec.get("reference_point"), record.spec)
