"""Backends: one result per configuration at the right index, per-configuration fallback when a
whole batch fails, and a study that evaluates through a pool of worker processes or Ray actors."""

from __future__ import annotations

import os
import time
from collections import Counter

import numpy as np
import pytest
from _helpers import (
    DyingEvaluator,
    EchoEvaluator,
    EnvEvaluator,
    MixedEvaluator,
    WrongCountEvaluator,
    local_ray_backend,
    mixed_metrics,
    mixed_space,
)

from paretoforge.evaluators.base import EvalResult, Evaluator
from paretoforge.search import Study, TrialState
from paretoforge.search.backends import (
    Backend,
    InProcessBackend,
    ProcessPoolBackend,
    RayBackend,
    evaluate_safely,
    get_backend,
)


@pytest.fixture(scope="module")
def pool():
    backend = ProcessPoolBackend(workers=2)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def ray_backend():
    """Two actors on a local Ray cluster of two CPUs (skipped where Ray is not installed)."""
    ray = pytest.importorskip("ray")
    backend = local_ray_backend(workers=2)
    yield backend
    backend.close()
    assert not ray.is_initialized()  # the backend started the cluster, so it shut it down


@pytest.fixture(params=["inprocess", "pool", "ray"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "inprocess":
        return InProcessBackend()
    return request.getfixturevalue("pool" if request.param == "pool" else "ray_backend")


def configs(xs) -> list[dict]:
    return [{"x": float(x), "tag": f"c{i}"} for i, x in enumerate(xs)]


def collect(backend: Backend, evaluator: Evaluator, cfgs: list[dict], fidelity: float = 1.0) -> dict[int, EvalResult]:
    pairs = list(backend.run(evaluator, cfgs, fidelity))
    idx = [i for i, _ in pairs]
    assert sorted(idx) == list(range(len(cfgs))), f"indices {idx} for {len(cfgs)} configurations"
    return dict(pairs)


def test_one_result_per_config_at_its_index(backend: Backend) -> None:
    cfgs = configs([3, 1, 4, 1.5, 9, 2.6, 5])
    results = collect(backend, EchoEvaluator(), cfgs, fidelity=0.25)
    for i, c in enumerate(cfgs):
        r = results[i]
        assert r.ok and r.metrics == {"x": c["x"], "fid": 0.25}
        assert r.duration is not None and r.duration >= 0
        assert r.worker
    workers = {r.worker for r in results.values()}
    if isinstance(backend, InProcessBackend):
        assert workers == {f"inprocess:{os.getpid()}"}
        assert {r.info["pid"] for r in results.values()} == {os.getpid()}
    else:
        prefix = "pool:" if isinstance(backend, ProcessPoolBackend) else "ray:"
        assert all(w.startswith(prefix) for w in workers)
        assert os.getpid() not in {r.info["pid"] for r in results.values()}
        assert {w.split(":")[-1] for w in workers} == {str(r.info["pid"]) for r in results.values()}
    assert list(backend.run(EchoEvaluator(), [], 1.0)) == []


def test_a_failing_batch_falls_back_to_one_config_at_a_time(backend: Backend) -> None:
    cfgs = configs([1, -2, 3, 4, -5, 6])
    results = collect(backend, EchoEvaluator(), cfgs)
    for i, c in enumerate(cfgs):
        r = results[i]
        if c["x"] < 0:
            assert not r.ok and r.metrics is None
            assert "ValueError" in r.error and f"negative x {c['x']} poisons the batch" in r.error
        else:
            assert r.ok and r.metrics["x"] == c["x"] and r.error is None
        assert r.worker and r.duration is not None


def test_a_wrong_number_of_results_is_retried_per_config(backend: Backend) -> None:
    cfgs = configs(range(6))
    results = collect(backend, WrongCountEvaluator(), cfgs)
    assert all(results[i].ok and results[i].metrics["x"] == cfgs[i]["x"] for i in range(6))


def test_evaluate_safely_reports_broken_evaluators() -> None:
    class Empty(Evaluator):
        def evaluate(self, configs, fidelity=1.0):
            return []

    class NotResults(Evaluator):
        def evaluate(self, configs, fidelity=1.0):
            return [{"x": 1.0} for _ in configs]

    (r,) = evaluate_safely(Empty(), [{"x": 1.0}], 1.0, worker="w")
    assert not r.ok and "returned 0 results for 1" in r.error and r.worker == "w"
    rs = evaluate_safely(Empty(), configs([1, 2]), 1.0)
    assert len(rs) == 2 and all(not r.ok and "returned 0 results" in r.error for r in rs)
    with pytest.raises(TypeError, match="EvalResult"):
        evaluate_safely(NotResults(), configs([1]), 1.0)


def test_a_dead_worker_fails_its_configurations() -> None:
    backend = ProcessPoolBackend(workers=2)
    try:
        cfgs = configs([1, 13, 2, 3])
        dying = DyingEvaluator(13.0)
        results = collect(backend, dying, cfgs)
        assert not results[1].ok and "died while evaluating this configuration alone" in results[1].error
        # the others were in flight on the broken pool too: they ran again, one at a time, and succeeded
        # (they failed for good, and were never evaluated again, before)
        assert all(results[i].ok for i in (0, 2, 3))
        # the backend recovers: the next batch runs on a fresh pool
        again = collect(backend, dying, configs([4, 5, 6]))
        assert all(r.ok for r in again.values())
    finally:
        backend.close()


def test_pool_workers_see_their_device() -> None:
    backend = ProcessPoolBackend(workers=1, devices=[5])
    try:
        results = collect(backend, EnvEvaluator(), configs([1, 2]))
        assert {r.info["cuda"] for r in results.values()} == {"5"}
        assert all(r.worker.endswith(":gpu5") for r in results.values())
    finally:
        backend.close()
    with pytest.raises(ValueError, match="devices"):
        ProcessPoolBackend(workers=3, devices=[0, 1])


def test_get_backend() -> None:
    assert isinstance(get_backend(None), InProcessBackend)
    assert isinstance(get_backend("inprocess"), InProcessBackend)
    assert isinstance(get_backend({"name": "inprocess"}), InProcessBackend)
    b = InProcessBackend()
    assert get_backend(b) is b and b.workers == 1
    with pytest.raises(ValueError, match=r"allowed: \['inprocess', 'pool', 'ray'\]"):
        get_backend("ray-cluster")


def test_study_with_a_process_pool(tmp_path) -> None:
    n = 14
    study = Study("pooled", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="nsga2",
                  optimizer_settings={"population_size": 6}, storage=str(tmp_path / "pool.db"),
                  backend={"name": "pool", "workers": 2}, seed=4)
    try:
        assert isinstance(study.backend, ProcessPoolBackend) and study.batch_size == 2
        study.optimize(n)
        done = [t for t in study.trials if t.state == TrialState.COMPLETE]
        assert len(done) == n == len(study.trials)
        assert max(Counter(t.key for t in study.trials).values()) == 1
        for t in done:
            assert t.metrics["size"] == mixed_metrics(t.config)["size"]
            assert t.metrics["err"] == pytest.approx(mixed_metrics(t.config)["err"])
            assert t.worker.startswith("pool:") and t.info["pid"] != os.getpid()
        assert study.pareto_trials()
    finally:
        study.close()

    # the backend does not change what is evaluated: the same study in-process with the same
    # batch size proposes the same trials in the same order
    serial = Study("serial", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="nsga2",
                   optimizer_settings={"population_size": 6}, seed=4, batch_size=2).optimize(n)
    assert [t.key for t in serial.trials] == [t.key for t in done]
    assert [t.batch for t in serial.trials] == [t.batch for t in done]


def test_pool_chunks_spread_over_workers() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        ProcessPoolBackend(workers=2, chunk_size=0)
    backend = ProcessPoolBackend(workers=2, chunk_size=1)
    try:
        cfgs = configs(range(7))
        results = collect(backend, EnvEvaluator(), cfgs)
        assert [results[i].metrics["x"] for i in range(7)] == [float(i) for i in range(7)]
    finally:
        backend.close()


def test_a_pool_refuses_an_evaluator_it_cannot_send_before_anything_runs(tmp_path) -> None:
    from paretoforge.evaluators import FunctionEvaluator
    from paretoforge.spaces import Real, Space

    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(ValueError, match="must be picklable .* not a lambda"):
        Study("s", Space([Real("x", 0, 1)]), FunctionEvaluator(lambda c: {"e": c["x"]}), ["e"], storage=url,
              backend={"name": "pool", "workers": 2})


def test_ray_a_dead_actor_fails_only_its_configurations_and_is_replaced(ray_backend) -> None:
    dying = DyingEvaluator(13.0)
    results = collect(ray_backend, dying, configs([1, 13, 2, 3]))
    assert not results[1].ok and "worker failed" in results[1].error and "ActorDied" in results[1].error
    for i in (0, 2, 3):  # the other actor's chunk is unaffected; the dead one's chunk fails with it
        assert results[i].ok or "worker failed" in results[i].error
    again = collect(ray_backend, dying, configs([4, 5, 6, 7]))  # a fresh actor took the dead one's place
    assert all(r.ok for r in again.values()) and len({r.worker for r in again.values()}) == 2


def test_ray_keeps_evaluations_in_flight(ray_backend) -> None:
    evaluator = EchoEvaluator()
    tickets = ray_backend.submit(evaluator, configs([5, 6, 7]), 0.5)
    tickets += ray_backend.submit(evaluator, configs([8]), 0.5)
    got: dict[int, EvalResult] = {}
    while len(got) < 4:
        done = ray_backend.wait()
        assert done, "wait() returned nothing while evaluations were in flight"
        got.update(done)
    assert sorted(got) == sorted(tickets) and len(set(tickets)) == 4
    assert [got[t].metrics["x"] for t in tickets] == [5.0, 6.0, 7.0, 8.0]
    assert ray_backend.wait() == []


def test_study_on_ray_proposes_what_it_proposes_in_process(ray_backend) -> None:
    n = 10
    study = Study("on-ray", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="nsga2",
                  optimizer_settings={"population_size": 6}, backend=ray_backend, seed=4)
    assert study.batch_size == 2
    study.optimize(n)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == n
    assert all(t.worker.startswith("ray:") and t.info["pid"] != os.getpid() for t in done)
    serial = Study("serial", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="nsga2",
                   optimizer_settings={"population_size": 6}, seed=4, batch_size=2).optimize(n)
    assert [t.key for t in serial.trials] == [t.key for t in done]
    assert [t.metrics for t in serial.trials] == [t.metrics for t in done]


def test_ray_backend_settings_are_checked() -> None:
    for bad in ({"workers": 0}, {"chunk_size": 0}, {"gpus_per_worker": -1}, {"cpus_per_worker": -0.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RayBackend(**bad)  # checked before Ray is imported or started


def test_without_ray_the_ray_backend_says_what_to_install(tmp_path, monkeypatch) -> None:
    import sys

    from paretoforge.search.spec import SpecError, load_spec

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r'pip install "paretoforge\[ray\]"'):
        RayBackend(workers=1)
    path = tmp_path / "study.yaml"
    path.write_text("name: r\nproblem: {name: zdt1, n_var: 3}\nbudget: {evaluations: 2}\nseed: 0\n"
                    "backend: {name: ray, workers: 1}\n")
    with pytest.raises(SpecError, match=r"study.yaml: key 'backend': .*paretoforge\[ray\]"):
        load_spec(str(path)).build(output=str(tmp_path / "out"))


def test_ray_backend_joins_a_running_cluster_and_leaves_it_running(ray_backend) -> None:
    import ray

    other = RayBackend(workers=1, cpus_per_worker=0)  # connected already: it joins that cluster (whose CPUs are taken)
    try:
        assert other.workers == 1
        results = collect(other, EnvEvaluator(), configs([1, 2, 3]))
        assert all(r.ok for r in results.values()) and len({r.worker for r in results.values()}) == 1
    finally:
        other.close()
    assert ray.is_initialized()  # not started by it, so not shut down by it
    assert all(r.ok for r in collect(ray_backend, EchoEvaluator(), configs([1, 2])).values())
    with pytest.raises(ValueError, match=r"3 worker\(s\) with 1 CPU each need 3 CPU in all, but the Ray cluster has 2"):
        RayBackend(workers=3)  # would wait forever for a third CPU
    with pytest.raises(ValueError, match=r"1 GPU each need 1 GPU in all, but the Ray cluster has 0"):
        RayBackend(workers=1, gpus_per_worker=1)


def test_a_yaml_study_runs_on_ray(tmp_path, ray_backend) -> None:
    from paretoforge.search.spec import load_spec

    path = tmp_path / "study.yaml"
    path.write_text("name: r\nproblem: {name: zdt1, n_var: 3}\nbudget: {evaluations: 4}\nseed: 0\n"
                    "backend: {name: ray, workers: 2, cpus_per_worker: 0}\n")  # the fixture's actors hold the CPUs
    study = load_spec(str(path)).build(output=str(tmp_path / "out"))
    try:
        assert isinstance(study.backend, RayBackend) and study.batch_size == 2
        study.optimize(n_evaluations=4)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
        assert all(t.worker.startswith("ray:") for t in study.trials)
    finally:
        study.close()
    assert all(r.ok for r in collect(ray_backend, EchoEvaluator(), configs([1])).values())


def test_ray_a_batch_given_up_midway_does_not_leak_into_the_next(ray_backend) -> None:
    gen = ray_backend.run(EchoEvaluator(), configs([10, 11, 12, 13, 14, 15]), 1.0)
    next(gen)
    gen.close()  # e.g. an interrupt while the rest of the batch is in flight
    results = collect(ray_backend, EchoEvaluator(), configs([1, 2, 3]))
    assert [results[i].metrics["x"] for i in range(3)] == [1.0, 2.0, 3.0]


def test_ray_wait_returns_only_what_submit_gave_out(ray_backend) -> None:
    gen = ray_backend.run(EchoEvaluator(), configs([10, 11, 12, 13, 14, 15]), 1.0)
    next(gen)
    gen.close()  # a batch given up midway: its other chunks are still in flight
    tickets = ray_backend.submit(EchoEvaluator(), configs([7]), 1.0)
    got = []
    while len(got) < 1:
        got.extend(ray_backend.wait())
    assert [t for t, _ in got] == tickets and got[0][1].metrics["x"] == 7.0
    assert ray_backend.wait() == []


def test_an_interrupted_asynchronous_run_does_not_break_the_next_one(ray_backend) -> None:
    study = Study("again", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="random", storage=None,
                  backend=ray_backend, seed=1, batch_size=2)
    # what an interrupted asynchronous call leaves behind: evaluations in flight that nobody waits for
    ray_backend.submit(study.evaluator, [mixed_space().sample(np.random.default_rng(i)) for i in range(3)], 1.0)
    study.optimize(n_evaluations=6, asynchronous=True)
    assert len(study.completed_trials()) == 6


def _module_only_here(folder, name: str) -> None:
    """A module ``name`` in ``folder`` (put on this process's path only) with an evaluator class
    ``OnlyHere``: workers that do not share the path cannot import it."""
    import sys

    (folder / f"{name}.py").write_text(
        "from paretoforge.evaluators import EvalResult, Evaluator\n\n"
        "class OnlyHere(Evaluator):\n"
        "    def evaluate(self, configs, fidelity=1.0):\n"
        "        return [EvalResult({'x': 1.0}) for _ in configs]\n")
    sys.path.insert(0, str(folder))


def test_an_evaluator_the_actors_cannot_import_is_an_error_before_anything_runs(tmp_path, ray_backend) -> None:
    import sys

    _module_only_here(tmp_path, "only_here")
    try:
        import only_here

        other = RayBackend(workers=1, cpus_per_worker=0)
        try:
            built = r"could not build the evaluator OnlyHere: .*only_here.*runtime_env"
            with pytest.raises(ValueError, match=built) as info:
                other.check_evaluator(only_here.OnlyHere())
            assert "\x1b[" not in str(info.value)  # Ray's colours are taken out
        finally:
            other.close()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("only_here", None)


def test_a_study_that_fails_to_start_closes_the_backend_it_built(monkeypatch) -> None:
    import paretoforge.search.study as study_module

    closed = []

    class Spy(InProcessBackend):
        def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr(study_module, "get_backend", lambda spec: Spy())
    with pytest.raises(ValueError, match="nope"):
        Study("s", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="nope", backend={"name": "spy"})
    assert closed == [True]
    given = Spy()
    monkeypatch.setattr(study_module, "get_backend", lambda spec: spec)
    with pytest.raises(ValueError, match="nope"):
        Study("s", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="nope", backend=given)
    assert closed == [True]  # a backend the caller built stays the caller's to close


def test_a_study_that_cannot_resume_starts_no_workers(tmp_path) -> None:
    from paretoforge.search.study import StudyExistsError

    checked = []

    class Spy(InProcessBackend):
        def check_evaluator(self, evaluator) -> None:
            checked.append(evaluator)

    url = f"sqlite:///{tmp_path / 's.db'}"
    Study("s", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="random", storage=url).optimize(2).close()
    with pytest.raises(StudyExistsError):
        Study("s", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="random", storage=url, backend=Spy())
    assert checked == []  # refused from the store alone, before a pool or Ray actors would start


def test_ray_settings_and_init_errors_name_the_setting() -> None:
    import subprocess
    import sys

    for bad, key in (({"workers": "two"}, "workers"), ({"workers": float("inf")}, "workers"),
                     ({"cpus_per_worker": True}, "cpus_per_worker"), ({"gpus_per_worker": "1"}, "gpus_per_worker"),
                     ({"address": 123}, "address"), ({"init": "num_cpus=2"}, "init")):
        with pytest.raises(ValueError, match=f"'{key}'"):
            RayBackend(**bad)
    pytest.importorskip("ray")
    code = ("from paretoforge.search.backends import RayBackend\n"
            "try:\n    RayBackend(init={'bogus_keyword': 1})\nexcept ValueError as e:\n    print('ERROR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "ERROR RayBackend: cannot start or join a Ray cluster" in out and "bogus_keyword" in out


def test_a_cluster_that_asks_for_a_token_gets_a_hint(monkeypatch) -> None:
    """Ray refuses a client without the cluster's token with a ConnectionError caused by an
    AuthenticationError; the backend's error says how to pass the token."""
    from paretoforge.search.backends import ray_cluster

    class AuthenticationError(Exception):  # the name Ray's own class has
        pass

    class FakeRay:
        def is_initialized(self) -> bool:
            return False

        def init(self, **kwargs) -> None:
            try:
                raise AuthenticationError("RPC error: InvalidAuthToken: Authentication token is missing or incorrect")
            except AuthenticationError as exc:
                raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379") from exc

    monkeypatch.setattr(ray_cluster, "_import_ray", FakeRay)
    with pytest.raises(ValueError, match=r"Failed to connect .*the cluster asks for a token: set RAY_AUTH_MODE=token"):
        ray_cluster.RayBackend(address="10.0.0.1:6379")
    monkeypatch.setattr(FakeRay, "init", lambda self, **kwargs: (_ for _ in ()).throw(ConnectionError("no cluster")))
    with pytest.raises(ValueError, match=r"no cluster$"):  # no token hint for other refusals
        ray_cluster.RayBackend(address="10.0.0.1:6379")


def test_a_worker_dying_between_calls_fails_no_other_configuration() -> None:
    """A worker that died while the study was between two calls left a broken pool: the next
    submit raised BrokenProcessPool and the study crashed; every configuration in flight failed."""
    backend = ProcessPoolBackend(workers=2, chunk_size=1)
    dying = DyingEvaluator(13.0)
    try:
        tickets = backend.submit(dying, configs([13, 1]), 1.0)
        got: dict[int, EvalResult] = {}
        while len(got) < 1:
            got.update(backend.wait())
        time.sleep(0.5)  # the pool is broken now, between two calls
        tickets += backend.submit(dying, configs([2, 3]), 1.0)
        while len(got) < len(tickets):
            got.update(backend.wait())
        assert not got[tickets[0]].ok and "died while evaluating this configuration alone" in got[tickets[0]].error
        assert all(got[t].ok for t in tickets[1:])
    finally:
        backend.close()


def test_pool_devices_as_text_and_an_evaluator_its_workers_cannot_build(tmp_path) -> None:
    assert ProcessPoolBackend(devices="0,1").devices == [0, 1]
    with pytest.raises(ValueError, match="'devices' is 'gpu0'"):
        ProcessPoolBackend(devices="gpu0")
    # a class the spawned workers cannot import: an error when the study starts, not a failure per evaluation
    import sys

    _module_only_here(tmp_path, "pool_only_here")
    backend = ProcessPoolBackend(workers=1)
    try:
        import shutil

        import pool_only_here

        evaluator = pool_only_here.OnlyHere()
        (tmp_path / "pool_only_here.py").unlink()  # the workers (fresh processes) cannot import it any more
        shutil.rmtree(tmp_path / "__pycache__", ignore_errors=True)
        with pytest.raises(ValueError, match="could not build the evaluator: .*pool_only_here.*must be importable"):
            backend.check_evaluator(evaluator)
    finally:
        backend.close()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("pool_only_here", None)


def test_pool_workers_end_with_the_study_process(tmp_path) -> None:
    """After kill -9 of the study's process the workers lived on as orphans (holding their GPUs)."""
    import signal
    import subprocess
    import sys

    code = ("import time\n"
            "from paretoforge.search.backends import ProcessPoolBackend\n"
            "from paretoforge.evaluators.base import FunctionEvaluator\n"
            "b = ProcessPoolBackend(workers=2)\n"
            "b.check_evaluator(FunctionEvaluator(abs))\n"
            "print(' '.join(str(p) for p in b._pool._processes), flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert pids  # the workers started so far
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        alive = pids
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [p for p in pids if _alive(p)]
        assert not alive
    finally:
        proc.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_closing_a_pool_now_ends_running_evaluations(tmp_path) -> None:
    """After an interrupt the pool waited for its running evaluations (a second Ctrl-C then hung)."""
    from _helpers import BlockingEvaluator, mixed_space

    marker = tmp_path / "marker"
    ev = BlockingEvaluator(str(tmp_path / "log"), str(marker), str(tmp_path / "never"), block_at=0 + 1)
    backend = ProcessPoolBackend(workers=1, chunk_size=1)
    space = mixed_space()
    rng = np.random.default_rng(0)
    backend.submit(ev, [space.sample(rng) for _ in range(2)], 1.0)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:  # the second evaluation blocks for good
        backend.wait()
        time.sleep(0.05)
    pid = int(marker.read_text())
    t0 = time.monotonic()
    backend.close(now=True)
    assert time.monotonic() - t0 < 10
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_closing_a_study_marks_evaluations_still_in_flight_interrupted(tmp_path) -> None:
    from paretoforge.search.backends.base import Backend

    class Never(Backend):  # evaluations that never come back (an interrupted asynchronous run)
        def run(self, evaluator, configs, fidelity):
            return iter(())

        def submit(self, evaluator, configs, fidelity):
            return []

        def wait(self):
            raise KeyboardInterrupt

    from _helpers import MixedEvaluator, mixed_space

    study = Study("fly", mixed_space(), MixedEvaluator(), ["size", "err"], optimizer="random", seed=0,
                  backend=Never(), storage=f"sqlite:///{tmp_path / 'fly.db'}", batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(n_evaluations=4, asynchronous=True)
    assert {t.state for t in study.storage.get_trials(study.record.id)} == {TrialState.RUNNING}
    study.close()
    from paretoforge.search.storage import get_storage

    store = get_storage(f"sqlite:///{tmp_path / 'fly.db'}")
    assert {t.state for t in store.get_trials(store.get_study("fly").id)} == {TrialState.INTERRUPTED}
