"""Contract tests that every optimizer, driven by a :class:`Study`, must pass: exact budgets,
valid proposals, seeded reproducibility, no repeated evaluations, failed evaluations kept apart
from results, exact resume from an SQLite store, and feasible Pareto fronts under constraints."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _helpers import mixed_metrics, mixed_space

from paretoforge.evaluators.base import FunctionEvaluator
from paretoforge.search import (
    OPTIMIZERS,
    MetricConstraint,
    Objective,
    Observation,
    Optimizer,
    SQLStorage,
    Study,
    StudyExistsError,
    TrialState,
    UnknownNameError,
    create_optimizer,
    non_dominated,
)
from paretoforge.spaces import ConfigError

SPECS = [
    pytest.param("random", {}, id="random"),
    pytest.param("nsga2", {"population_size": 8}, id="nsga2"),
    pytest.param("optuna", {"sampler": "TPESampler"}, id="optuna-tpe"),
    pytest.param("optuna", {"sampler": "NSGAIISampler", "sampler_kwargs": {"population_size": 8}},
                 id="optuna-nsga2"),
    pytest.param("optuna", {"sampler": "RandomSampler"}, id="optuna-random"),
    pytest.param("pymoo", {"algorithm": "NSGA2", "algorithm_kwargs": {"pop_size": 8}}, id="pymoo-nsga2"),
    pytest.param("pymoo", {"algorithm": "NSGA3", "algorithm_kwargs": {"ref_dirs": [[1, 0], [0.5, 0.5], [0, 1]],
                                                                      "pop_size": 8}}, id="pymoo-nsga3"),
    pytest.param("pymoo", {"algorithm": "MOEAD", "algorithm_kwargs": {"ref_dirs": {"n_partitions": 7},
                                                                      "n_neighbors": 3}}, id="pymoo-moead"),
    pytest.param("guided", {"n_initial": 6, "evolve_size": 150}, id="guided"),
]

OBJECTIVES = [Objective("size"), Objective("err")]


class Counting:
    """``mixed_metrics`` with a log of every configuration it evaluated."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def __call__(self, c: dict) -> dict[str, float]:
        self.seen.append(c)
        return mixed_metrics(c)


class Flaky(Counting):
    """Raises for deep ``silu`` networks and returns a NaN error for shallow ``relu`` ones."""

    @staticmethod
    def raises(c: dict) -> bool:
        return c["act"] == "silu" and c["depth"] >= 5

    @staticmethod
    def nan(c: dict) -> bool:
        return c["act"] == "relu" and c["depth"] <= 4

    def __call__(self, c: dict) -> dict[str, float]:
        self.seen.append(c)
        if self.raises(c):
            raise RuntimeError(f"boom: silu with depth {c['depth']}")
        m = mixed_metrics(c)
        if self.nan(c):
            m["err"] = float("nan")
        return m


class Spy:
    """An optimizer built by name whose ``ask`` and ``tell`` are recorded."""

    def __init__(self, name: str, settings: dict, seed: int = 0, constraint_names: Sequence[str] = ()) -> None:
        self.opt: Optimizer = create_optimizer(name, mixed_space(), OBJECTIVES, seed=seed,
                                               constraint_names=constraint_names, **settings)
        self.asked: list[Any] = []
        self.told: list[Observation] = []
        ask, tell = self.opt.ask, self.opt.tell

        def spy_ask(n: int) -> list:
            out = ask(n)
            self.asked.extend(out)
            return out

        def spy_tell(observations: Sequence[Observation]) -> None:
            self.told.extend(observations)
            tell(observations)

        self.opt.ask, self.opt.tell = spy_ask, spy_tell  # type: ignore[method-assign]


def make_study(name: str, settings: dict, *, storage: Any = None, seed: int = 0, fn: Any = None,
               resume: bool = False, constraints: Sequence[MetricConstraint] = (),
               optimizer: Optimizer | None = None, study_name: str = "contract") -> Study:
    return Study(study_name, mixed_space(), FunctionEvaluator(fn or Counting()), OBJECTIVES,
                 optimizer=optimizer or name, optimizer_settings=None if optimizer else settings,
                 constraints=constraints, storage=storage, seed=seed, resume=resume)


def keys_of(study: Study) -> list[str]:
    return [t.key for t in study.trials]


def completed(study: Study) -> list:
    return [t for t in study.trials if t.state == TrialState.COMPLETE]


# -- budget, validity, no repeats -------------------------------------------------------------
@pytest.mark.parametrize("name, settings", SPECS)
def test_completes_exactly_n_valid_evaluations_once_each(name: str, settings: dict) -> None:
    n = 30
    spy, fn = Spy(name, settings), Counting()
    study = make_study(name, settings, fn=fn, optimizer=spy.opt).optimize(n)
    space = mixed_space()

    assert len(completed(study)) == n
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    # every proposal, replays included, is a canonical configuration of the space
    assert len(spy.asked) >= n
    for p in spy.asked:
        assert space.validate(p) == p
    for t in study.trials:
        assert space.validate(t.config) == t.config and space.key(t.config) == t.key
        assert t.metrics["size"] == mixed_metrics(t.config)["size"]
    # no (key, fidelity) evaluated twice
    assert max(Counter((t.key, t.fidelity) for t in study.trials).values()) == 1
    assert len(fn.seen) == len(study.trials)
    assert max(Counter(space.key(c) for c in fn.seen).values()) == 1
    # the optimizer heard about every evaluation, with the values that were measured
    told = {o.key: o for o in spy.told}
    for t in study.trials:
        np.testing.assert_allclose(told[t.key].values, [t.metrics["size"], t.metrics["err"]])
        assert told[t.key].violation == 0.0


@pytest.mark.parametrize("name, settings", SPECS)
def test_same_seed_same_trials_other_seed_other_trials(name: str, settings: dict) -> None:
    a = keys_of(make_study(name, settings, seed=11).optimize(24))
    b = keys_of(make_study(name, settings, seed=11).optimize(24))
    c = keys_of(make_study(name, settings, seed=12).optimize(24))
    assert len(a) == 24
    assert a == b
    assert a != c


# -- failures ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, settings", SPECS)
def test_failed_evaluations_are_stored_failed_and_never_told_as_results(name: str, settings: dict,
                                                                       tmp_path: Path) -> None:
    n = 24
    spy, fn = Spy(name, settings), Flaky()
    db = tmp_path / "flaky.db"
    study = make_study(name, settings, fn=fn, optimizer=spy.opt, storage=str(db)).optimize(n)

    done = completed(study)
    failed = [t for t in study.trials if t.state == TrialState.FAILED]
    if name == "optuna" and settings["sampler"] == "TPESampler" and len(done) < n:
        # Known limitation (reported): Optuna's TPE ignores FAILED trials, so it keeps proposing
        # configurations of a promising region that fails; the study stops at max_failures.
        assert len(failed) > max(n, 10)
    else:
        assert len(done) == n
    raised = [t for t in failed if Flaky.raises(t.config)]
    nan = [t for t in failed if Flaky.nan(t.config)]
    assert raised and nan and len(raised) + len(nan) == len(failed)
    for t in raised:
        assert "RuntimeError" in t.error and f"boom: silu with depth {t.config['depth']}" in t.error
    for t in nan:
        assert "'err'" in t.error and "NaN" in t.error
    for t in done:
        assert t.error is None and all(math.isfinite(v) for v in t.metrics.values())
        assert not Flaky.raises(t.config) and not Flaky.nan(t.config)

    failed_keys, done_keys = {t.key for t in failed}, {t.key for t in done}
    assert not failed_keys & done_keys
    assert len(fn.seen) == len(study.trials)  # a failed configuration is not retried either
    assert not {t.key for t in study.pareto_trials()} & failed_keys
    assert all(t.state == TrialState.COMPLETE for t in study.pareto_trials())

    # the optimizer is never told values for a failed evaluation
    told_failed = [o for o in spy.told if o.key in failed_keys]
    assert told_failed and all(o.values is None and not o.ok for o in told_failed)
    assert all(o.values is not None and np.all(np.isfinite(o.values)) for o in spy.told if o.key in done_keys)
    assert {o.key for o in spy.told} == failed_keys | done_keys

    # the error text is durable
    study.close()
    store = SQLStorage(str(db))
    stored = {t.number: t for t in store.get_trials(store.get_study("contract").id)}
    for t in failed:
        assert stored[t.number].state == TrialState.FAILED and stored[t.number].error == t.error
    store.close()


# -- resume -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, settings", SPECS)
def test_resume_is_exact(name: str, settings: dict, tmp_path: Path) -> None:
    """A study stopped after 20 evaluations and resumed to 40 evaluates exactly the trials of an
    uninterrupted 40-evaluation run with the same seed (the optimizer is rebuilt by replay)."""
    reference = keys_of(make_study(name, settings, seed=5).optimize(40))
    assert len(reference) == 40

    db = str(tmp_path / "resume.db")
    first = make_study(name, settings, seed=5, storage=db).optimize(20)
    before = {t.number: (t.key, t.config, t.metrics, t.finished_at, t.id) for t in first.trials}
    first.close()
    assert len(before) == 20

    fn = Counting()
    resumed = make_study(name, settings, seed=5, storage=db, resume=True, fn=fn)
    assert len(resumed.trials) == 20
    resumed.optimize(40)
    keys = keys_of(resumed)
    assert len(completed(resumed)) == 40 and len(keys) == 40
    assert len(set(keys)) == 40
    assert keys == reference, f"{name} {settings}: resumed trials differ from an uninterrupted run"
    assert len(fn.seen) == 20  # replayed trials are answered from the store
    assert resumed.n_replayed >= 20
    for t in resumed.trials:
        if t.number in before:
            assert (t.key, t.config, t.metrics, t.finished_at, t.id) == before[t.number]
    resumed.close()

    # resuming a finished budget evaluates nothing
    fn2 = Counting()
    again = make_study(name, settings, seed=5, storage=db, resume=True, fn=fn2).optimize(40)
    assert fn2.seen == [] and keys_of(again) == reference
    again.close()


@pytest.mark.parametrize("name, settings", SPECS)
def test_resume_with_failures_is_exact(name: str, settings: dict, tmp_path: Path) -> None:
    """Failed trials are replayed as failures (never re-run) and count towards ``max_failures``
    as in an uninterrupted run, so even a study that stops on failures resumes exactly."""
    reference = make_study(name, settings, seed=2, fn=Flaky()).optimize(20)
    db = str(tmp_path / "resume-flaky.db")
    make_study(name, settings, seed=2, storage=db, fn=Flaky()).optimize(10).close()
    fn = Flaky()
    resumed = make_study(name, settings, seed=2, storage=db, resume=True, fn=fn)
    n_stored = len(resumed.trials)
    resumed.optimize(20)
    assert keys_of(resumed) == keys_of(reference)
    assert [t.state for t in resumed.trials] == [t.state for t in reference.trials]
    assert len(fn.seen) == len(resumed.trials) - n_stored  # stored failures are not evaluated again
    resumed.close()


def test_reopening_without_resume_raises(tmp_path: Path) -> None:
    db = str(tmp_path / "exists.db")
    make_study("random", {}, storage=db).optimize(5).close()
    with pytest.raises(StudyExistsError, match="resume"):
        make_study("random", {}, storage=db)
    # the stored study is untouched, and another name is fine in the same file
    store = SQLStorage(db)
    assert len(store.get_trials(store.get_study("contract").id)) == 5
    store.close()
    other = make_study("random", {}, storage=db, study_name="other").optimize(3)
    assert len(other.trials) == 3
    other.close()
    with pytest.raises(ConfigError, match="objectives"):
        Study("contract", mixed_space(), FunctionEvaluator(mixed_metrics), ["err", "size"], optimizer="random",
              storage=db, resume=True)


# -- constraints ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, settings", SPECS)
def test_pareto_trials_are_feasible_under_metric_constraints(name: str, settings: dict) -> None:
    limit = MetricConstraint("small", metric="size", upper=60.0)
    if settings.get("algorithm") == "MOEAD":  # pymoo's MOEA/D has no constraint handling: refused up front
        with pytest.raises(ValueError, match="does not handle constraints"):
            Spy(name, settings, constraint_names=["small"])
        return
    spy = Spy(name, settings, constraint_names=["small"])
    study = make_study(name, settings, constraints=[limit], optimizer=spy.opt).optimize(30)

    done = completed(study)
    assert len(done) == 30
    for t in done:
        assert t.constraints["small"] == pytest.approx(t.metrics["size"] - 60.0)
    infeasible = [t for t in done if not t.feasible]
    assert infeasible, "the test needs some infeasible trials"
    front = study.pareto_trials()
    assert front and all(t.feasible and t.metrics["size"] <= 60.0 for t in front)
    # the front is exactly the non-dominated set of the feasible trials
    feasible = [t for t in done if t.feasible]
    F = np.array([[t.metrics["size"], t.metrics["err"]] for t in feasible])
    expected = {t.key for t, m in zip(feasible, non_dominated(F)) if m}
    assert {t.key for t in front} == expected
    # optimizers are told the violation
    told = {o.key: o for o in spy.told}
    for t in infeasible:
        assert told[t.key].violation == pytest.approx(t.metrics["size"] - 60.0)


# -- registry ---------------------------------------------------------------------------------
def test_unknown_optimizer_lists_the_allowed_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        OPTIMIZERS.get("nope")
    msg = str(info.value)
    assert "nope" in msg
    for allowed in ("random", "nsga2", "optuna", "pymoo"):
        assert allowed in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(UnknownNameError, match="nsga2"):
        make_study("nope", {})
    assert {"random", "nsga2", "optuna", "pymoo"} <= set(OPTIMIZERS.names())


def test_pymoo_settings_from_yaml_are_checked_and_converted() -> None:
    """Unknown algorithm keywords (which pymoo itself ignores), a one-objective algorithm on two
    objectives, and directions of the wrong size are errors; YAML lists become pymoo's arrays."""
    with pytest.raises(ValueError, match=r"no argument\(s\) \['popsize'\]"):
        create_optimizer("pymoo", mixed_space(), OBJECTIVES, algorithm="NSGA2", algorithm_kwargs={"popsize": 4})
    with pytest.raises(ValueError, match="optimises one objective"):
        create_optimizer("pymoo", mixed_space(), OBJECTIVES, algorithm="DE")
    with pytest.raises(ValueError, match="directions of 2 numbers"):
        create_optimizer("pymoo", mixed_space(), OBJECTIVES, algorithm="NSGA3", algorithm_kwargs={"ref_dirs": [[1, 0, 0]]})
    opt = create_optimizer("pymoo", mixed_space(), OBJECTIVES, algorithm="NSGA3")  # default Das-Dennis directions
    assert opt.algorithm.ref_dirs.shape == (13, 2)
    opt = create_optimizer("pymoo", mixed_space(), OBJECTIVES, algorithm="RNSGA2",
                           algorithm_kwargs={"ref_points": [[0.5, 0.5]]})
    assert isinstance(opt.algorithm.survival.ref_points, np.ndarray)


def test_bad_optimizer_settings_name_the_optimizer() -> None:
    with pytest.raises(TypeError, match="'nsga2'.*popsize"):
        create_optimizer("nsga2", mixed_space(), OBJECTIVES, popsize=3)
    with pytest.raises(ValueError, match="allowed"):
        create_optimizer("optuna", mixed_space(), OBJECTIVES, sampler="NoSuchSampler")
    with pytest.raises(ValueError, match="allowed"):
        create_optimizer("pymoo", mixed_space(), OBJECTIVES, algorithm="NoSuchAlgorithm")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_an_optuna_grid_that_is_used_up_ends_the_study_not_the_run() -> None:
    """BruteForceSampler and GridSampler call study.stop() when their grid is used up, which Optuna
    allows only inside its own optimize(): the run ended in a RuntimeError."""
    from paretoforge.evaluators import FunctionEvaluator
    from paretoforge.search import Study
    from paretoforge.spaces import Categorical, Integer, Space

    space = Space([Categorical("a", ["x", "y"]), Integer("b", 0, 2)], name="tiny")
    ev = FunctionEvaluator(lambda c: {"f1": c["b"] + (c["a"] == "x"), "f2": 2 - c["b"]})
    study = Study("grid", space, ev, ["f1", "f2"], optimizer="optuna",
                  optimizer_settings={"sampler": "BruteForceSampler"}, seed=0)
    study.optimize(n_evaluations=10)
    assert len(study.trials) == 6 and len({t.key for t in study.trials}) == 6
    assert study.optimizer.ask(2) == []


def test_adapter_settings_that_cannot_work_are_refused_up_front(caplog) -> None:
    from paretoforge.search import create_optimizer
    from paretoforge.search.problems import get_problem

    problem = get_problem("zdt1", n_var=3)
    with pytest.raises(ValueError, match=r"'algorithm_kwargs.pop_size' must be a number \(default 100\), got '6'"):
        create_optimizer("pymoo", problem.space, problem.objectives, algorithm="NSGA2",
                         algorithm_kwargs={"pop_size": "6"})
    import importlib.util

    if importlib.util.find_spec("cmaes") is None:
        with pytest.raises(ImportError, match="needs the 'cmaes' package"):
            create_optimizer("optuna", problem.space, problem.objectives, sampler="CmaEsSampler")
    else:  # CMA-ES optimises one objective: refused before the first proposal
        with pytest.raises(ValueError, match="cannot serve this study"):
            create_optimizer("optuna", problem.space, problem.objectives, sampler="CmaEsSampler")
    initial = [problem.space.sample(np.random.default_rng(i)) for i in range(5)]
    with caplog.at_level("WARNING"):
        create_optimizer("nsga2", problem.space, problem.objectives, population_size=4, initial=initial)
    assert "5 initial configurations, but the first generation holds population_size = 4" in caplog.text
