"""The asynchronous loop: evaluations stay in flight while the optimizer proposes more."""

from __future__ import annotations

from collections import Counter

import pytest
from _helpers import MixedEvaluator, local_ray_backend, mixed_space

from paretoforge.search import Study, TrialState
from paretoforge.search.backends import InProcessBackend, ProcessPoolBackend
from paretoforge.search.results import load_results

OPTIMIZERS = [
    ("random", {}),
    ("nsga2", {"population_size": 6}),
    ("optuna", {"sampler": "TPESampler"}),
    ("pymoo", {"algorithm": "NSGA2", "algorithm_kwargs": {"pop_size": 6}}),
]


def study(storage, backend, name="async", opt=("nsga2", {"population_size": 6}), resume=False, batch=4) -> Study:
    return Study(name, mixed_space(), MixedEvaluator(), ["size", "err"], optimizer=opt[0], optimizer_settings=opt[1],
                 storage=storage, backend=backend, seed=5, batch_size=batch, resume=resume)


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_async_completes_the_budget_without_repeats(opt) -> None:
    s = study(None, InProcessBackend(), opt=opt).optimize(n_evaluations=30, asynchronous=True)
    keys = [t.key for t in s.trials]
    assert len(s.completed_trials()) == 30 and len(keys) == len(set(keys))
    assert all(t.state == TrialState.COMPLETE for t in s.trials)


@pytest.mark.parametrize("kind", ["pool", "ray"])
def test_async_workers_keep_busy_and_resume(tmp_path, kind: str) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    backend = ProcessPoolBackend(workers=2, chunk_size=1) if kind == "pool" else local_ray_backend(2)
    try:
        s = study(url, backend).optimize(n_evaluations=16, asynchronous=True)
        assert len(s.completed_trials()) == 16
        assert all(t.worker.startswith(f"{kind}:") for t in s.trials)
    finally:
        backend.close()
    again = study(url, InProcessBackend(), resume=True).optimize(n_evaluations=24, asynchronous=True)
    assert len(again.completed_trials()) == 24
    res = load_results(url, "async")
    assert max(Counter(t.key for t in res.trials).values()) == 1  # nothing evaluated twice


def test_async_failures_are_stored_and_bounded() -> None:
    class Failing(MixedEvaluator):
        def evaluate(self, configs, fidelity=1.0):
            out = super().evaluate(configs, fidelity)
            for c, r in zip(configs, out):
                if c["depth"] == 3:
                    r.metrics, r.error = None, "depth 3 is broken"
            return out

    s = Study("f", mixed_space(), Failing(), ["size", "err"], optimizer="random", storage=None, seed=1, batch_size=3)
    s.optimize(n_evaluations=20, asynchronous=True)
    failed = [t for t in s.trials if t.state == TrialState.FAILED]
    assert failed and all(t.config["depth"] == 3 and t.error == "depth 3 is broken" for t in failed)
    assert len(s.completed_trials()) == 20


def test_async_says_why_it_stops_once(caplog) -> None:
    from paretoforge.evaluators.base import EvalResult

    class Failing(MixedEvaluator):
        def evaluate(self, configs, fidelity=1.0):
            return [EvalResult.failure("broken") for _ in configs]

    class OneAtATime(InProcessBackend):
        """Hands results back one per wait(), so evaluations stay in flight after the stop."""

        def wait(self):
            ready = getattr(self, "_ready", [])
            self._ready = ready[1:]
            return ready[:1]

    s = Study("f", mixed_space(), Failing(), ["size", "err"], optimizer="random", storage=None, seed=1, batch_size=4,
              backend=OneAtATime())
    with caplog.at_level("WARNING", logger="paretoforge"):
        s.optimize(n_evaluations=20, max_failures=4, asynchronous=True)
    assert caplog.text.count("stopping after") == 1
