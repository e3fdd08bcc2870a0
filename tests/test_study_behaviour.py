"""Study behaviour at the edges: cost objectives, non-JSON extras, awkward real bounds."""

from __future__ import annotations

import numpy as np

from paretoforge.evaluators import EvalResult, Evaluator, FunctionEvaluator
from paretoforge.search import Objective, Study, TrialState
from paretoforge.spaces import BudgetConstraint, ChoiceSequence, Real, RealVector, Space


def bits_space() -> Space:
    return Space([ChoiceSequence("bits", 6, [2, 4, 8], ordered=True)], costs={"size": lambda c: sum(c["bits"])},
                 constraints=[BudgetConstraint("size", 30)])


def test_an_objective_may_be_a_space_cost() -> None:
    ev = FunctionEvaluator(lambda c: {"error": sum(2.0 ** -b for b in c["bits"])})
    study = Study("cost", bits_space(), ev, [Objective("error"), Objective("size")], storage=None, seed=0)
    study.optimize(n_evaluations=30)
    done = study.completed_trials()
    assert len(done) == 30 and all(t.metrics["size"] == sum(t.config["bits"]) <= 30 for t in done)
    # an objective found nowhere fails the trial with a message naming where it looked
    bad = Study("nowhere", bits_space(), ev, ["error", "latency"], storage=None, seed=0)
    bad.optimize(n_evaluations=3, max_failures=2)
    assert all(t.state == TrialState.FAILED for t in bad.trials)
    assert "latency" in bad.trials[0].error and "space's costs" in bad.trials[0].error


class InfoEvaluator(Evaluator):
    def __init__(self, payload) -> None:
        self.payload = payload

    def evaluate(self, configs, fidelity=1.0):
        return [EvalResult({"error": 1.0}, info=dict(self.payload)) for _ in configs]


def test_numpy_info_is_stored_and_unstorable_info_fails_only_that_trial(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'info.db'}"
    ok = Study("np", bits_space(), InfoEvaluator({"a": np.float32(1.5), "b": np.arange(3)}), ["error", "size"],
               storage=url, optimizer="random")
    ok.optimize(n_evaluations=3)
    assert ok.trials[0].info == {"a": 1.5, "b": [0, 1, 2]}
    bad = Study("obj", bits_space(), InfoEvaluator({"a": object()}), ["error", "size"], storage=url,
                optimizer="random")
    bad.optimize(n_evaluations=2, max_failures=1)
    assert {t.state for t in bad.trials} == {TrialState.FAILED}
    assert "not JSON-able" in bad.trials[0].error


def test_real_bounds_with_many_digits_stay_valid() -> None:
    space = Space([Real("x", 1 / 3, 2 / 3), Real("y", 0.1 + 0.2, 1.0)])
    ev = FunctionEvaluator(lambda c: {"f1": c["x"], "f2": 1 - c["x"] + c["y"]})
    study = Study("digits", space, ev, ["f1", "f2"], storage=None, seed=0)
    study.optimize(n_evaluations=200)  # NSGA-II pushes values onto the bounds
    assert len(study.completed_trials()) == 200
    for value in (-5.0, 0.5, 5.0):
        assert space["x"].validate(space["x"].repair(value)) == space["x"].repair(value)
    vec = RealVector("w", 2, 0.0, 2e6 / 3)
    assert vec.validate(vec.repair([1e9, -1.0])) == vec.repair([1e9, -1.0])


def test_bad_study_arguments_are_clear_errors_before_anything_runs(tmp_path) -> None:
    """A string as the objectives, a repeated objective or constraint name (one of two constraints
    of one name was dropped, so violating trials reached the front), a reference point that is
    not finite or of the wrong length, a missing seed, bad budgets: each a ConfigError naming it."""
    import math

    import pytest

    from paretoforge.search.objectives import MetricConstraint
    from paretoforge.spaces.variables import ConfigError

    space = Space([Real("x", 0, 1)])
    calls: list[int] = []

    def f(c):
        calls.append(1)
        return {"err": c["x"], "lat": 1 - c["x"]}

    ev = FunctionEvaluator(f)
    cap = [MetricConstraint("cap", "err", upper=0.5), MetricConstraint("cap", "lat", upper=0.5)]
    bad = [
        (dict(objectives="err"), "'objectives' must be a list"),
        (dict(objectives=[Objective("a"), Objective("a", "maximize")]), r"objective name\(s\) \['a'\] are given more"),
        (dict(objectives=["err", "lat"], constraints=cap), r"constraint name\(s\) \['cap'\] are given more than once"),
        (dict(objectives=["err", "lat"], reference_point=[math.nan, 1.0]), "2 finite numbers"),
        (dict(objectives=["err", "lat"], reference_point=[1.0]), "2 finite numbers"),
        (dict(objectives=["err", "lat"], seed=None), "'seed' must be an integer"),
        (dict(objectives=["err", "lat"], batch_size=-2), "'batch_size' must be an integer >= 1"),
        (dict(objectives=["err", {"name": "lat", "direktion": "max"}]), "keys: name, direction"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ConfigError, match=message):
            Study("s", space, ev, kwargs.pop("objectives"), **kwargs)
    with pytest.raises(ConfigError, match="'lower' 0.9 is above 'upper' 0.1"):
        MetricConstraint("c", "err", upper=0.1, lower=0.9)
    study = Study("s", space, ev, [{"name": "err", "direction": "maximize"}, "lat"], seed=0)
    assert [o.direction for o in study.objectives] == ["maximize", "minimize"]
    for n, t, message in [(2.5, None, "'n_evaluations' must be an integer"), (-3, None, "'n_evaluations'"),
                          (None, -1, "'timeout' must be a positive number")]:
        with pytest.raises(ConfigError, match=message):
            study.optimize(n_evaluations=n, timeout=t)
    assert not calls
    study.optimize(n_evaluations=4)
    with pytest.raises(ConfigError, match="2 finite numbers"):
        study.hypervolume([1.0])  # was stretched to [1.0, 1.0] by numpy
    assert study.hypervolume([0.0, 1.0]) > 0  # err is maximised: its reference lies below
    url = tmp_path / "s.db"  # a pathlib path is a store too; reading a missing one creates nothing
    Study("p", space, ev, ["err", "lat"], storage=url, seed=0).optimize(n_evaluations=2).close()
    from paretoforge.search.results import MissingStoreError, load_results

    assert load_results(url, "p").counts()["complete"] == 2
    with pytest.raises(MissingStoreError):
        load_results(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_a_non_finite_space_cost_objective_fails_the_trial_and_optuna_export_keeps_our_front(tmp_path) -> None:
    """An objective taken from a space cost was merged after the NaN check, so a NaN cost made a
    complete trial on the front (hypervolume 0, exports broken). The Optuna export also gets the
    constraint values as Optuna's feasibility record, and a failing export leaves the earlier one."""
    import optuna
    import pytest

    from paretoforge.search.objectives import MetricConstraint
    from paretoforge.search.optuna_export import export_to_optuna
    from paretoforge.search.pareto import hypervolume, non_dominated
    from paretoforge.spaces import Integer

    space = Space([Integer("k", 0, 9)], costs={"w": lambda c: float("nan") if c["k"] == 5 else float(c["k"])})
    study = Study("s", space, FunctionEvaluator(lambda c: {"a": -c["k"]}), ["a", "w"], optimizer="random", seed=1,
                  constraints=[MetricConstraint("cap", "w", upper=6)])
    study.optimize(n_evaluations=10)
    failed = [t for t in study.trials if t.state == TrialState.FAILED]
    assert [t.config["k"] for t in failed] == [5] and "['w'] are not finite" in failed[0].error
    ours = sorted(t.config["k"] for t in study.pareto_trials())
    assert ours == [0, 1, 2, 3, 4, 6] and study.hypervolume([1.0, 10.0]) > 0
    url = f"sqlite:///{tmp_path / 'o.db'}"
    exported = export_to_optuna(study.results(), url)
    assert sorted(t.params["k"] for t in exported.best_trials) == ours  # 7, 8, 9 break the constraint
    bad = study.results()
    bad.trials[0].config = {"k": 99}  # outside the space: the export fails before touching the store
    with pytest.raises(ValueError):
        export_to_optuna(bad, url)
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 10
    with pytest.raises(ValueError, match="violations of shape"):
        non_dominated([[0, 1], [1, 0], [2, 2]], [0, 0])
    with pytest.raises(ValueError, match="reference point of shape"):
        hypervolume([[0.2, 0.5]], [1.0])


def test_a_study_that_stopped_before_its_first_evaluation_takes_the_next_runs_description(tmp_path) -> None:
    """A first run that failed before any evaluation (e.g. a setting refused at the first proposal)
    left its description in the store; the corrected run's trials were then refused on resume as
    made 'under a different search', and other objectives were refused with no trial to protect."""
    from paretoforge.search.problems import get_problem

    problem = get_problem("zdt1", n_var=3)
    url = f"sqlite:///{tmp_path / 's.db'}"
    Study("s", problem.space, problem.evaluator(), problem.objectives, optimizer="random", seed=0, storage=url).close()
    fixed = Study("s", problem.space, problem.evaluator(), problem.objectives, optimizer="nsga2", seed=1, storage=url)
    fixed.optimize(n_evaluations=6)
    fixed.close()
    again = Study("s", problem.space, problem.evaluator(), problem.objectives, optimizer="nsga2", seed=1, storage=url,
                  resume=True)
    again.optimize(n_evaluations=8)
    assert len(again.trials) == 8 and again.record.spec["optimizer"]["name"] == "nsga2"


def test_resuming_with_a_default_spelled_out_is_the_same_search(tmp_path) -> None:
    """Adding a setting at its default value (population_size of NSGA-II) was refused as a
    different search; another value still is."""
    import inspect

    import pytest

    from paretoforge.search.optimizers.nsga2 import NSGA2
    from paretoforge.search.problems import get_problem
    from paretoforge.spaces.variables import ConfigError

    default = inspect.signature(NSGA2.__init__).parameters["population_size"].default
    problem = get_problem("zdt1", n_var=3)
    url = f"sqlite:///{tmp_path / 'd.db'}"

    def study(**settings):
        return Study("d", problem.space, problem.evaluator(), problem.objectives, optimizer="nsga2",
                     optimizer_settings=settings, seed=0, storage=url, resume=True)

    first = study()
    first.optimize(n_evaluations=4)
    first.close()
    again = study(population_size=default)
    again.optimize(n_evaluations=6)
    assert len(again.trials) == 6
    again.close()
    with pytest.raises(ConfigError, match="cannot resume under a different search"):
        study(population_size=default + 2)
