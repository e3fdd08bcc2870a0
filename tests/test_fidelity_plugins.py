"""Fidelity levels on every evaluation, and third-party plugins through entry points."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import pytest

from paretoforge.evaluators import EvalResult, Evaluator
from paretoforge.search import Objective, Study, Suggestion, TrialState
from paretoforge.search.optimizers import OPTIMIZERS, Optimizer
from paretoforge.search.registry import Registry
from paretoforge.spaces import Integer, Space


class FidelityEvaluator(Evaluator):
    """Noisier at low fidelity; records every (x, fidelity) it is asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float]] = []

    def evaluate(self, configs, fidelity=1.0):
        self.calls += [(c["x"], fidelity) for c in configs]
        return [EvalResult({"a": c["x"] + (1 - fidelity), "b": 10 - c["x"]}) for c in configs]


class TwoFidelities(Optimizer):
    """Proposes each x first at fidelity 0.25, then at full fidelity; repeats one proposal."""

    name = "two-fidelities"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.i = 0
        self.told: list = []

    def ask(self, n: int):
        out = []
        for _ in range(n):
            x = (self.i // 2) % 11
            out.append(Suggestion({"x": x}, 0.25 if self.i % 2 == 0 else None))
            self.i += 1
        return out

    def tell(self, observations: Sequence) -> None:
        self.told += list(observations)


def test_fidelity_is_stored_and_dedup_is_per_fidelity() -> None:
    space = Space([Integer("x", 0, 10)])
    ev = FidelityEvaluator()
    study = Study("fid", space, ev, [Objective("a"), Objective("b")], optimizer=TwoFidelities(space, []),
                  storage=None, batch_size=2)
    study.optimize(n_evaluations=22)  # 11 configurations x 2 fidelities
    trials = study.trials
    assert sorted({t.fidelity for t in trials}) == [0.25, 1.0]
    assert len(ev.calls) == len(set(ev.calls)) == 22
    low = [t for t in trials if t.fidelity == 0.25]
    assert all(t.metrics["a"] == t.config["x"] + 0.75 for t in low)
    # the front is read at the study's fidelity only
    assert {t.fidelity for t in study.pareto_trials()} == {1.0}
    assert len(study.completed_trials(0.25)) == 11
    # proposing a configuration again is answered from the store, not evaluated again
    study.optimize(n_evaluations=30)
    assert len(ev.calls) == 22 and all(t.state == TrialState.COMPLETE for t in study.trials)


def test_registry_lazy_imports_and_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = Registry("thing", "paretoforge.things", {"counter": "collections:Counter"})
    assert reg.get("counter").__name__ == "Counter"
    ep = SimpleNamespace(name="third_party", group="paretoforge.things", load=lambda: TwoFidelities)
    monkeypatch.setattr("paretoforge.search.registry.entry_points",
                        lambda group: [ep] if group == "paretoforge.things" else [])
    assert "third_party" in reg.names()
    assert reg.get("third_party") is TwoFidelities
    with pytest.raises(KeyError) as info:
        reg.get("missing")
    assert "counter" in str(info.value) and "third_party" in str(info.value)


def test_registered_optimizer_is_usable_by_name() -> None:
    OPTIMIZERS.register("two-fidelities-test", TwoFidelities, overwrite=True)
    space = Space([Integer("x", 0, 10)])
    study = Study("byname", space, FidelityEvaluator(), ["a", "b"], optimizer="two-fidelities-test", storage=None)
    study.optimize(n_evaluations=4)
    assert isinstance(study.optimizer, TwoFidelities)
    assert len(study.completed_trials()) + len(study.completed_trials(0.25)) >= 4


def test_budget_is_a_total_across_calls_and_resume(tmp_path) -> None:
    from paretoforge.spaces import Real

    space = Space([Real("x", 0, 1), Real("y", 0, 1)])

    class Two(Evaluator):
        def evaluate(self, configs, fidelity=1.0):
            return [EvalResult({"a": c["x"], "b": 1 - c["x"] + c["y"]}) for c in configs]

    url = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("total", space, Two(), ["a", "b"], optimizer="nsga2", storage=url, seed=1)
    study.optimize(n_evaluations=10)
    study.optimize(n_evaluations=20)
    assert len(study.completed_trials()) == 20
    study.close()
    again = Study("total", space, Two(), ["a", "b"], optimizer="nsga2", storage=url, seed=1, resume=True)
    again.optimize(n_evaluations=20)
    assert len(again.completed_trials()) == 20 and again.n_replayed == 20
    again.optimize(n_evaluations=25)
    assert len(again.completed_trials()) == 25


def test_resuming_under_a_different_search_is_refused_and_names_the_keys(tmp_path) -> None:
    """A changed seed, optimizer, space, direction or batch size would make the replay diverge, so
    the stored trials would not count: refused with the changed keys named; nothing is evaluated."""
    from paretoforge.spaces import Real
    from paretoforge.spaces.variables import ConfigError

    space = Space([Real("x", 0, 1), Real("y", 0, 1)])
    calls: list[int] = []

    class Two(Evaluator):
        def evaluate(self, configs, fidelity=1.0):
            calls.append(len(configs))
            return [EvalResult({"a": c["x"], "b": 1 - c["x"] + c["y"]}) for c in configs]

    url = f"sqlite:///{tmp_path / 's.db'}"
    Study("s", space, Two(), ["a", "b"], optimizer="nsga2", storage=url, seed=1).optimize(n_evaluations=8).close()
    n_calls = len(calls)
    changes = {
        "seed": dict(seed=2),
        "optimizer": dict(optimizer="random"),
        "space": dict(space=Space([Real("x", 0, 1), Real("y", 0, 2)])),
        "objectives": dict(objectives=["a", Objective("b", direction="maximize")]),
        "batch_size": dict(batch_size=4),
    }
    for key, change in changes.items():
        kwargs = dict(space=space, objectives=["a", "b"], optimizer="nsga2", seed=1) | change
        with pytest.raises(ConfigError, match=rf"cannot resume under a different search \('{key}' stored") as info:
            Study("s", kwargs.pop("space"), Two(), kwargs.pop("objectives"), storage=url, resume=True, **kwargs)
        assert ("can be pinned with 'batch_size'" in str(info.value)) == (key == "batch_size")
    assert len(calls) == n_calls
    same = Study("s", space, Two(), ["a", "b"], optimizer="nsga2", storage=url, seed=1, resume=True)
    same.optimize(n_evaluations=12)  # only the budget changed
    assert len(same.completed_trials()) == 12 and same.n_replayed == 8
