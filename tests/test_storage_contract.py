"""The study store contract: every :class:`Storage` implementation passes these tests.

PostgreSQL runs when ``PARETOFORGE_TEST_POSTGRES_URL`` is set (e.g.
``postgresql+psycopg://user:pass@localhost/db``); study names are made unique per test there, so
the database may be shared and is not cleaned.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from paretoforge.search.storage import (
    InMemoryStorage,
    SQLStorage,
    Storage,
    StudyExistsError,
    get_storage,
    normalize_url,
)
from paretoforge.search.trial import Trial, TrialState

POSTGRES_URL = os.environ.get("PARETOFORGE_TEST_POSTGRES_URL")


@dataclass
class Backend:
    kind: str
    store: Storage
    reopen: Callable[[], Storage] | None  # a second, independent handle on the same data
    prefix: str

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path):
    kind = request.param
    opened: list[Storage] = []
    if kind == "memory":
        store: Storage = InMemoryStorage()
        reopen = None
        prefix = ""
    elif kind == "sqlite":
        path = tmp_path / "store.db"
        store = SQLStorage(str(path))

        def reopen() -> Storage:
            s = SQLStorage(f"sqlite:///{path}")
            opened.append(s)
            return s

        prefix = ""
    else:
        if not POSTGRES_URL:
            pytest.skip("set PARETOFORGE_TEST_POSTGRES_URL to run the store contract on PostgreSQL")
        store = SQLStorage(POSTGRES_URL)

        def reopen() -> Storage:
            s = SQLStorage(POSTGRES_URL)
            opened.append(s)
            return s

        prefix = f"t{uuid.uuid4().hex[:12]}-"
    yield Backend(kind, store, reopen, prefix)
    for s in opened:
        s.close()
    store.close()


def trial(number: int, key: str | None = None, **kwargs) -> Trial:
    return Trial(number=number, key=key or f"key{number:03d}", config={"x": number / 10, "bits": [2, 4, number % 8]},
                 fidelity=kwargs.pop("fidelity", 1.0), batch=kwargs.pop("batch", number // 2), seed=7,
                 created_at=kwargs.pop("created_at", 1000.0 + number), **kwargs)


def finished(t: Trial, state: TrialState = TrialState.COMPLETE, **kwargs) -> Trial:
    t.state = state
    t.metrics = kwargs.get("metrics", {"f1": t.number * 1.5, "f2": -0.25})
    t.constraints = kwargs.get("constraints", {"size<=10": t.number - 10.0})
    t.error = kwargs.get("error")
    t.worker = kwargs.get("worker", "host:123")
    t.started_at = kwargs.get("started_at", 2000.5 + t.number)
    t.finished_at = kwargs.get("finished_at", 2001.75 + t.number)
    t.info = kwargs.get("info", {"path": f"/tmp/{t.number}", "scores": [0.5, 1.0], "nested": {"a": None}})
    return t


FIELDS = ("number", "key", "config", "fidelity", "state", "metrics", "constraints", "error", "batch", "worker",
          "seed", "created_at", "started_at", "finished_at", "info", "id")


def same(a: Trial, b: Trial) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in FIELDS)


# -- studies ----------------------------------------------------------------------------------
def test_create_get_list_studies(backend: Backend) -> None:
    store = backend.store
    spec = {"objectives": [{"name": "f1", "direction": "minimize"}], "seed": 3, "space": {"x": [0, 1]},
            "reference_point": [1.5, None]}
    t0 = time.time()
    a = store.create_study(backend.name("a"), spec)
    b = store.create_study(backend.name("b"), {"seed": 4})
    assert isinstance(a.id, int) and a.id != b.id
    assert a.name == backend.name("a") and a.spec == spec
    assert t0 - 1 <= a.created_at <= time.time() + 1
    spec["seed"] = 99  # the caller's dict is not the stored spec
    got = store.get_study(backend.name("a"))
    assert got is not None and (got.id, got.name, got.spec["seed"]) == (a.id, a.name, 3)
    assert got.spec["reference_point"] == [1.5, None]
    assert store.get_study(backend.name("missing")) is None
    listed = [s for s in store.list_studies() if s.name in (backend.name("a"), backend.name("b"))]
    assert [s.name for s in listed] == [backend.name("a"), backend.name("b")]
    assert [s.id for s in listed] == [a.id, b.id]


def test_duplicate_study_name_raises(backend: Backend) -> None:
    store = backend.store
    rec = store.create_study(backend.name("dup"), {"v": 1})
    with pytest.raises(StudyExistsError, match=backend.name("dup")):
        store.create_study(backend.name("dup"), {"v": 2})
    got = store.get_study(backend.name("dup"))
    assert got is not None and got.id == rec.id and got.spec == {"v": 1}


def test_replace_spec_of_a_study_without_trials(backend: Backend) -> None:
    store = backend.store
    rec = store.create_study(backend.name("respec"), {"v": 1})
    store.replace_spec(rec.id, {"v": 2, "nested": {"a": [1, 2]}})
    got = store.get_study(backend.name("respec"))
    assert got is not None and got.id == rec.id and got.spec == {"v": 2, "nested": {"a": [1, 2]}}
    if backend.reopen is not None:
        other = backend.reopen().get_study(backend.name("respec"))
        assert other is not None and other.spec["v"] == 2
    store.add_trials(rec.id, [Trial(number=0, key="k0", config={"x": 1}, fidelity=1.0, seed=0, batch=0)])
    with pytest.raises(ValueError, match="holds trials"):  # the description trials were made under stays
        store.replace_spec(rec.id, {"v": 3})
    assert store.get_study(backend.name("respec")).spec["v"] == 2


# -- trials -----------------------------------------------------------------------------------
def test_add_trials_assigns_ids(backend: Backend) -> None:
    store = backend.store
    sid = store.create_study(backend.name("ids"), {}).id
    single = [trial(0)]
    store.add_trials(sid, single)
    batch = [trial(1), trial(2), trial(3)]
    store.add_trials(sid, batch)
    store.add_trials(sid, [])  # nothing to do
    ids = [t.id for t in single + batch]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 4
    stored = store.get_trials(sid)
    assert [t.number for t in stored] == [0, 1, 2, 3]
    assert [t.id for t in stored] == ids
    for new, got in zip(single + batch, stored):
        assert same(new, got)
        assert got.state == TrialState.RUNNING and got.metrics == {} and got.error is None


def test_finish_trials_persists_every_field(backend: Backend) -> None:
    store = backend.store
    sid = store.create_study(backend.name("finish"), {}).id
    ts = [trial(i) for i in range(4)]
    store.add_trials(sid, ts)
    done = finished(ts[0])
    failed = finished(ts[1], TrialState.FAILED, metrics={"f1": float("nan")}, constraints={},
                      error="RuntimeError: CUDA out of memory\n  Traceback (most recent call last) \u2013 \u00e9",
                      worker="pool:77:gpu1", info={})
    store.finish_trials([done])
    store.finish_trials([failed])
    store.finish_trials([])
    stored = {t.number: t for t in store.get_trials(sid)}
    assert same(stored[0], done)
    got = stored[1]
    assert got.state == TrialState.FAILED and got.error == failed.error and got.worker == "pool:77:gpu1"
    assert list(got.metrics) == ["f1"] and math.isnan(got.metrics["f1"])
    assert (got.started_at, got.finished_at) == (failed.started_at, failed.finished_at)
    assert got.duration == pytest.approx(1.25)
    # untouched trials are still running, and the fixed fields never change
    assert stored[2].state == stored[3].state == TrialState.RUNNING
    for t in stored.values():
        orig = ts[t.number]
        assert (t.key, t.config, t.fidelity, t.batch, t.seed, t.created_at, t.id) == (
            orig.key, orig.config, orig.fidelity, orig.batch, orig.seed, orig.created_at, orig.id)

    # several at once, and finishing again overwrites
    store.finish_trials([finished(ts[2]), finished(ts[3], metrics={"f1": 1e300, "f2": -0.0})])
    again = finished(ts[0], metrics={"f1": 42.0, "f2": 0.0}, info={"retry": True})
    store.finish_trials([again])
    stored = {t.number: t for t in store.get_trials(sid)}
    assert all(t.state == TrialState.COMPLETE for t in stored.values() if t.number != 1)
    assert stored[3].metrics == {"f1": 1e300, "f2": 0.0}
    assert stored[0].metrics == {"f1": 42.0, "f2": 0.0} and stored[0].info == {"retry": True}


def test_stored_trials_are_copies(backend: Backend) -> None:
    store = backend.store
    sid = store.create_study(backend.name("copies"), {}).id
    t = trial(0)
    store.add_trials(sid, [t])
    t.metrics["leak"] = 1.0  # changing the caller's object does not write to the store
    t.config["x"] = -1
    got = store.get_trials(sid)[0]
    assert got.metrics == {} and got.config["x"] == 0.0
    got.info["changed"] = True
    got.state = TrialState.COMPLETE
    again = store.get_trials(sid)[0]
    assert again.info == {} and again.state == TrialState.RUNNING


def test_get_trials_order_and_state_filter(backend: Backend) -> None:
    store = backend.store
    sid = store.create_study(backend.name("order"), {}).id
    ts = {n: trial(n) for n in (5, 2, 9, 0, 7)}
    store.add_trials(sid, [ts[5], ts[2]])
    store.add_trials(sid, [ts[9]])
    store.add_trials(sid, [ts[0], ts[7]])
    store.finish_trials([finished(ts[2]), finished(ts[9], TrialState.FAILED, error="boom")])
    assert [t.number for t in store.get_trials(sid)] == [0, 2, 5, 7, 9]
    assert [t.number for t in store.get_trials(sid, [TrialState.COMPLETE])] == [2]
    assert [t.number for t in store.get_trials(sid, [TrialState.RUNNING])] == [0, 5, 7]
    assert [t.number for t in store.get_trials(sid, [TrialState.FAILED, TrialState.COMPLETE])] == [2, 9]
    assert store.get_trials(sid, [TrialState.INTERRUPTED]) == []
    assert store.get_trials(sid, []) == []


def test_studies_are_isolated(backend: Backend) -> None:
    store = backend.store
    a = store.create_study(backend.name("iso-a"), {}).id
    b = store.create_study(backend.name("iso-b"), {}).id
    store.add_trials(a, [trial(0, "ka"), trial(1, "ka1")])
    store.add_trials(b, [trial(0, "kb")])  # the same trial number in another study
    assert [t.key for t in store.get_trials(a)] == ["ka", "ka1"]
    assert [t.key for t in store.get_trials(b)] == ["kb"]
    assert store.mark_interrupted(b) == 1
    assert {t.state for t in store.get_trials(a)} == {TrialState.RUNNING}


def test_duplicate_trial_number_is_rejected(backend: Backend) -> None:
    store = backend.store
    sid = store.create_study(backend.name("dupnum"), {}).id
    store.add_trials(sid, [trial(0)])
    with pytest.raises(Exception):  # noqa: B017 - each store raises its own error type
        store.add_trials(sid, [trial(0, "other")])
    # the store stays usable and unchanged
    store.add_trials(sid, [trial(1)])
    assert [(t.number, t.key) for t in store.get_trials(sid)] == [(0, "key000"), (1, "key001")]


def test_mark_interrupted(backend: Backend) -> None:
    store = backend.store
    sid = store.create_study(backend.name("interrupt"), {}).id
    ts = [trial(i) for i in range(5)]
    store.add_trials(sid, ts)
    store.finish_trials([finished(ts[0]), finished(ts[1], TrialState.FAILED, error="bad")])
    assert store.mark_interrupted(sid) == 3
    stored = store.get_trials(sid)
    assert [t.state for t in stored] == [TrialState.COMPLETE, TrialState.FAILED] + [TrialState.INTERRUPTED] * 3
    assert stored[1].error == "bad" and stored[0].error is None
    assert all("interrupted" in t.error for t in stored[2:])
    assert same(stored[0], ts[0])
    assert store.mark_interrupted(sid) == 0
    assert [t.number for t in store.get_trials(sid, [TrialState.INTERRUPTED])] == [2, 3, 4]


# -- durability (SQL stores) ------------------------------------------------------------------
def test_data_is_visible_from_a_second_handle(backend: Backend) -> None:
    if backend.reopen is None:
        pytest.skip("an in-memory store lives in one object")
    store = backend.store
    sid = store.create_study(backend.name("durable"), {"k": [1, 2]}).id
    ts = [trial(i) for i in range(3)]
    store.add_trials(sid, ts)
    store.finish_trials([finished(ts[0])])

    other = backend.reopen()  # while the first handle is still open: every write is committed
    rec = other.get_study(backend.name("durable"))
    assert rec is not None and rec.id == sid and rec.spec == {"k": [1, 2]}
    got = other.get_trials(sid)
    assert len(got) == 3 and same(got[0], ts[0])
    # and the other way round
    other.finish_trials([finished(got[1], TrialState.FAILED, error="from the second handle")])
    other.create_study(backend.name("second"), {})
    assert store.get_trials(sid)[1].error == "from the second handle"
    assert store.get_study(backend.name("second")) is not None
    # after the first handle is closed
    store.close()
    third = backend.reopen()
    assert [t.state for t in third.get_trials(sid)] == [TrialState.COMPLETE, TrialState.FAILED,
                                                        TrialState.RUNNING]
    backend.store = third  # closed by the fixture


def test_sqlite_uses_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = SQLStorage(str(path))
    assert store.url == f"sqlite:///{path.resolve()}"
    assert store._conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
    assert store._conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    store.create_study("s", {})
    raw = sqlite3.connect(path)  # WAL is a property of the file, seen by any client
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert raw.execute("SELECT name FROM pf_studies").fetchall() == [("s",)]
    finally:
        raw.close()
        store.close()


def test_get_storage_and_urls(tmp_path: Path) -> None:
    assert isinstance(get_storage(None), InMemoryStorage)
    assert isinstance(get_storage(":memory:"), InMemoryStorage)
    mem = InMemoryStorage()
    assert get_storage(mem) is mem
    path = tmp_path / "sub" / ".." / "g.db"
    store = get_storage(str(path))
    assert isinstance(store, SQLStorage) and store.url == f"sqlite:///{(tmp_path / 'g.db').resolve()}"
    store.close()
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///rel.db") == "sqlite:///rel.db"
