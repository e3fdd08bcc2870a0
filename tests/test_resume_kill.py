"""``kill -9`` of a process running a study, then ``resume=True``: nothing completed is lost or
evaluated again, the evaluation in flight is marked interrupted and runs again, and the resumed
study ends with exactly the budget and the same trials as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from _helpers import BlockingEvaluator, MixedEvaluator, make_study

from paretoforge.search import SQLStorage, TrialState

TESTS = Path(__file__).resolve().parent
N, K = 16, 9  # budget; evaluations completed before the kill (the (K+1)-th blocks)


def _wait_for(path: Path, proc: subprocess.Popen, errors: Path, deadline_s: float = 120.0) -> None:
    """Poll until ``path`` exists; fail early if the process dies, late if it never gets there."""
    deadline = time.monotonic() + deadline_s
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the study process exited with {proc.returncode}:\n{errors.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the study process never reached the kill point")
        try:
            proc.wait(timeout=0.02)  # the poll interval; returns at once if the process ends
        except subprocess.TimeoutExpired:
            pass


def _snapshot(db: str) -> list:
    store = SQLStorage(db)
    try:
        (record,) = store.list_studies()
        return store.get_trials(record.id)
    finally:
        store.close()


@pytest.mark.slow
def test_kill_9_then_resume(tmp_path: Path) -> None:
    db = str(tmp_path / "study.db")
    marker, errors = tmp_path / "blocked", tmp_path / "stderr.txt"
    killed_log, resumed_log = tmp_path / "killed.log", tmp_path / "resumed.log"
    with open(errors, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(TESTS / "_helpers.py"), "blocking-study", db, str(marker), str(killed_log),
             str(N), str(K)],
            stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path,
        )
        try:
            _wait_for(marker, proc, errors)
            assert marker.read_text() == str(proc.pid)  # blocked inside the evaluator of that process
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=60) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # what the killed process left behind: K completed trials and the one in flight
    before = _snapshot(db)
    assert [t.state for t in before] == [TrialState.COMPLETE] * K + [TrialState.RUNNING]
    in_flight = before[-1]
    assert len(killed_log.read_text().splitlines()) == K + 1

    # resume in this process, with an evaluator that does not block
    study = make_study(db, BlockingEvaluator(str(resumed_log)), resume=True)
    assert [t.state for t in study.trials][-1] == TrialState.INTERRUPTED
    study.optimize(N)
    study.close()
    after = _snapshot(db)

    complete = [t for t in after if t.state == TrialState.COMPLETE]
    assert len(complete) == N
    assert max(Counter((t.key, t.fidelity) for t in complete).values()) == 1
    # the trial that was running is kept as interrupted, and its configuration ran again
    interrupted = [t for t in after if t.state == TrialState.INTERRUPTED]
    assert len(interrupted) == 1 and interrupted[0].number == in_flight.number
    assert interrupted[0].key == in_flight.key and "interrupted" in interrupted[0].error
    again = [t for t in complete if t.key == in_flight.key]
    assert len(again) == 1 and again[0].number > in_flight.number
    assert again[0].config == in_flight.config
    # completed trials from before the kill are untouched
    by_number = {t.number: t for t in after}
    for t in before[:K]:
        kept = by_number[t.number]
        assert (kept.state, kept.key, kept.config, kept.metrics, kept.constraints, kept.id, kept.started_at,
                kept.finished_at, kept.worker) == (t.state, t.key, t.config, t.metrics, t.constraints, t.id,
                                                   t.started_at, t.finished_at, t.worker)
    # only the interrupted evaluation ran twice: K + 1 before the kill, N - K after it
    resumed_lines = resumed_log.read_text().splitlines()
    assert len(resumed_lines) == N - K
    assert Counter(killed_log.read_text().splitlines() + resumed_lines).most_common(1)[0][1] == 2
    assert resumed_lines[0] == killed_log.read_text().splitlines()[-1]

    # and the resumed study is the study that would have run without the kill
    reference = make_study(None, MixedEvaluator()).optimize(N)
    assert [t.key for t in complete] == [t.key for t in reference.trials]
