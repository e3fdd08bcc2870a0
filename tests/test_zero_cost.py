"""Zero-cost proxies: the NAS-Bench-201 network of a cell, its synflow score, the shipped table
(recomputed here for a few cells), and the ``guided`` optimizer's ``features`` input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from paretoforge.evaluators.zero_cost import naswot, synflow
from paretoforge.predictors.base import kendall_tau
from paretoforge.predictors.gp import GaussianProcess
from paretoforge.search import Study, create_optimizer
from paretoforge.search.problems import get_problem
from paretoforge.search.problems.nasbench201 import OPS
from paretoforge.search.problems.nasbench201_network import cell_network
from paretoforge.search.problems.nasbench201_proxies import cell_proxy, load_proxy, synflow_features

CONV3 = ("nor_conv_3x3",) * 6


def test_cell_network_runs_and_a_cut_cell_outputs_nothing() -> None:
    net = cell_network(CONV3)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    # 0->1 and 0->2 cut, 0->3 cut: the output node never sees the input
    cut = ("none", "none", "nor_conv_3x3", "none", "nor_conv_3x3", "nor_conv_3x3")
    cell = cell_network(cut)[1]
    assert torch.count_nonzero(cell(torch.randn(1, 16, 8, 8))) == 0
    with pytest.raises(ValueError, match="unknown op 'conv9'"):
        cell_network(("conv9",) * 6)


def test_synflow_is_reproducible_and_follows_the_path_structure() -> None:
    a = synflow(cell_network(CONV3), (3, 32, 32), seed=3)
    assert a == synflow(cell_network(CONV3), (3, 32, 32), seed=3)
    assert a != synflow(cell_network(CONV3), (3, 32, 32), seed=4)
    assert synflow(cell_network(("none",) * 6), (3, 32, 32)) == 0.0
    # a longer chain of convolutions scores higher than one convolution beside skips
    chain = ("nor_conv_3x3", "none", "nor_conv_3x3", "none", "none", "nor_conv_3x3")
    single = ("skip_connect", "none", "none", "nor_conv_3x3", "none", "none")
    assert synflow(cell_network(chain), (3, 32, 32)) > synflow(cell_network(single), (3, 32, 32))


def test_shipped_table_matches_a_recomputation() -> None:
    table = load_proxy("synflow")
    assert table.shape == (5**6,)
    cells = list(itertools.product(OPS, repeat=6))
    for row in np.random.default_rng(0).choice(len(cells), 4, replace=False).tolist() + [0, len(cells) - 1]:
        expected = cell_proxy("synflow", cells[row])
        if np.isfinite(expected):
            assert table[row] == pytest.approx(expected, rel=1e-9)
        else:
            assert table[row] == -np.inf


def test_synflow_feature_improves_a_gp_ranking_of_nasbench201() -> None:
    problem = get_problem("nasbench201", dataset="cifar10")
    cfgs = list(problem.space.enumerate())
    err = problem.table("cifar10")[:, 0]
    ok = np.flatnonzero(np.isfinite(err))
    X = problem.space.encode_many(cfgs)
    Xf = np.hstack([X, synflow_features(cfgs)])
    taus = {"plain": [], "synflow": []}
    for seed in range(3):
        rng = np.random.default_rng(seed)
        tr = rng.choice(ok, 50, replace=False)
        te = rng.choice(np.setdiff1d(ok, tr), 2000, replace=False)
        for name, data in (("plain", X), ("synflow", Xf)):
            gp = GaussianProcess(seed=seed)
            gp.bind(problem.space)
            mu, _ = gp.fit(data[tr], np.log(err[tr])).predict(data[te])
            taus[name].append(kendall_tau(mu, np.log(err[te])))
    assert np.mean(taus["synflow"]) > np.mean(taus["plain"]) + 0.08


def test_guided_appends_features_and_checks_them() -> None:
    problem = get_problem("nasbench201", dataset="cifar10")
    study = Study("nb201-zc", problem.space, problem.evaluator(), problem.objectives, optimizer="guided",
                  optimizer_settings={"n_initial": 5, "features": "nasbench201_synflow"}, seed=0)
    study.optimize(8)
    opt = study.optimizer
    assert opt._all_X.shape[1] == problem.space.width + 1
    assert len(study.trials) == 8 and opt.state()["real_evals"] == 8
    with pytest.raises(ValueError, match="unknown feature 'nope'"):
        create_optimizer("guided", problem.space, ["error", "latency"], features="nope")
    with pytest.raises(TypeError, match="'features' must be"):
        create_optimizer("guided", problem.space, ["error", "latency"], features=3)


def test_feature_objectives_are_checked() -> None:
    problem = get_problem("nasbench201", dataset="cifar10")
    with pytest.raises(ValueError, match=r"'feature_objectives' names unknown objectives \['acc'\]"):
        create_optimizer("guided", problem.space, problem.objectives, features="nasbench201_synflow",
                         feature_objectives=["acc"])


def test_synflow_steers_guided_to_more_accurate_cells() -> None:
    problem = get_problem("nasbench201", dataset="cifar10")
    best = {}
    for label, extra in (("plain", {}), ("synflow", {"features": "nasbench201_synflow",
                                                     "feature_objectives": ["error"]})):
        errs = []
        for seed in range(3):
            study = Study("nb201", problem.space, problem.evaluator(), problem.objectives, optimizer="guided",
                          optimizer_settings={"n_initial": 10, **extra}, seed=seed)
            study.optimize(40)
            errs.append(min(t.metrics["error"] for t in study.trials if t.metrics))
            if label == "synflow":
                assert set(study.optimizer._fmodels) == {0}  # a featured model for the error only
                assert study.optimizer.state()["featured_objectives"] == ["error"]
        best[label] = float(np.mean(errs))
    assert best["synflow"] < best["plain"] - 0.002


def test_naswot_table_matches_a_recomputation_and_scores_codes() -> None:
    table = load_proxy("naswot")
    cells = list(itertools.product(OPS, repeat=6))
    for row in (100, 777):
        assert table[row] == pytest.approx(cell_proxy("naswot", cells[row]), rel=1e-6)
    assert table[0] == -np.inf  # all "none": every input gets the same code
    # inputs that the ReLUs cannot tell apart score lower than distinct ones
    x = torch.randn(8, 3, 32, 32)
    net = cell_network(CONV3)
    distinct = naswot(net, x)
    same = naswot(net, x[:1].repeat(8, 1, 1, 1))
    assert np.isfinite(distinct) and (same == -np.inf or same < distinct)


def test_yaml_study_with_synflow_features_runs(tmp_path) -> None:
    from pathlib import Path

    from paretoforge.search.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "studies" / "nasbench201_guided_synflow.yaml")
    study = spec.build(output=str(tmp_path))
    study.optimize(n_evaluations=12)
    assert len(study.results().completed()) == 12
    assert study.optimizer.features is not None and set(study.optimizer._fmodels) == {0}


def test_dele_experts_pretrained_on_proxies_fix_the_cold_start() -> None:
    from paretoforge.predictors.dele import DynamicEnsemble
    from paretoforge.search.problems.nasbench201_proxies import zero_cost_features

    problem = get_problem("nasbench201", dataset="cifar10")
    cfgs = list(problem.space.enumerate())
    X = problem.space.encode_many(cfgs)
    err = problem.table("cifar10")[:, 0]
    ok = np.flatnonzero(np.isfinite(err))
    Z = zero_cost_features(cfgs)
    gains = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        pre = rng.choice(len(cfgs), 1000, replace=False)
        tr = rng.choice(ok, 10, replace=False)
        te = rng.choice(np.setdiff1d(ok, tr), 1000, replace=False)
        y = np.log(err)
        warm = DynamicEnsemble(seed=seed, epochs=100, pretrain_epochs=100)
        warm.pretrain([(X[pre], -Z[pre, k]) for k in range(Z.shape[1])])
        cold = DynamicEnsemble(seed=seed, epochs=100)
        gains.append(kendall_tau(warm.fit(X[tr], y[tr]).predict(X[te])[0], y[te])
                     - kendall_tau(cold.fit(X[tr], y[tr]).predict(X[te])[0], y[te]))
    assert np.mean(gains) > 0.1
