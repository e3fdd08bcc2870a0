"""Relational study store (SQLAlchemy Core): an SQLite file by default, PostgreSQL by URL.

SQLite runs in WAL mode with ``synchronous=NORMAL``: each commit is durable against a crash or
``kill -9`` of the process (only an OS crash can lose the last commits), and readers such as
``paretoforge show`` never block the running study.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..trial import Trial, TrialState
from .base import Storage, StudyExistsError, StudyRecord

__all__ = ["SQLStorage", "normalize_url"]

_meta = sa.MetaData()
studies_table = sa.Table(
    "pf_studies",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
trials_table = sa.Table(
    "pf_trials",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("pf_studies.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("fidelity", sa.Float, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("metrics", sa.Text, nullable=True),
    sa.Column("constraints", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Column("seed", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("info", sa.Text, nullable=True),
    sa.UniqueConstraint("study_id", "number", name="uq_pf_trial_number"),
    sa.Index("ix_pf_trials_key", "study_id", "key", "fidelity"),
)


def normalize_url(url: str) -> str:
    """Accept a bare file path as an SQLite store. A URL that lost its slashes (``sqlite:x.db``,
    ``postgresql:host/db``) or a misspelt ``:memory:`` is an error, not a file of that name."""
    if "://" in url:
        return url
    scheme, sep, rest = url.partition(":")
    dialects = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
    if url.startswith(":memory") or (sep and scheme.partition("+")[0].lower() in dialects):
        hint = ("sqlite:///:memory:" if url.startswith(":memory") else f"{scheme}:///{rest.lstrip('/')}"
                if scheme.startswith("sqlite") else f"{scheme}://{rest.lstrip('/')}")
        raise ValueError(f"storage {url!r} is neither a URL (scheme://...) nor a file path; did you mean {hint!r}?")
    return f"sqlite:///{Path(url).expanduser().resolve()}"


def _dumps(x: Any) -> str | None:
    return None if x is None else json.dumps(x, separators=(",", ":"), allow_nan=True)


class SQLStorage(Storage):
    """A study store in any SQLAlchemy database; ``url`` may also be a plain file path."""

    def __init__(self, url: str = "sqlite:///paretoforge.db") -> None:
        self.url = normalize_url(url)
        self._sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self._sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        self.engine = sa.create_engine(self.url, **kwargs)
        if self._sqlite:
            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()
        for attempt in range(3):  # processes opening a new store at once race to create its tables
            try:
                _meta.create_all(self.engine)
                break
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                if attempt == 2:
                    raise
        # one long-lived connection: a commit per call, no pool churn on the hot path
        self._conn = self.engine.connect()
        self._update = (
            trials_table.update()
            .where(trials_table.c.id == sa.bindparam("_id"))
            .values(
                state=sa.bindparam("state"), metrics=sa.bindparam("metrics"),
                constraints=sa.bindparam("constraints"), error=sa.bindparam("error"),
                worker=sa.bindparam("worker"), started_at=sa.bindparam("started_at"),
                finished_at=sa.bindparam("finished_at"), info=sa.bindparam("info"),
            )
        )

    # -- studies ----------------------------------------------------------------------------
    def create_study(self, name: str, spec: dict[str, Any]) -> StudyRecord:
        if self.get_study(name) is not None:
            raise StudyExistsError(f"study '{name}' already exists in {self.url}")
        now = time.time()
        try:
            with self._conn.begin():
                res = self._conn.execute(studies_table.insert().values(name=name, spec=_dumps(spec), created_at=now))
        except sa.exc.IntegrityError:  # created by another process meanwhile
            raise StudyExistsError(f"study '{name}' already exists in {self.url}") from None
        return StudyRecord(int(res.inserted_primary_key[0]), name, spec, now)

    def replace_spec(self, study_id: int, spec: dict[str, Any]) -> None:
        with self._conn.begin():
            n = self._conn.execute(sa.select(sa.func.count()).select_from(trials_table)
                                   .where(trials_table.c.study_id == study_id)).scalar_one()
            if n:
                raise ValueError(f"study {study_id} holds trials: its description is what they were made under")
            res = self._conn.execute(studies_table.update().where(studies_table.c.id == study_id)
                                     .values(spec=_dumps(spec)))
            if res.rowcount != 1:
                raise KeyError(f"no study with id {study_id}")

    def _record(self, row: Any) -> StudyRecord:
        return StudyRecord(int(row.id), row.name, json.loads(row.spec), float(row.created_at))

    def get_study(self, name: str) -> StudyRecord | None:
        row = self._conn.execute(sa.select(studies_table).where(studies_table.c.name == name)).first()
        self._conn.commit()
        return None if row is None else self._record(row)

    def list_studies(self) -> list[StudyRecord]:
        rows = self._conn.execute(sa.select(studies_table).order_by(studies_table.c.id)).all()
        self._conn.commit()
        return [self._record(r) for r in rows]

    # -- trials -----------------------------------------------------------------------------
    def add_trials(self, study_id: int, trials: Sequence[Trial]) -> None:
        if not trials:
            return
        rows = [
            {
                "study_id": study_id, "number": t.number, "key": t.key, "config": _dumps(t.config),
                "fidelity": float(t.fidelity), "state": t.state.value, "metrics": _dumps(t.metrics),
                "constraints": _dumps(t.constraints), "error": t.error, "batch": t.batch, "worker": t.worker,
                "seed": t.seed, "created_at": t.created_at, "started_at": t.started_at,
                "finished_at": t.finished_at, "info": _dumps(t.info),
            }
            for t in trials
        ]
        try:
            with self._conn.begin():
                if len(rows) == 1:
                    res = self._conn.execute(trials_table.insert(), rows[0])
                    trials[0].id = int(res.inserted_primary_key[0])
                    return
                self._conn.execute(trials_table.insert(), rows)
                numbers = [t.number for t in trials]
                found = self._conn.execute(
                    sa.select(trials_table.c.number, trials_table.c.id).where(
                        trials_table.c.study_id == study_id, trials_table.c.number.in_(numbers)
                    )
                ).all()
        except sa.exc.IntegrityError:
            raise StudyExistsError(
                f"trial numbers {[t.number for t in trials]} of study {study_id} are already in {self.url}: another "
                "process is writing the same study. A study has one writer: give each run its own study name "
                "(several studies may share a store)") from None
        ids = {int(n): int(i) for n, i in found}
        for t in trials:
            t.id = ids[t.number]

    def finish_trials(self, trials: Sequence[Trial]) -> None:
        if not trials:
            return
        rows = [
            {
                "_id": t.id, "state": t.state.value, "metrics": _dumps(t.metrics),
                "constraints": _dumps(t.constraints), "error": t.error, "worker": t.worker,
                "started_at": t.started_at, "finished_at": t.finished_at, "info": _dumps(t.info),
            }
            for t in trials
        ]
        with self._conn.begin():
            self._conn.execute(self._update, rows)

    def get_trials(self, study_id: int, states: Sequence[TrialState] | None = None) -> list[Trial]:
        q = sa.select(trials_table).where(trials_table.c.study_id == study_id)
        if states is not None:
            q = q.where(trials_table.c.state.in_([s.value for s in states]))
        rows = self._conn.execute(q.order_by(trials_table.c.number)).all()
        self._conn.commit()
        return [
            Trial(
                number=int(r.number), key=r.key, config=json.loads(r.config), fidelity=float(r.fidelity),
                state=TrialState(r.state), metrics=json.loads(r.metrics) if r.metrics else {},
                constraints=json.loads(r.constraints) if r.constraints else {}, error=r.error,
                batch=int(r.batch), worker=r.worker, seed=r.seed, created_at=float(r.created_at),
                started_at=r.started_at, finished_at=r.finished_at,
                info=json.loads(r.info) if r.info else {}, id=int(r.id),
            )
            for r in rows
        ]

    def mark_interrupted(self, study_id: int) -> int:
        with self._conn.begin():
            res = self._conn.execute(
                trials_table.update()
                .where(trials_table.c.study_id == study_id, trials_table.c.state == TrialState.RUNNING.value)
                .values(state=TrialState.INTERRUPTED.value, error="interrupted: the study stopped while it ran")
            )
        return int(res.rowcount or 0)

    def close(self) -> None:
        self._conn.close()
        self.engine.dispose()
