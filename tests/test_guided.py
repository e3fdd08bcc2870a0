"""The predictor-guided optimizer: its loop beats random search on a real benchmark table,
batches are distinct and diverse, failures are never good, multi-fidelity screening promotes
finalists, and a multi-fidelity study resumes exactly (the default path is covered by the
optimizer contract tests)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from paretoforge.evaluators.base import EvalResult, Evaluator, FunctionEvaluator
from paretoforge.search import Study, TrialState, create_optimizer
from paretoforge.search.objectives import Objective
from paretoforge.search.optimizers.acquisition import (
    expected_hv_improvement,
    expected_hv_improvement_2d,
    expected_hv_improvement_3d,
    expected_improvement_1d,
    hv_improvement,
)
from paretoforge.search.pareto import hypervolume
from paretoforge.search.problems import get_problem
from paretoforge.spaces import Categorical, ChoiceSequence, Real, RealVector, Space
from paretoforge.spaces.variables import ConfigError


def test_hv_improvement_is_exact() -> None:
    front = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    ref = np.array([4.0, 4.0])
    P = np.array([[1.5, 1.5], [0.5, 0.5], [2.5, 2.5], [5.0, 0.0]])
    expect = [hypervolume(np.vstack([front, p]), ref) - hypervolume(front, ref) for p in P]
    np.testing.assert_allclose(hv_improvement(P, front, ref), expect)
    # three objectives: the box decomposition of the dominated region
    f3 = np.array([[1.0, 2.0, 2.0], [2.0, 1.0, 2.0]])
    p3 = np.array([[1.5, 1.5, 1.0]])
    r3 = np.array([3.0, 3.0, 3.0])
    np.testing.assert_allclose(hv_improvement(p3, f3, r3),
                               [hypervolume(np.vstack([f3, p3]), r3) - hypervolume(f3, r3)])
    # zero spread: the expectation is the improvement of the mean
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(expected_hv_improvement(P, np.zeros_like(P), front, ref, rng), expect)
    # one objective: the improvement of the best value (front points beyond ref count for nothing)
    r1 = np.array([2.0])
    for f1 in (np.zeros((0, 1)), np.array([[1.2], [0.7], [2.5]]), np.array([[3.0]])):
        p1 = np.array([[0.5], [0.7], [1.0], [1.9], [2.0], [3.5], [-1.0]])
        base = hypervolume(f1, r1) if len(f1) else 0.0
        exp1 = [hypervolume(np.vstack([f1, p]), r1) - base if p[0] < r1[0] else 0.0 for p in p1]
        np.testing.assert_allclose(hv_improvement(p1, f1, r1), exp1, atol=1e-12)


def test_four_objective_improvement_is_exact() -> None:
    """Four objectives: one exact hypervolume per point that can improve (those outside the
    reference box or weakly dominated are screened at once, front points beyond it dropped)."""
    rng = np.random.default_rng(3)
    front = rng.random((25, 4)) * 1.3  # some beyond the reference point
    ref = np.full(4, 1.2)
    P = np.vstack([rng.random((200, 4)) * 1.3, front[:3], front[:2] + 0.05])  # repeats and dominated points too
    base = hypervolume(front, ref)
    expect = [hypervolume(np.vstack([front, p]), ref) - base if np.all(p < ref) else 0.0 for p in P]
    np.testing.assert_allclose(hv_improvement(P, front, ref), expect, atol=1e-12)
    assert np.all(hv_improvement(front[:3], front, ref) == 0.0)


def test_three_objective_improvement_equals_moocore() -> None:
    """The vectorised 3-objective improvement (boxes of the dominated region) equals adding
    each point to the front in moocore's exact hypervolume: random fronts, ties, dominated
    points, points beyond the reference point; at most 2 n + 1 boxes."""
    from paretoforge.search.optimizers.acquisition import _dominated_boxes_3d

    rng = np.random.default_rng(0)
    ref = np.array([1.1, 1.0, 1.2])
    for n in (0, 1, 7, 40):
        front = rng.random((n, 3))
        if n == 40:
            front = np.round(front, 1)  # ties in every objective
        P = np.vstack([rng.random((300, 3)) * 1.3 - 0.1, front[:5]])
        base = hypervolume(front, ref) if n else 0.0
        expect = [hypervolume(np.vstack([front, p]), ref) - base if np.all(p < ref) else 0.0 for p in P]
        np.testing.assert_allclose(hv_improvement(P, front, ref), expect, atol=1e-12)
        lower, upper = _dominated_boxes_3d(front, ref)
        assert len(lower) <= 2 * n + 1
        np.testing.assert_allclose(np.prod(upper - lower, axis=1).sum(), base, atol=1e-12)


def _exp_inverse(shifts: tuple) -> Callable[[np.ndarray], np.ndarray]:
    """The back-transform of per-objective warps: ``exp(z) + shift`` where a shift is given."""
    def inverse(Y: np.ndarray) -> np.ndarray:
        out = Y.copy()
        for j, c in enumerate(shifts):
            if c is not None:
                out[..., j] = np.exp(out[..., j]) + c
        return out
    return inverse


def test_exact_2d_ehvi_matches_monte_carlo() -> None:
    """The closed form equals a large Monte-Carlo average, with and without a log back-transform."""
    rng = np.random.default_rng(0)
    front, ref = rng.random((6, 2)), np.array([1.2, 1.3])
    mean, std = rng.normal(0.3, 0.3, (5, 2)), rng.uniform(0.05, 0.4, (5, 2))
    for shifts in [(None, None), (0.1, None), (None, -0.2)]:
        mc = expected_hv_improvement(mean, std, front, ref, np.random.default_rng(1), 100_000, _exp_inverse(shifts))
        np.testing.assert_allclose(expected_hv_improvement_2d(mean, std, front, ref, shifts), mc,
                                   rtol=0.02, atol=2e-4)
    # zero spread: the improvement of the mean
    P = np.array([[0.1, 0.2], [2.0, 2.0]])
    np.testing.assert_allclose(expected_hv_improvement_2d(P, np.zeros_like(P), front, ref),
                               hv_improvement(P, front, ref), atol=1e-9)


def test_exact_1d_improvement_matches_monte_carlo() -> None:
    """One objective: the closed-form expected improvement equals a large Monte-Carlo average
    (identity and log back-transforms; a front beyond the reference point; an empty front)."""
    rng = np.random.default_rng(2)
    mean, std = rng.normal(0.3, 0.3, (6, 1)), rng.uniform(0.05, 0.4, (6, 1))
    for front, ref in [(rng.random((5, 1)), np.array([1.2])), (np.array([[2.0]]), np.array([0.8])),
                       (np.zeros((0, 1)), np.array([0.5]))]:
        for shifts in [(None,), (0.1,), (-0.2,)]:
            mc = expected_hv_improvement(mean, std, front, ref, np.random.default_rng(1), 200_000,
                                         _exp_inverse(shifts))
            np.testing.assert_allclose(expected_improvement_1d(mean, std, front, ref, shifts), mc,
                                       rtol=0.02, atol=2e-4)
    P = np.array([[0.1], [2.0]])
    np.testing.assert_allclose(expected_improvement_1d(P, np.zeros_like(P), np.array([[0.5]]), np.array([1.0])),
                               [0.4, 0.0], atol=1e-9)


def test_exact_3d_ehvi_matches_monte_carlo() -> None:
    """The three-objective closed form (the candidate's box less its overlap with each
    dominated box) equals a large Monte-Carlo average, with and without log back-transforms;
    with zero spread it is the exact improvement, 0 for a dominated or outside point."""
    rng = np.random.default_rng(0)
    front, ref = rng.random((12, 3)), np.array([1.1, 1.2, 1.0])
    mean, std = rng.normal(0.4, 0.3, (6, 3)), rng.uniform(0.05, 0.4, (6, 3))
    for shifts in [(None, None, None), (0.1, None, -0.3)]:
        mc = expected_hv_improvement(mean, std, front, ref, np.random.default_rng(1), 200_000, _exp_inverse(shifts))
        np.testing.assert_allclose(expected_hv_improvement_3d(mean, std, front, ref, shifts), mc,
                                   rtol=0.02, atol=3e-4)
    P = np.vstack([rng.random((50, 3)), front[:2] + 0.05, [[0.1, 0.1, 1.5]]])
    exact = expected_hv_improvement_3d(P, np.full_like(P, 1e-9), front, ref)
    np.testing.assert_allclose(exact, hv_improvement(P, front, ref), atol=1e-9)
    assert np.all(exact[-3:] == 0.0)


def _normalized_hv(study: Study, problem: object) -> float:
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    F = np.array([[t.metrics["error"], t.metrics["latency"]] for t in done])
    return problem.normalized_hypervolume(F)  # type: ignore[attr-defined]


def test_guided_beats_random_on_nasbench201_with_40_evaluations() -> None:
    problem = get_problem("nasbench201", dataset="cifar10")
    hv = {}
    for name in ("guided", "random"):
        vals = []
        for seed in range(3):
            study = Study("nb201", problem.space, problem.evaluator(), problem.objectives, optimizer=name,
                          optimizer_settings={"n_initial": 8} if name == "guided" else {}, seed=seed)
            study.optimize(40)
            vals.append(_normalized_hv(study, problem))
            if name == "guided":
                state = study.optimizer.state()
                assert state["real_evals"] == 40 and state["round"] >= 30
                assert state["kendall_tau"][1] is not None and state["kendall_tau"][1] > 0.3  # latency is learnable
        hv[name] = float(np.mean(vals))
    assert hv["guided"] > 0.9
    assert hv["guided"] > hv["random"] + 0.05


def _toy_space() -> Space:
    return Space([ChoiceSequence("bits", 4, [2, 4, 8], ordered=True), Categorical("act", ["a", "b", "c"])],
                 name="toy")


def _toy(c: dict, fidelity: float = 1.0) -> dict[str, float]:
    size = float(sum(c["bits"]))
    err = sum(1.0 / b for b in c["bits"]) + {"a": 0.0, "b": 0.1, "c": 0.3}[c["act"]]
    # a low fidelity measures the error with a bias that depends on the activation
    if fidelity < 1.0:
        err += {"a": 0.2, "b": 0.0, "c": 0.1}[c["act"]] + 0.05 * (c["bits"][0] == 8)
    return {"size": size, "err": float(err)}


class ToyEvaluator(Evaluator):
    def __init__(self) -> None:
        self.calls: list[tuple[float, int]] = []

    def evaluate(self, configs: list, fidelity: float = 1.0) -> list[EvalResult]:
        self.calls.append((fidelity, len(configs)))
        return [EvalResult(_toy(c, fidelity)) for c in configs]


def test_batches_are_distinct_unseen_and_pending_aware() -> None:
    space = _toy_space()
    opt = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=5)
    first = opt.ask(5)
    from paretoforge.search.trial import Observation

    opt.tell([Observation(c, space.key(c), 1.0, np.array(list(_toy(c).values()))) for c in first])
    batch = opt.ask(6)
    more = opt.ask(6)  # before any result: must avoid the pending batch
    keys = [space.key(c) for c in first + batch + more]
    assert len(batch) == len(more) == 6
    assert len(set(keys)) == len(keys)


def test_failed_results_are_never_good_and_not_retried() -> None:
    space = _toy_space()

    def fn(c: dict) -> dict[str, float]:
        if c["act"] == "a" and c["bits"][0] == 2:  # the most attractive region fails
            raise RuntimeError("diverged")
        return _toy(c)

    study = Study("fail", space, FunctionEvaluator(fn), ["size", "err"], optimizer="guided",
                  optimizer_settings={"n_initial": 6}, seed=1)
    study.optimize(40)
    failed = [t for t in study.trials if t.state == TrialState.FAILED]
    assert failed, "the test needs failures"
    assert all(t.key not in {p.key for p in study.pareto_trials()} for t in failed)
    assert len({t.key for t in study.trials}) == len(study.trials)
    assert study.optimizer.state()["failed"] == len(failed)
    # the failure model steers away: failures are rarer than the region's share of the space (1/9)
    assert len(failed) < len(study.trials) / 9 + 2


def _mf_study(storage: object = None, resume: bool = False, evaluator: Evaluator | None = None) -> Study:
    return Study("mf", _toy_space(), evaluator or ToyEvaluator(), ["size", "err"], optimizer="guided",
                 optimizer_settings={"n_initial": 4, "low_fidelity": 0.25, "n_low": 16}, seed=3,
                 storage=storage, resume=resume, batch_size=4)


def test_multi_fidelity_screen_then_promote() -> None:
    ev = ToyEvaluator()
    study = _mf_study(evaluator=ev).optimize(30)
    trials = sorted(study.trials, key=lambda t: t.number)
    low = [t for t in trials if t.fidelity == 0.25]
    high = [t for t in trials if t.fidelity == 1.0]
    assert len(low) == 16 and all(t.number < 16 for t in low)  # the screen comes first
    assert len(high) == 30 - 16  # the budget counts every evaluation the optimizer reached
    assert ev.calls[:4] == [(0.25, 4)] * 4
    # the first full-fidelity evaluations are the low-fidelity finalists (non-dominated first)
    low_keys = {t.key for t in low}
    assert all(t.key in low_keys for t in high[:4])
    F = np.array([[t.metrics["size"], t.metrics["err"]] for t in low])
    from paretoforge.search.pareto import non_dominated

    best_low = {t.key for t, m in zip(low, non_dominated(F)) if m}
    assert {t.key for t in high[:4]} <= best_low or best_low <= {t.key for t in high[:4]}
    state = study.optimizer.state()
    assert state["low_fidelity_evals"] == 16 and state["real_evals"] == 14
    # results and fronts are read at the study's fidelity only
    assert all(t.fidelity == 1.0 for t in study.pareto_trials())


def test_multi_fidelity_resume_is_exact(tmp_path: Path) -> None:
    reference = [(t.key, t.fidelity) for t in _mf_study().optimize(32).trials]
    db = str(tmp_path / "mf.db")
    _mf_study(storage=db).optimize(20).close()
    ev = ToyEvaluator()
    resumed = _mf_study(storage=db, resume=True, evaluator=ev).optimize(32)
    assert [(t.key, t.fidelity) for t in resumed.trials] == reference
    assert sum(n for _, n in ev.calls) == 12


_CACHED = {"n_initial": 6, "ehvi": "exact", "warp_shifts": [0.3, 0.03]}


def test_enumerated_space_uses_the_pool_cache_and_resumes_exactly(tmp_path: Path) -> None:
    """On an enumerable space every unseen cell is scored through the GPs' pool caches, with a
    warping per objective chosen by evidence; a study stopped half-way resumes exactly."""
    def study(storage: object = None, resume: bool = False) -> Study:
        return Study("cached", _toy_space(), ToyEvaluator(), ["size", "err"], optimizer="guided",
                     optimizer_settings=_CACHED, seed=4, storage=storage, resume=resume, batch_size=2)

    ref = study().optimize(30)
    opt = ref.optimizer
    assert opt._pool_cached() and all(m._pool_state is not None for m in opt._models)
    assert all(w in ("id", "log", 0.3, 0.03) for w in opt._logs)
    assert len(opt.state()["log_space"]) == 2
    reference = [t.key for t in sorted(ref.trials, key=lambda t: t.number)]
    db = str(tmp_path / "cached.db")
    study(storage=db).optimize(14).close()
    resumed = study(storage=db, resume=True).optimize(30)
    assert [t.key for t in sorted(resumed.trials, key=lambda t: t.number)] == reference
    # 30 distinct cells of the 243 (never one twice)
    assert _toy_space().cardinality == 243 and len(set(reference)) == 30


def test_default_warpings_include_a_shifted_log() -> None:
    """An objective that is a shifted exponential of an additive function of the choices (its
    small values spread out only under ``log(y - min + s * range)``) gets a shifted-log warping
    from the default candidates, not the identity; with ``warp_shifts=()`` it cannot."""
    space = _toy_space()
    cfgs = list(space.enumerate())
    rng = np.random.default_rng(0)
    rows = rng.choice(len(cfgs), 60, replace=False)
    effect = {2: 1.2, 4: 0.5, 8: 0.0}
    z = np.array([sum(effect[b] for b in cfgs[i]["bits"]) + {"a": 0.0, "b": 0.3, "c": 0.6}[cfgs[i]["act"]]
                  for i in rows])
    y = np.exp(z) - 5.0  # negative values too: plain log is not a candidate
    X = space.encode_many([cfgs[i] for i in rows])
    default = create_optimizer("guided", space, ["size", "err"], seed=0)
    assert default.warp_shifts == (0.3, 0.1, 0.03)
    assert default._choose_warp(X, y) in default.warp_shifts
    assert create_optimizer("guided", space, ["size", "err"], seed=0, warp_shifts=())._choose_warp(X, y) == "id"


def test_a_result_at_zero_after_a_log_warping_is_chosen_again() -> None:
    """A log warping chosen while every result was positive is chosen again, not applied to a
    new result at zero (log 0 is not a finite target)."""
    from paretoforge.search.trial import Observation

    space = _toy_space()
    opt = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=4, warp_shifts=())
    cfgs = list(space.enumerate())
    rng = np.random.default_rng(0)
    rows = rng.choice(len(cfgs), 40, replace=False)

    def values(c: dict) -> np.ndarray:  # err spans three orders of magnitude: log is the better warping
        return np.array([float(sum(c["bits"])), float(np.exp(-0.6 * sum(c["bits"])))])

    opt.tell([Observation(cfgs[i], space.key(cfgs[i]), 1.0, values(cfgs[i])) for i in rows[:39]])
    assert len(opt.ask(1)) == 1
    assert opt.state()["log_space"][1] == "log"
    last = cfgs[rows[39]]
    opt.tell([Observation(last, space.key(last), 1.0, np.array([float(sum(last["bits"])), 0.0]))])
    assert len(opt.ask(1)) == 1
    assert opt.state()["log_space"][1] == "id"


def test_bad_settings_are_named() -> None:
    space = _toy_space()
    with pytest.raises(ValueError, match="n_low"):
        create_optimizer("guided", space, ["size", "err"], low_fidelity=0.5)
    with pytest.raises(ValueError, match="log_transform"):
        create_optimizer("guided", space, ["size", "err"], log_transform="sometimes")
    with pytest.raises(ValueError, match="ehvi"):
        create_optimizer("guided", space, ["size", "err"], ehvi="approx")
    with pytest.raises(ValueError, match="warp_shifts"):
        create_optimizer("guided", space, ["size", "err"], warp_shifts=[0.0])
    with pytest.raises(ValueError, match="unknown predictor 'nope'; allowed: .*'gp'"):
        create_optimizer("guided", space, ["size", "err"], predictor="nope")
    # settings of the wrong type said nothing of the key (or crashed after the initial evaluations)
    for bad, message in (({"ref_margin": "abc"}, "'ref_margin' must be a number >= 0"),
                         ({"ref_margin": -5}, "'ref_margin' must be a number >= 0"),
                         ({"predictor_settings": "abc"}, "'predictor_settings' must be a mapping"),
                         ({"trust_region": "abc"}, "'trust_region' must be a box side"),
                         ({"warp_shifts": 0.3}, "'warp_shifts' must be a list of positive fractions"),
                         ({"warp_shifts": ["abc"]}, "'warp_shifts' must be a list of positive fractions"),
                         ({"feature_objectives": "err"}, r"'feature_objectives' must be a list of objective names, "
                                                         r"e.g. \[size\]")):
        with pytest.raises(ValueError, match=message):
            create_optimizer("guided", space, ["size", "err"], **bad)


def test_a_low_fidelity_at_the_studys_fidelity_names_the_file(tmp_path: Path) -> None:
    from paretoforge.search.spec import SpecError, load_spec

    path = tmp_path / "mf.yaml"
    path.write_text("name: mf\nproblem: {name: zdt1, n_var: 3}\nbudget: {evaluations: 4}\n"
                    "optimizer: {name: guided, low_fidelity: 2.0, n_low: 3}\n")
    with pytest.raises(SpecError, match=r"mf.yaml: key 'optimizer': guided: 'low_fidelity' 2 must be below the "
                                        r"study's fidelity 1: lower it"):
        load_spec(str(path)).build(output=str(tmp_path / "out"))


def test_repeated_results_mark_duplicates_and_are_avoided() -> None:
    """A result equal to an earlier one marks a duplicate; candidates like it are discounted."""
    from paretoforge.search.trial import Observation

    space = _toy_space()

    def same(c: dict) -> np.ndarray:  # the activation is inert when the first layer has 2 bits
        bits = np.array(c["bits"], dtype=float)
        size = float(bits @ [1.0, 1.1, 1.3, 1.7])
        err = float((1.0 / bits) @ [1.0, 0.9, 0.7, 0.4])
        if c["bits"][0] != 2:
            err += {"a": 0.0, "b": 0.01, "c": 0.03}[c["act"]]
        return np.array([size, err])

    opt = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=4, duplicate_aversion=8.0)
    base = [{"bits": [2, b1, b2, 8], "act": "a"} for b1 in (2, 4, 8) for b2 in (2, 4)]
    twins = [dict(c, act="b") for c in base[:4]]
    others = [{"bits": [8, 4, b2, b3], "act": a} for b2 in (2, 8) for b3 in (4, 8) for a in ("a", "c")]
    cfgs = base + twins + others
    opt.tell([Observation(c, space.key(c), 1.0, same(c)) for c in cfgs])
    assert opt.state()["duplicates"] == len(twins)
    opt._fit()
    near = space.encode_many([dict(c, act="b") for c in base[4:]])  # unseen, like the twins
    far = space.encode_many([{"bits": [8, 2, 2, 2], "act": "a"}, {"bits": [4, 8, 8, 2], "act": "c"}])
    assert opt._dup_model.predict(near)[0].min() > opt._dup_model.predict(far)[0].max()


class _PairSpace(Space):
    """Two categorical choices whose order does not matter: (a, b) and (b, a) are one point."""

    def key(self, config):  # type: ignore[override]
        return "-".join(sorted((str(config["x"]), str(config["y"]))))


def test_configurations_of_one_point_are_proposed_once() -> None:
    vals = list(range(8))
    space = _PairSpace([Categorical("x", vals), Categorical("y", vals)], name="pairs")
    ev = FunctionEvaluator(lambda c: {"f1": float((c["x"] - 2) ** 2 + (c["y"] - 5) ** 2),
                                      "f2": float(c["x"] + c["y"])}, metrics=("f1", "f2"))
    objectives = [Objective("f1", "minimize"), Objective("f2", "minimize")]
    opt = create_optimizer("guided", space, objectives, seed=0, n_initial=4)
    study = Study("pairs", space, ev, objectives, optimizer=opt, seed=0, batch_size=3)
    study.optimize(n_evaluations=30)
    keys = [space.key(t.config) for t in study.trials]
    assert len(keys) == len(set(keys)) == 30  # 36 distinct points exist; none proposed twice


def test_equivalents_teach_the_models_that_one_key_is_one_point() -> None:
    """With ``equivalents=2`` a result also trains the models on the other configuration of its
    key, so the swapped pair of an observed one is predicted at the observed value; without it the
    model must guess. The rows stay under ``equivalent_rows``."""
    from paretoforge.search.trial import Observation

    vals = list(range(8))
    space = _PairSpace([Categorical("x", vals), Categorical("y", vals)], name="pairs")

    def f(c: dict) -> np.ndarray:
        x, y = c["x"], c["y"]
        return np.array([abs(x - y) + 0.3 * x * y + (1.5 if 3 in (x, y) else 0.0), float(x + y)])

    rng = np.random.default_rng(0)
    pairs = [(x, y) for x in vals for y in vals if x < y]
    told = [{"x": x, "y": y} for x, y in (pairs[i] for i in rng.choice(len(pairs), 14, replace=False))]
    swapped = space.encode_many([{"x": c["y"], "y": c["x"]} for c in told])
    truth = np.array([f(c)[0] for c in told])
    errors = {}
    for eq in (1, 2):
        opt = create_optimizer("guided", space, ["f1", "f2"], seed=0, equivalents=eq, log_transform=False)
        opt.tell([Observation(c, space.key(c), 1.0, f(c)) for c in told])
        opt._fit()
        X0 = opt._encoded(list(opt._high.values()))
        rows, _ = opt._with_equivalents(list(opt._high.values()), X0, np.stack([f(c) for c in told]))
        assert len(rows) == len(told) * eq
        errors[eq] = float(np.abs(opt._models[0].predict(swapped)[0] - truth).mean())
    assert errors[2] < 0.1 * np.ptp(truth) and errors[2] < 0.5 * errors[1]
    capped = create_optimizer("guided", space, ["f1", "f2"], seed=0, equivalents=2, equivalent_rows=20)
    capped.tell([Observation(c, space.key(c), 1.0, f(c)) for c in told])
    X0 = capped._encoded(list(capped._high.values()))
    assert len(capped._with_equivalents(list(capped._high.values()), X0, np.zeros((14, 2)))[0]) == 14
    with pytest.raises(ValueError, match="equivalents"):
        create_optimizer("guided", space, ["f1", "f2"], equivalents=0)


def test_local_refinement_finds_a_better_candidate_than_the_pool() -> None:
    """On a continuous space, ``refine`` adds children of the pool's best candidates; with the
    same models and draws the proposal then has an expected improvement at least as high as the
    pool's best (here strictly higher: a child), and the same seed proposes the same again."""
    from paretoforge.search.trial import Observation

    problem = get_problem("zdt1", n_var=4)
    space, ev = problem.space, problem.evaluator()
    rng = np.random.default_rng(0)
    cfgs = [space.sample(rng) for _ in range(14)]
    obs = [Observation(c, space.key(c), 1.0, np.array(list(r.metrics.values())))
           for c, r in zip(cfgs, ev.evaluate(cfgs))]

    def propose(refine: int) -> tuple:
        opt = create_optimizer("guided", space, ["f1", "f2"], seed=3, n_initial=4, refine=refine, prefilter=100_000)
        opt.tell(obs)
        return opt, opt.ask(1)[0]

    plain_opt, plain = propose(0)
    opt, refined = propose(1)
    assert propose(1)[1] == refined
    front, ref = opt._front_and_ref()

    def ehvi(c: dict) -> float:
        (_, m, s), = opt._predict_sets(opt._x([c]))
        return float(expected_hv_improvement(m, s, front, ref, np.random.default_rng(0), 4096, opt._inverse)[0])

    assert refined != plain
    assert ehvi(refined) > ehvi(plain)


def test_unit_cube_pool_is_distinct_unseen_and_encoded_like_its_configurations() -> None:
    """On a space of scalars and categoricals too large to enumerate, the pool is built as one
    unit-cube matrix: its encodings are those of the configurations it stands for, no two are
    the same point, none was proposed or evaluated, and proposals are reproducible for a seed."""
    from paretoforge.search.optimizers.guided import _UnitRows
    from paretoforge.search.trial import Observation
    from paretoforge.spaces import Integer, Real

    space = Space([Real("x", 0.0, 1.0), Real("lr", 1e-3, 1.0, log=True), Integer("k", 1, 4),
                   Categorical("act", ["a", "b", "c"])], name="scalars")

    def f(c: dict) -> dict:
        a = {"a": 0.0, "b": 0.3, "c": 0.6}[c["act"]]
        return {"f1": c["x"], "f2": (1 - c["x"]) ** 2 + c["lr"] + 0.1 * c["k"] + a}

    ev = FunctionEvaluator(f)

    def run(seed: int) -> tuple[object, list[str]]:
        opt = create_optimizer("guided", space, ["f1", "f2"], seed=seed, n_initial=6)
        keys = []
        for _ in range(10):
            batch = opt.ask(2)
            res = ev.evaluate(batch)
            obs = [Observation(c, space.key(c), 1.0, np.array(list(r.metrics.values()))) for c, r in zip(batch, res)]
            opt.tell(obs)
            keys += [o.key for o in obs]
        return opt, keys

    opt, keys = run(5)
    assert len(set(keys)) == len(keys) == 20
    assert run(5)[1] == keys and run(6)[1] != keys
    assert opt._unit_pool_ok
    configs, X = opt._pool()
    assert isinstance(configs, _UnitRows) and len(configs) > 500
    picks = np.random.default_rng(0).choice(len(configs), 50, replace=False)
    cfgs = [configs[i] for i in picks]
    np.testing.assert_allclose(X[picks], space.encode_many(cfgs), atol=1e-9)
    assert len({space.key(configs[i]) for i in range(len(configs))}) == len(configs)
    assert not {space.key(configs[i]) for i in range(len(configs))} & set(keys)


def test_the_acquisition_scores_the_result_with_the_fitted_noise() -> None:
    """With ``observation_noise`` a candidate's spread is its model's uncertainty plus the fitted
    noise (in variance), so an evaluated point of a noisy objective keeps the noise's spread;
    ``"auto"`` (the default) does so for the objectives marked ``noisy`` only."""
    space = _toy_space()
    rng = np.random.default_rng(0)

    def noisy(c: dict) -> dict[str, float]:
        out = _toy(c)
        return {"size": out["size"], "err": out["err"] + float(rng.normal(0.0, 0.3))}

    objectives = [Objective("size"), Objective("err", noisy=True)]
    study = Study("noisy", space, FunctionEvaluator(noisy, metrics=("size", "err")), objectives, optimizer="guided",
                  optimizer_settings={"n_initial": 30}, seed=0, batch_size=30)
    study.optimize(n_evaluations=30)
    opt = study.optimizer
    assert opt.observation_noise == "auto"
    opt._fit()
    seen = opt._x([t.config for t in study.trials if t.state == TrialState.COMPLETE])
    noise = np.array([m.noise_std() for m in opt._models])
    latent = np.column_stack([m.predict(opt._plain(opt._encode(seen)))[1] for m in opt._models])
    assert noise[1] > 0.1 and noise[0] > 0  # the noisy error's model fitted its noise
    means = []
    for setting, covered in (("auto", [False, True]), (True, [True, True]), (False, [False, False])):
        opt.observation_noise = setting
        (_, mean, std), = opt._predict_sets(seen)
        np.testing.assert_allclose(std, np.sqrt(latent ** 2 + (noise * np.array(covered)) ** 2))
        means.append(mean)
    np.testing.assert_allclose(means[1], means[0])  # the noise widens the spread, never moves the mean
    np.testing.assert_allclose(means[2], means[0])
    with pytest.raises(ValueError, match="observation_noise"):
        create_optimizer("guided", space, ["size", "err"], observation_noise="yes")
    with pytest.raises(ConfigError, match="noisy"):
        Objective("err", noisy="yes")  # type: ignore[arg-type]


def test_the_studys_reference_point_is_the_acquisitions() -> None:
    """A study's reference point (in the objectives' own directions) reaches the acquisition in
    minimised units; a ``reference_point`` setting of the optimizer wins over it."""
    from paretoforge.spaces import Real

    space = Space([Real("x", 0.0, 1.0), Real("y", 0.0, 1.0)], name="square")
    ev = FunctionEvaluator(lambda c: {"cost": c["x"] + c["y"], "acc": 1.0 - c["x"] * c["y"]}, metrics=("cost", "acc"))
    objectives = [Objective("cost", "minimize"), Objective("acc", "maximize")]
    opt = create_optimizer("guided", space, objectives, seed=0, n_initial=4)
    study = Study("square", space, ev, objectives, optimizer=opt, seed=0, batch_size=1, reference_point=[2.5, 0.2])
    study.optimize(n_evaluations=6)
    np.testing.assert_allclose(opt._front_and_ref()[1], [2.5, -0.2])
    own = create_optimizer("guided", space, objectives, seed=0, n_initial=4, reference_point=[3.0, 0.0])
    Study("square2", space, ev, objectives, optimizer=own, seed=0, batch_size=1, reference_point=[2.5, 0.2])
    np.testing.assert_allclose(own.reference_point, [3.0, 0.0])
    plain = create_optimizer("guided", space, objectives, seed=0, n_initial=4)
    Study("square3", space, ev, objectives, optimizer=plain, seed=0, batch_size=1)
    assert plain.reference_point is None


def _budget_bits() -> tuple[Space, Callable[[dict], np.ndarray]]:
    """16 positions of 2 / 3 / 4 / 8 bits under an average of 4.5, and (total bits, an error
    that falls 4x per extra bit, weighted more on later positions)."""
    from paretoforge.spaces import BudgetConstraint

    space = Space([ChoiceSequence("bits", 16, [2, 3, 4, 8], ordered=True)],
                  constraints=[BudgetConstraint("bits", 16 * 4.5)], costs={"bits": lambda c: float(sum(c["bits"]))},
                  name="bits")
    s = np.linspace(1.0, 4.0, 16)

    def f(c: dict) -> np.ndarray:
        b = np.asarray(c["bits"], dtype=float)
        return np.array([float(b.sum()), float((s * 4.0 ** (2.0 - b)).sum())])

    return space, f


def test_budget_pool_is_feasible_and_moves_along_the_budget() -> None:
    """Under a budget constraint the pool is a unit-cube matrix too: every candidate meets the
    budget as it is (infeasible rows are dropped, or repaired by the space), its encodings are
    the configurations', and it holds swaps of the best results (one layer a step up, another a
    step down), the moves that follow a budget the best results sit on."""
    from paretoforge.search.optimizers.guided import _UnitRows
    from paretoforge.search.trial import Observation
    from paretoforge.spaces import BudgetConstraint

    levels = [2, 3, 4, 8]
    space, f = _budget_bits()

    opt = create_optimizer("guided", space, ["bits", "error"], seed=0, n_initial=8)
    for _ in range(10):
        out = opt.ask(2)
        assert all(space.is_feasible(c) for c in out)
        opt.tell([Observation(c, space.key(c), 1.0, f(c)) for c in out])
    assert opt._unit_pool_ok
    configs, X = opt._pool()
    assert isinstance(configs, _UnitRows) and len(configs) > 300
    pool = [configs[i] for i in range(len(configs))]
    assert all(space.is_feasible(c) for c in pool)
    np.testing.assert_array_equal(X, space.encode_many(pool))
    assert len({space.key(c) for c in pool}) == len(pool)
    rank = {b: i for i, b in enumerate(levels)}
    parents = [np.array([rank[b] for b in p["bits"]]) for p in opt._parents()[:10]]
    swaps = 0
    for c in pool:
        r = np.array([rank[b] for b in c["bits"]])
        swaps += any(sorted((r - p)[r != p].tolist()) == [-1, 1] for p in parents)
    assert swaps >= 200  # 66 without the swap moves
    # a budget that random points rarely meet: repairs bring the feasible rows to a quarter
    tight = Space([ChoiceSequence("bits", 16, levels, ordered=True)], constraints=[BudgetConstraint("bits", 16 * 3)],
                  costs={"bits": lambda c: float(sum(c["bits"]))}, name="tight")
    U = np.random.default_rng(1).random((400, tight.unit_dim))
    assert tight.feasible_unit(U).sum() < 40
    V, XV = create_optimizer("guided", tight, ["bits", "error"], seed=0)._feasible_rows(U)
    feasible = tight.decode_unit(V)
    assert len(V) >= 100 and all(tight.is_feasible(c) for c in feasible)
    np.testing.assert_array_equal(XV, tight.encode_many(feasible))


def test_subset_pool_swaps_adds_and_drops_members() -> None:
    """On a subset space too large to enumerate, the pool is a unit-cube matrix too, and its
    moves reach the best results' one-step neighbours (one member swapped, added or dropped):
    the item scores are drawn apart before they are moved, not left at 0 / 1."""
    from paretoforge.search.optimizers.guided import _UnitRows
    from paretoforge.search.trial import Observation
    from paretoforge.spaces import Subset

    space = Space([Subset("keep", 20, k_min=1, k_max=20)], name="blocks")
    w = np.linspace(1.0, 3.0, 20)

    def f(c: dict) -> np.ndarray:
        drop = np.ones(20, dtype=bool)
        drop[c["keep"]] = False
        return np.array([float(len(c["keep"])), float(w[drop].sum() + 2.0 * (drop[:-1] & drop[1:]).sum())])

    opt = create_optimizer("guided", space, ["kept", "error"], seed=0, n_initial=8)
    for _ in range(8):
        opt.tell([Observation(c, space.key(c), 1.0, f(c)) for c in opt.ask(2)])
    assert opt._unit_pool_ok
    configs, X = opt._pool()
    assert isinstance(configs, _UnitRows) and len(configs) > 300
    pool = [set(configs[i]["keep"]) for i in range(len(configs))]
    np.testing.assert_array_equal(X, space.encode_many([configs[i] for i in range(len(configs))]))
    parents = [set(c["keep"]) for c in opt._parents()[:10]]
    one_step = [q for q in pool if any(len(q ^ p) == 1 or (len(q ^ p) == 2 and len(q) == len(p)) for p in parents)]
    assert len(one_step) >= 160  # 88 with the scores left at 0 / 1
    assert any(len(q) == len(p) and len(q ^ p) == 2 for q in one_step for p in parents)  # swaps
    assert any(len(q ^ p) == 1 and len(q) > len(p) for q in one_step for p in parents)  # additions


def _distinct(space: Space, n: int, seed: int) -> list[dict]:
    rng, out = np.random.default_rng(seed), {}
    while len(out) < n:
        c = space.sample(rng)
        out.setdefault(space.key(c), c)
    return list(out.values())


def test_initial_configurations_are_sent_first_then_the_design_fills_up() -> None:
    """``initial``: given configurations first (repaired, de-duplicated), random ones up to
    ``n_initial``, then guided proposals; more given than ``n_initial`` are all sent before the
    first fit; ``"space"`` takes the space's ``initial_configs``; a study that resumes sends nothing twice."""
    from paretoforge.search.trial import Observation

    space = _toy_space()
    given = _distinct(space, 3, 5)
    opt = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=5, initial=given + [given[0]])
    first = opt.ask(5)
    assert [space.key(c) for c in first[:3]] == [space.key(c) for c in given]
    assert len({space.key(c) for c in first}) == 5
    # the same seed without `initial` draws other configurations
    plain = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=5).ask(5)
    assert [space.key(c) for c in plain[:3]] != [space.key(c) for c in given]

    many = _distinct(space, 12, 6)
    opt = create_optimizer("guided", space, ["size", "err"], seed=1, n_initial=4, initial=many)
    sent = []
    for _ in range(3):  # 12 given, 4 per batch: no fit before all 12 are sent
        batch = opt.ask(4)
        sent += batch
        opt.tell([Observation(c, space.key(c), 1.0, np.array(list(_toy(c).values()))) for c in batch])
    assert [space.key(c) for c in sent] == [space.key(c) for c in many]
    assert opt.round == 0 and len(opt.ask(2)) == 2 and opt.round == 1

    space.initial_configs = given  # a space's own known-good points, on request
    opt = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=5, initial="space")
    assert [space.key(c) for c in opt.ask(3)] == [space.key(c) for c in given]
    with pytest.raises(ValueError, match="'initial' is 'best'; allowed: 'space'"):
        create_optimizer("guided", space, ["size", "err"], seed=0, initial="best")
    with pytest.raises(ValueError, match="'initial: space' needs a space with initial_configs .* has none"):
        create_optimizer("guided", _toy_space(), ["size", "err"], seed=0, initial="space")


def _full_and_resumed(tmp_path: Path, make_space: Callable[[], Space], fn: Callable, objectives: list[str],
                      settings: dict, seed: int, stop: int, total: int) -> tuple[list[str], list[str]]:
    """Keys sent by a guided study run in one go to ``total``, and by the same study stopped after
    ``stop`` (sqlite store) and resumed to ``total``, in trial order."""
    def study(**kw: Any) -> Study:
        return Study("resume", make_space(), FunctionEvaluator(fn), objectives, optimizer="guided",
                     optimizer_settings=settings, seed=seed, **kw)

    path = f"sqlite:///{tmp_path / 'resume.db'}"
    full = study().optimize(total)
    study(storage=path).optimize(stop)
    resumed = study(storage=path, resume=True).optimize(total)
    return ([t.key for t in sorted(full.trials, key=lambda t: t.number)],
            [t.key for t in sorted(resumed.trials, key=lambda t: t.number)])


def test_study_with_initial_configurations_resumes_without_repeats(tmp_path: Path) -> None:
    space = _toy_space()
    given = _distinct(space, 4, 9)
    settings = {"n_initial": 6, "initial": given}
    full, keys = _full_and_resumed(tmp_path, _toy_space, _toy, ["size", "err"], settings, seed=2, stop=8, total=14)
    assert keys[:4] == [space.key(c) for c in given]
    assert len(set(keys)) == len(keys) == 14
    assert keys == full


def test_centred_rows_spread_the_sums_over_many_coordinates() -> None:
    """``centred_rows``: on a unit-cube pool of 36 ordered positions, rows drawn around one
    centre each reach average levels that independent uniform rows never do; 0 keeps the pool."""
    from paretoforge.search.trial import Observation

    space = Space([ChoiceSequence("bits", 36, [2, 3, 4, 8], ordered=True)])

    def pool_means(frac: float) -> np.ndarray:
        opt = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=4, centred_rows=frac,
                               initial_design="random")
        cfgs = opt.ask(4)
        opt.tell([Observation(c, space.key(c), 1.0, np.array([np.mean(c["bits"]), 1.0 / np.mean(c["bits"])]))
                  for c in cfgs])
        rows, _ = opt._unit_pool()
        return np.array([np.mean(rows[i]["bits"]) for i in range(len(rows))])

    plain, centred = pool_means(0.0), pool_means(1.0)
    assert plain.min() > 3.0 and plain.max() < 5.6  # independent draws stay near 4.25 bits
    assert centred.min() < 2.6 and centred.max() > 6.5
    with pytest.raises(ValueError, match="'centred_rows' must be a fraction"):
        create_optimizer("guided", space, ["size", "err"], seed=0, centred_rows=1.5)


def test_centred_rows_auto_centres_ordered_sequences_only() -> None:
    """``centred_rows="auto"`` (the default) centres half the random rows on a space made only of
    ordered choice sequences, where sums over positions matter (bit-widths, model sizes), and none
    on any other space; the pool it draws equals the explicit setting's."""
    from paretoforge.search.trial import Observation

    bits = Space([ChoiceSequence("bits", 36, [2, 3, 4, 8], ordered=True)])
    assert create_optimizer("guided", bits, ["size", "err"], seed=0).centred_rows == 0.5
    for other in (Space([ChoiceSequence("ops", 6, ["a", "b", "c"])]),  # unordered choices
                  Space([ChoiceSequence("bits", 6, [2, 4, 8], ordered=True), Real("x", 0.0, 1.0)]),
                  Space([RealVector("v", 6, 0.0, 1.0)])):
        assert create_optimizer("guided", other, ["size", "err"], seed=0).centred_rows == 0.0

    def pool_keys(**settings: Any) -> list[str]:
        opt = create_optimizer("guided", bits, ["size", "err"], seed=0, n_initial=4, **settings)
        cfgs = opt.ask(4)
        opt.tell([Observation(c, bits.key(c), 1.0, np.array([np.mean(c["bits"]), 1.0 / np.mean(c["bits"])]))
                  for c in cfgs])
        rows, _ = opt._unit_pool()
        return [bits.key(rows[i]) for i in range(len(rows))]

    assert pool_keys() == pool_keys(centred_rows=0.5) != pool_keys(centred_rows=0.0)
    assert create_optimizer("guided", bits, ["size", "err"], seed=0).initial_design == "centred"
    assert create_optimizer("guided", other, ["size", "err"], seed=0).initial_design == "random"
    with pytest.raises(ValueError, match="'centred_rows' must be a fraction in \\[0, 1\\] or 'auto'"):
        create_optimizer("guided", bits, ["size", "err"], seed=0, centred_rows="yes")


def test_centred_initial_design_reaches_the_extremes_of_ordered_sequences() -> None:
    """``initial_design="centred"``: every second configuration of the initial design lies around
    one random centre, so the first ten include allocations of mostly low or mostly high bits,
    which independent random positions (``"random"``) never reach; distinct, and seeded."""
    space = Space([ChoiceSequence("bits", 36, [2, 3, 4, 8], ordered=True)])

    def first(design: str, seed: int) -> list[float]:
        opt = create_optimizer("guided", space, ["size", "err"], seed=seed, n_initial=10, initial_design=design)
        cfgs = opt.ask(10)
        assert len({space.key(c) for c in cfgs}) == 10
        return [float(np.mean(c["bits"])) for c in cfgs]

    rand = np.array([first("random", s) for s in range(4)])
    cent = np.array([first("centred", s) for s in range(4)])
    assert ((rand > 3.0) & (rand < 5.6)).all()  # 36 independent positions average near 4.25 bits
    assert cent[:, 1::2].min() < 3.0 and cent[:, 1::2].max() > 5.6
    assert np.abs(cent[:, 1::2] - 4.25).mean() > 2 * np.abs(cent[:, 0::2] - 4.25).mean()
    assert first("centred", 0) == cent[0].tolist()
    with pytest.raises(ValueError, match="'initial_design' must be"):
        create_optimizer("guided", space, ["size", "err"], seed=0, initial_design="sobol")


def test_centred_start_resumes_exactly(tmp_path: Path) -> None:
    """A study on an ordered sequence (the centred start by default) stopped inside its initial
    design resumes to the same configurations as a study run in one go."""

    def bits_space() -> Space:
        return Space([ChoiceSequence("bits", 12, [2, 3, 4, 8], ordered=True)], name="bits12")

    def f(c: dict) -> dict[str, float]:
        b = np.asarray(c["bits"], dtype=float)
        return {"size": float(b.mean()), "err": float((4.0 ** -b * np.linspace(1.0, 3.0, 12)).sum())}

    full, keys = _full_and_resumed(tmp_path, bits_space, f, ["size", "err"], {"n_initial": 8}, seed=4, stop=5, total=14)
    assert len(set(keys)) == 14 and keys == full


def _sphere_space() -> Space:
    from paretoforge.spaces import RealVector

    return Space([RealVector("x", 12, -1.0, 1.0)], name="sphere12")


def _sphere(c: dict) -> dict[str, float]:
    x = np.asarray(c["x"], dtype=float)
    return {"loss": float(((x - 0.3) ** 2).sum())}


def test_trust_region_keeps_the_pool_in_boxes_that_shrink_on_failures_and_grow_on_successes() -> None:
    """``trust_region``: every pool row lies within half the box side (L-infinity, unit cube)
    of a centre, the best result for one objective; the side halves after
    ``max(4, ceil(d / 4))`` guided results in a row that do not improve, doubles after 3 in a
    row that do, restarts from the initial side once under ``TrustRegion.MIN_SIDE``; the initial design and
    0 (off) leave the side alone; a bad side, or a space without a unit-cube pool, names the key."""
    from paretoforge.search.trial import Observation

    space = _sphere_space()
    opt = create_optimizer("guided", space, ["loss"], seed=0, n_initial=4, trust_region=0.4)
    assert opt._trust.fail_tolerance == 4  # d = 12: max(4, 3)

    def told(x: float) -> Observation:
        c = {"x": [x] * 12}
        return Observation(c, space.key(c), 1.0, np.array([_sphere(c)["loss"]]))

    opt.tell([told(v) for v in (-0.9, -0.5, 0.9, 0.25)])  # the initial design: best at 0.25
    assert opt._trust.side == 0.4
    rows, _ = opt._unit_pool()
    U = np.stack([space.to_unit(rows[i]) for i in range(len(rows))])
    centre = space.to_unit({"x": [0.25] * 12})
    assert len(U) > 100 and np.abs(U - centre).max() <= 0.2 + 1e-9
    assert np.abs(U - centre).max() > 0.15  # the box is filled, not only the centre's neighbours
    opt.tell([told(v) for v in (-0.8, -0.7, 0.8, 0.85)])  # four guided results, none better
    assert opt._trust.side == pytest.approx(0.2)
    opt.tell([told(v) for v in (0.26, 0.27, 0.28)])  # each better than the best before it
    assert opt._trust.side == pytest.approx(0.4)
    for k in range(4 * 6):  # 6 halvings: under MIN_SIDE (0.4 / 64), back to the initial side
        opt.tell([told(-0.95 + 1e-4 * k)])
    assert opt._trust.side == pytest.approx(0.4)
    off = create_optimizer("guided", space, ["loss"], seed=0, n_initial=4)
    off.tell([told(v) for v in (-0.9, -0.5, 0.9, 0.25)])
    rows, _ = off._unit_pool()
    assert max(np.abs(space.to_unit(rows[i]) - centre).max() for i in range(len(rows))) > 0.5
    with pytest.raises(ValueError, match="'trust_region' must be a box side"):
        create_optimizer("guided", space, ["loss"], seed=0, trust_region=2.0)
    with pytest.raises(ValueError, match="'trust_region' applies to .* 'toy' has none: it is enumerated"):
        create_optimizer("guided", _toy_space(), ["size", "err"], seed=0, trust_region=0.5)


def test_trust_region_search_beats_random_and_resumes_exactly(tmp_path: Path) -> None:
    """On a 12-dimensional sphere, guided in a trust region gets lower after 30 evaluations
    than random search on every seed, and a study stopped after 16 resumes to the same 24
    configurations (the box is rebuilt from the replayed results)."""
    for seed in (0, 1, 2):
        best = {}
        for name, settings in (("guided", {"n_initial": 8, "trust_region": 0.8}), ("random", {})):
            st = Study(f"s{seed}{name}", _sphere_space(), FunctionEvaluator(_sphere), ["loss"], optimizer=name,
                       optimizer_settings=settings, seed=seed).optimize(30)
            best[name] = min(t.metrics["loss"] for t in st.trials if t.state == TrialState.COMPLETE)
        assert best["guided"] < 0.5 * best["random"], (seed, best)
    settings = {"n_initial": 6, "trust_region": 0.5}
    full, keys = _full_and_resumed(tmp_path, _sphere_space, _sphere, ["loss"], settings, seed=3, stop=16, total=24)
    assert len(keys) == 24 and keys == full


def test_trust_region_under_a_budget_with_two_objectives() -> None:
    """Two objectives under a budget: the boxes are centred on the first front (several
    results); boxes too narrow to move a discrete position are widened for the pool (not in the
    trust region's state) until they hold new configurations; every pool row meets the budget,
    and all rows but the few repaired ones lie in a box; a result that an earlier one dominates
    is a failure."""
    from paretoforge.search.trial import Observation

    space, f = _budget_bits()

    opt = create_optimizer("guided", space, ["bits", "error"], seed=0, n_initial=8, trust_region=0.3,
                           initial_design="random")  # a start whose proposals do not grow the boxes yet
    for _ in range(6):
        out = opt.ask(2)
        assert all(space.is_feasible(c) for c in out)
        opt.tell([Observation(c, space.key(c), 1.0, f(c)) for c in out])
    configs, _ = opt._unit_pool()
    assert opt._pool_boxes is not None
    centres, pool_side = opt._pool_boxes
    assert len(centres) > 1
    # a side of 0.3 moves no 4-level position (a step is 1/3): this pool's boxes doubled
    assert opt._trust.side == 0.3 and pool_side == pytest.approx(0.6) and len(configs) > 100
    U = np.stack([space.to_unit(configs[i]) for i in range(len(configs))])
    assert all(space.is_feasible(configs[i]) for i in range(len(configs)))
    # boxes of +-0.3 around a level reach at most the next level (1/3 away) once decoded
    inside = (np.abs(U[:, None, :] - centres[None]).max(2) <= 1.0 / 3.0 + 1e-9).any(1)
    assert inside.mean() > 0.9
    side, fails = opt._trust.side, opt._trust.failures
    worst = {"bits": [8] * 9 + [2] * 7}
    opt.tell([Observation(worst, space.key(worst), 1.0, np.array([1e3, 1e3]))])
    assert (opt._trust.failures, opt._trust.successes) == (fails + 1, 0) or opt._trust.side == side / 2


@pytest.mark.parametrize(("key", "bad", "message"), [
    ("prefilter", 0, "'prefilter' must be an integer >= 1, got 0"),
    ("n_samples", 2.5, "'n_samples' must be an integer >= 1, got 2.5"),
    ("pool_size", "many", "'pool_size' must be an integer >= 1, got 'many'"),
    ("evolve_size", True, "'evolve_size' must be an integer >= 1, got True"),
    ("max_retries", -1, "'max_retries' must be an integer >= 1"),
    ("enumerate_limit", float("inf"), "'enumerate_limit' must be an integer >= 0"),
    ("score_budget", 0, "'score_budget' must be a number > 0"),
    ("failure_length_scale", None, "'failure_length_scale' must be a number > 0, got None"),
    ("failure_aversion", -0.5, "'failure_aversion' must be a number >= 0"),
    ("n_initial", 0, "'n_initial' must be an integer >= 1, got 0"),
    ("refine", -1, "'refine' must be an integer >= 0"),
    ("equivalents", 0, "'equivalents' must be an integer >= 1"),
    ("duplicate_aversion", -1, "'duplicate_aversion' must be a number >= 0"),
])
def test_bad_sizes_and_scales_are_named(key: str, bad: object, message: str) -> None:
    """A size or scale of the search's own work that would make it silently do nothing (a screen
    keeping no candidate, no Monte-Carlo draw) or fail deep inside a round is refused up front."""
    problem = get_problem("zdt1")
    with pytest.raises(ValueError, match=re.escape(message)):
        create_optimizer("guided", problem.space, problem.objectives, **{key: bad})


def test_numeric_sizes_written_as_text_or_floats_still_work() -> None:
    problem = get_problem("zdt1")
    opt = create_optimizer("guided", problem.space, problem.objectives, prefilter="1.5e3", score_budget="2e8",
                           n_samples=64.0)
    assert (opt.prefilter, opt.score_budget, opt.n_samples) == (1500, 2e8, 64)


def test_a_predictor_instance_is_a_template_each_objective_gets_its_own_model() -> None:
    """With a Predictor object as ``predictor``, each objective's model is a fresh copy: one shared
    object was refitted per objective, so every objective was predicted by the last one's model
    (f1's predictions then ranked its results backwards), and the caller's object was changed."""
    from paretoforge.predictors.gp import GaussianProcess

    problem = get_problem("zdt1", n_var=3)
    template = GaussianProcess(seed=0)
    study = Study("tmpl", problem.space, problem.evaluator(), problem.objectives, optimizer="guided",
                  optimizer_settings={"predictor": template, "n_initial": 6}, seed=0)
    study.optimize(n_evaluations=30)
    models = study.optimizer._models
    assert len({id(m) for m in models}) == 2 and all(m is not template for m in models)
    assert getattr(template, "_X", None) is None  # the template itself is never fitted
    tau_f1, tau_f2 = study.optimizer.kendall_tau()
    assert tau_f1 > 0.5 and tau_f2 > 0.5
    with pytest.raises(TypeError, match=r"unknown predictor_settings \['ardd'\]; allowed: \['ard'"):
        create_optimizer("guided", problem.space, problem.objectives, predictor_settings={"ardd": True})


def test_settings_that_would_silently_change_the_search_are_errors(caplog) -> None:
    """A low fidelity at the study's own fidelity turned the search into random search; a reference
    point setting of the wrong length crashed after evaluations; bad feature rows failed deep in
    a reshape; an initial configuration out of bounds was clipped without a word."""
    from paretoforge.spaces import BudgetConstraint

    space = Space([Real("x", 0, 1), Real("y", 0, 1)])
    ev = FunctionEvaluator(lambda c: {"a": c["x"], "b": (1 - c["x"]) ** 2 + c["y"]})
    with pytest.raises(ValueError, match="'low_fidelity' 1 must be below the study's fidelity 1"):
        Study("lf", space, ev, ["a", "b"], optimizer="guided", optimizer_settings={"low_fidelity": 1.0, "n_low": 3})
    with pytest.raises(ValueError, match="'n_low' must be an integer >= 1"):
        create_optimizer("guided", space, [Objective("a"), Objective("b")], low_fidelity=0.5, n_low=-2)
    with pytest.raises(ValueError, match="'reference_point' must be 2 finite numbers in minimised units"):
        create_optimizer("guided", space, [Objective("a"), Objective("b")], reference_point=[1, 2, 3])
    with pytest.raises(ValueError, match=r"'initial' configuration 0: .*outside \[0.0, 1.0\]"):
        create_optimizer("guided", space, [Objective("a"), Objective("b")], initial=[{"x": 2.0, "y": 0.5}])
    study = Study("f", space, ev, ["a", "b"], optimizer="guided", seed=0,
                  optimizer_settings={"n_initial": 3, "features": lambda cs: np.zeros((len(cs) - 1, 1))})
    with pytest.raises(ValueError, match=r"'features' must give one row of finite numbers per configuration"):
        study.optimize(n_evaluations=5)
    seq = Space([ChoiceSequence("b", 3, [2, 4, 8], ordered=True)], constraints=[BudgetConstraint("size", 12)],
                costs={"size": lambda c: float(sum(c["b"]))})
    with caplog.at_level("WARNING", logger="paretoforge"):
        opt = create_optimizer("guided", seq, [Objective("a")], initial=[{"b": [8, 8, 8]}])
    assert "'initial' configuration 0 breaks a constraint" in caplog.text
    assert sum(opt._given[0]["b"]) <= 12


def test_a_reference_point_no_result_beats_is_warned_about(caplog) -> None:
    problem = get_problem("zdt1", n_var=3)
    study = Study("ref", problem.space, problem.evaluator(), problem.objectives, optimizer="guided", seed=0,
                  optimizer_settings={"n_initial": 4}, reference_point=[-1.0, -1.0])
    with caplog.at_level("WARNING", logger="paretoforge"):
        study.optimize(n_evaluations=6)
    assert caplog.text.count("is better than the reference point") == 1


def test_log_transform_true_on_a_non_positive_objective_is_warned_about_once(caplog) -> None:
    space = Space([Real("x", 0.0, 1.0)])
    f = FunctionEvaluator(lambda c: {"gain": c["x"], "cost": 1.0 + c["x"] ** 2})
    study = Study("log", space, f, [Objective("gain", "maximize"), "cost"], optimizer="guided", seed=0,
                  optimizer_settings={"n_initial": 3, "log_transform": True})
    with caplog.at_level("WARNING", logger="paretoforge"):
        study.optimize(n_evaluations=6)
    assert caplog.text.count("log_transform is true, but objective 'gain'") == 1  # maximised: negated, <= 0
    assert "objective 'cost'" not in caplog.text  # positive: its log applies
    opt = study.optimizer
    assert opt._logs == ["id", "log"]


def test_a_batch_conditions_its_spreads_on_the_members_chosen_before() -> None:
    from paretoforge.search.optimizers.guided import _BatchConditioning, _Rows
    from paretoforge.search.trial import Observation

    space = Space([Categorical("a", list("abcdefgh")), Categorical("b", list("abcdefgh"))])

    def f(c: dict) -> np.ndarray:
        i, j = "abcdefgh".index(c["a"]), "abcdefgh".index(c["b"])
        return np.array([abs(i - 3) + 0.5 * j + 0.1 * i * j, 10.0 - i - j + 0.05 * i * i])

    opt = create_optimizer("guided", space, ["f1", "f2"], seed=0, n_initial=6)
    rng = np.random.default_rng(0)
    told = [space.sample(rng) for _ in range(14)]
    opt.tell([Observation(c, space.key(c), 1.0, f(c)) for c in told])
    opt._fit()
    configs, X, sets = opt._scored_pool()
    assert isinstance(configs, _Rows) and opt._pool_cached()
    model = opt._models[0]
    column = model.covariance_columns(X[np.arange(8)])
    _, latent_sd = model.predict(X[np.arange(8)])
    assert column(0)[0] == pytest.approx(latent_sd[0] ** 2, rel=1e-6)  # a row's covariance with itself: its variance
    assert column(5)[0] == pytest.approx(column(0)[5], rel=1e-6, abs=1e-12)

    cand = np.arange(len(configs))
    spreads = [s_s[cand] for _, _, s_s in sets]
    after = _BatchConditioning(opt, X, cand, len(sets)).condition(0, spreads)[0]
    assert np.all(after <= spreads[0] + 1e-12)
    drop = spreads[0][:, 0] - after[:, 0]
    chosen = configs[0]
    near = [i for i in cand[1:] if sum(configs[i][k] == chosen[k] for k in "ab") == 1]  # one choice in common
    far = [i for i in cand[1:] if sum(configs[i][k] == chosen[k] for k in "ab") == 0]
    assert drop[0] > np.mean(drop[near]) > np.mean(drop[far]) >= 0  # most at the member, then its neighbours

    proposals = opt.ask(4)  # the batch itself: four distinct unseen configurations
    keys = [space.key(c) for c in proposals]
    assert len(set(keys)) == 4 and not set(keys) & {space.key(c) for c in told}


def test_a_batch_on_a_continuous_space_conditions_too() -> None:
    from paretoforge.search.optimizers.guided import _BatchConditioning

    problem = get_problem("zdt1", n_var=3)
    opt = create_optimizer("guided", problem.space, problem.objectives, seed=0, n_initial=6)
    study = Study("b", problem.space, problem.evaluator(), problem.objectives, optimizer=opt, seed=0, batch_size=4)
    study.optimize(n_evaluations=16)
    assert len(study.completed_trials()) == 16 and len({t.key for t in study.trials}) == 16
    opt._fit()
    configs, X, sets = opt._scored_pool()
    cand = np.arange(min(len(configs), 200))
    spreads = [s_s[cand] for _, _, s_s in sets]
    after = _BatchConditioning(opt, X, cand, len(sets)).condition(3, spreads)[0]
    drop = spreads[0] - after
    assert np.all(drop >= -1e-12) and drop[3, 0] > 0 and drop[3, 0] >= np.percentile(drop[:, 0], 90)  # near the member


def test_proposals_in_flight_condition_the_spreads_and_the_switch_turns_it_off() -> None:
    from paretoforge.search.optimizers.guided import _BatchConditioning

    problem = get_problem("zdt1", n_var=3)
    opt = create_optimizer("guided", problem.space, problem.objectives, seed=0, n_initial=6)
    Study("p", problem.space, problem.evaluator(), problem.objectives, optimizer=opt, seed=0).optimize(n_evaluations=10)
    opt._fit()
    configs, X, sets = opt._scored_pool()
    cand = np.arange(min(len(configs), 100))
    spreads = [s_s[cand] for _, _, s_s in sets]
    in_flight = opt._x([configs[int(cand[7])]])  # another worker evaluates candidate 7 right now
    cond = _BatchConditioning(opt, X, cand, len(sets), in_flight)
    after = cond.pending(spreads)[0]
    drop = spreads[0] - after
    assert cond.n_pending == 1 and drop[7].min() > 0 and np.all(drop[7] >= np.percentile(drop, 90, axis=0))
    with pytest.raises(ValueError, match="batch_conditioning"):
        create_optimizer("guided", problem.space, problem.objectives, batch_conditioning="yes")
    built = []
    original = _BatchConditioning.__init__

    def spy(self, *args, **kwargs):
        built.append(True)
        original(self, *args, **kwargs)

    _BatchConditioning.__init__ = spy
    try:
        for on in (False, True):
            o = create_optimizer("guided", problem.space, problem.objectives, seed=0, n_initial=6, batch_conditioning=on)
            s = Study("q", problem.space, problem.evaluator(), problem.objectives, optimizer=o, seed=0, batch_size=4)
            s.optimize(n_evaluations=12)
            assert len({t.key for t in s.trials}) == 12 and bool(built) == on
    finally:
        _BatchConditioning.__init__ = original


def test_a_constrained_space_is_exhausted_when_its_feasible_points_are() -> None:
    """36 of 64 configurations meet the constraint: the study counted all 64, never stopped as
    exhausted, and guided, out of unseen candidates, proposed evaluated ones for 500 rounds."""
    from paretoforge.spaces.constraints import FunctionConstraint

    space = Space([ChoiceSequence("bits", 3, [2, 4, 8, 16], ordered=True)],
                  constraints=[FunctionConstraint("small", lambda c: float(sum(c["bits"]) > 20))], name="con")
    feasible = sum(1 for _ in space.enumerate())
    assert space.cardinality == 64 and 0 < feasible < 64
    study = Study("con", space, FunctionEvaluator(lambda c: {"size": float(sum(c["bits"])),
                                                            "err": float(sum(1.0 / b for b in c["bits"]))}),
                  ["size", "err"], optimizer="guided", optimizer_settings={"n_initial": 6}, seed=0)
    study.optimize(n_evaluations=60)
    keys = {t.key for t in study.trials}
    assert {space.key(c) for c in space.enumerate()} <= keys  # every feasible point, then it stopped
    assert len(keys) == len(study.trials) < 40 and study.n_replayed == 0  # (random draws may be infeasible)
    assert study.optimizer.state()["real_evals"] == len(study.trials)
    assert study.optimizer.ask(3) == []


def test_a_result_told_again_counts_once_and_is_no_duplicate_of_itself() -> None:
    from paretoforge.search.trial import Observation

    space = _toy_space()
    opt = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=4)
    first = opt.ask(4)
    obs = [Observation(c, space.key(c), 1.0, np.array(list(_toy(c).values()))) for c in first]
    opt.tell(obs)
    before = opt.state()
    opt.tell(obs[:2])  # e.g. an asynchronous resume tells the stored results
    state = opt.state()
    assert state["real_evals"] == before["real_evals"] == 4 and state["duplicates"] == before["duplicates"]


def test_an_asynchronous_multi_fidelity_study_resumes_at_full_fidelity(tmp_path: Path) -> None:
    """On an asynchronous resume the stored results are told, not replayed through ask: the
    low-fidelity screen counted as not yet proposed, and every new evaluation was a screen again."""
    db = str(tmp_path / "amf.db")
    _mf_study(storage=db).optimize(24, asynchronous=True).close()
    resumed = _mf_study(storage=db, resume=True).optimize(32, asynchronous=True)
    fidelities = [t.fidelity for t in sorted(resumed.trials, key=lambda t: t.number)]
    assert fidelities.count(0.25) == 16 and fidelities[24:] == [1.0] * 8


def test_features_on_a_large_scale_are_pointed_out(caplog: pytest.LogCaptureFixture) -> None:
    space = _toy_space()
    opt = create_optimizer("guided", space, ["size", "err"], seed=0, n_initial=3,
                           features=lambda cs: np.array([[1000.0 * sum(c["bits"])] for c in cs]))
    with caplog.at_level("WARNING"):
        opt._x([space.sample(np.random.default_rng(0)) for _ in range(3)])
    assert "'features' gives values up to" in caplog.text and "give standardised values" in caplog.text


def test_guided_learns_where_a_metric_constraint_is_broken() -> None:
    """Nothing modelled a study's metric constraints: after the initial design every guided
    proposal broke them (ZDT1 with a metric c = x1 >= 0.3, where the unconstrained front has
    x1 = 0), and the feasible front was worse than random search's."""
    from paretoforge.search.objectives import MetricConstraint

    problem = get_problem("zdt1", n_var=4)

    def fn(c: dict) -> dict[str, float]:
        x = np.array([c[f"x{i}"] for i in range(4)])
        f1 = float(x[0])
        g = 1.0 + 9.0 * float(x[1:].mean())
        return {"f1": f1, "f2": g * (1.0 - np.sqrt(f1 / g)), "c": float(x[1])}

    study = Study("mc", problem.space, FunctionEvaluator(fn), ["f1", "f2"], optimizer="guided",
                  optimizer_settings={"n_initial": 10}, seed=0,
                  constraints=[MetricConstraint("c_min", "c", lower=0.3)])
    study.optimize(n_evaluations=30)
    late = sorted(study.trials, key=lambda t: t.number)[10:]
    broken = [t for t in late if t.metrics["c"] < 0.3]
    assert len(broken) < 0.3 * len(late)  # every one of them before


def test_the_evolved_pool_keeps_to_constraints_that_repair_does_not_meet() -> None:
    """With ``features`` (the evolved pool), proposals broke a FunctionConstraint without repair."""
    from paretoforge.spaces.constraints import FunctionConstraint

    space = Space([Real("x", 0.0, 1.0), Real("y", 0.0, 1.0)],
                  constraints=[FunctionConstraint("disk", lambda c: (c["x"] - 0.5) ** 2 + (c["y"] - 0.5) ** 2 - 0.1)])
    ev = FunctionEvaluator(lambda c: {"f1": c["x"], "f2": 1.0 - c["x"] + c["y"]})
    study = Study("disk", space, ev, ["f1", "f2"], optimizer="guided", seed=0,
                  optimizer_settings={"n_initial": 6, "features": lambda cs: np.array([[c["x"] - c["y"]] for c in cs])})
    study.optimize(n_evaluations=16)
    guided = sorted(study.trials, key=lambda t: t.number)[6:]
    assert all(space.is_feasible(t.config) for t in guided)


def test_an_initial_configuration_that_no_repair_can_fix_is_said_to_be_evaluated_as_given(caplog) -> None:
    from paretoforge.spaces.constraints import FunctionConstraint

    space = Space([Real("x", 0.0, 1.0), Real("y", 0.0, 1.0)],
                  constraints=[FunctionConstraint("disk", lambda c: (c["x"] - 0.5) ** 2 + (c["y"] - 0.5) ** 2 - 0.1)])
    with caplog.at_level("WARNING"):
        create_optimizer("guided", space, ["f1", "f2"], initial=[{"x": 0.0, "y": 0.0}])
    assert "has no repair; it is evaluated as given and counts as infeasible" in caplog.text
