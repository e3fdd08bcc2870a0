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
