"""NAS-Bench-Graph's structural feature (message-passing hops per leaf) and its use by guided."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from paretoforge.search.plugins import FEATURES
from paretoforge.search.problems import NASBenchGraph
from paretoforge.search.problems.nasbench_graph_features import hops, hops_features
from paretoforge.search.study import Study


def test_hops_follow_the_links_to_each_leaf() -> None:
    assert hops([0, 0, 0, 0], ["fc", "skip", "skip", "skip"]) == (0, 0)
    assert hops([0, 1, 2, 3], ["gcn", "gat", "fc", "sage"]) == (3, 3)
    # layers 2, 3, 4 are leaves: 0 hops (fc on the input), 1 (skip after gcn), 2 (gat after gcn)
    assert hops([0, 0, 1, 1], ["gcn", "fc", "skip", "gat"]) == (2, 0)
    with pytest.raises(ValueError, match="differ in length"):
        hops([0, 0], ["gcn"])


def test_features_are_standardised_rows_of_the_space() -> None:
    problem = NASBenchGraph("cora")
    configs = list(problem.space.enumerate())
    F = hops_features(configs)
    assert F.shape == (len(configs), 2)
    np.testing.assert_allclose(F.mean(0), 0.0, atol=1e-9)
    np.testing.assert_allclose(F.std(0), 1.0, atol=1e-9)
    from nas_bench_graph.architecture import link_list

    rng = np.random.default_rng(0)
    picks = rng.choice(len(configs), 40, replace=False)
    raw = np.array([hops(link_list[configs[i]["link"]], [configs[i][f"op{k}"] for k in range(4)]) for i in picks])
    # the standardisation is affine per column, so the order of the raw hops is kept exactly
    for j in range(2):
        a, b = raw[:, j], F[picks, j]
        assert all((a[p] < a[q]) == (b[p] < b[q]) for p, q in itertools.combinations(range(len(a)), 2))
    assert FEATURES.get("nasbench_graph_hops") is hops_features


def test_zero_hops_marks_the_architectures_that_ignore_the_graph() -> None:
    problem = NASBenchGraph("cora")
    configs = list(problem.space.enumerate())
    error = problem.table("cora")[:, 0]
    largest = hops_features(configs)[:, 0]
    zero = largest == largest.min()
    assert zero.sum() == 9 * 2**4  # 9 links, 2**4 fc/skip patterns
    ok = np.isfinite(error)
    assert (zero & ~ok).sum() == 9  # all-skip cells: no GNN layer, no bench entry
    # a per-node MLP on cora: every such architecture is worse than 90% of the others
    assert error[zero & ok].min() > np.percentile(error[~zero & ok], 90)


def test_guided_takes_the_feature_by_name() -> None:
    problem = NASBenchGraph("cora")
    study = Study("nbg-hops", problem.space, problem.evaluator(), problem.objectives, optimizer="guided",
                  optimizer_settings={"n_initial": 5, "features": "nasbench_graph_hops",
                                      "feature_objectives": ["error"]}, seed=0)
    study.optimize(8)
    assert study.optimizer._all_X.shape[1] == problem.space.width + 2
    assert len(study.trials) == 8
