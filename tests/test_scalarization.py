"""ParEGO's Chebyshev scalarisation (search/optimizers/scalarization.py) and guided's
``acquisition: parego``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paretoforge.search import Study, create_optimizer
from paretoforge.search.optimizers.scalarization import (
    IDEAL_MARGIN,
    RHO,
    chebyshev,
    chebyshev_gain,
    expected_chebyshev_improvement,
    simplex_weights,
)
from paretoforge.search.problems import get_problem


def test_weights_lie_on_the_simplex_and_follow_the_seed() -> None:
    a = [simplex_weights(3, np.random.default_rng(7)) for _ in range(2)]
    assert np.allclose(a[0], a[1]) and a[0].sum() == pytest.approx(1.0) and (a[0] >= 0).all()
    W = np.stack([simplex_weights(2, np.random.default_rng(s)) for s in range(200)])
    assert 0.4 < W[:, 0].mean() < 0.6 and W[:, 0].min() < 0.05 and W[:, 0].max() > 0.95  # uniform on the segment
    with pytest.raises(ValueError, match="at least one objective"):
        simplex_weights(0, np.random.default_rng(0))


def test_chebyshev_value_is_the_weighted_max_plus_the_augmenting_sum() -> None:
    F = np.array([[1.0, 3.0], [2.0, 1.0]])
    w, ideal, scale = np.array([0.25, 0.75]), np.array([0.0, 0.0]), np.array([2.0, 4.0])
    d = w * F / scale
    assert chebyshev(F, w, ideal, scale) == pytest.approx(d.max(1) + RHO * d.sum(1))


def test_a_point_that_trades_objectives_can_beat_the_best_in_both() -> None:
    """Results (0, 1) and (1, 5): (0, 1) is best in both objectives. A candidate (0.5, 0.5) trades
    the first objective for the second: it improves the scalarised value when the weight is on the
    second objective (the ideal point lies below the results), and not when it is on the first."""
    front = np.array([[0.0, 1.0], [1.0, 5.0]])
    cand, zero = np.array([[0.5, 0.5]]), np.zeros((1, 2))
    rng = np.random.default_rng(0)
    on_second = expected_chebyshev_improvement(cand, zero, front, np.array([0.0, 1.0]), rng)
    on_first = expected_chebyshev_improvement(cand, zero, front, np.array([1.0, 0.0]), rng)
    assert on_second[0] > 0 and on_first[0] == 0
    # without uncertainty the improvement is exact: best value minus the candidate's
    lo, scale = front.min(0), front.max(0) - front.min(0)
    ideal = lo - IDEAL_MARGIN * scale
    w = np.array([0.0, 1.0])
    want = chebyshev(front, w, ideal, scale).min() - chebyshev(cand, w, ideal, scale)[0]
    assert on_second[0] == pytest.approx(want)


def test_uncertainty_gives_a_worse_mean_a_chance() -> None:
    front = np.array([[0.0, 1.0], [1.0, 0.0]])
    w = np.array([0.5, 0.5])
    mean = np.array([[1.2, 1.2], [1.2, 1.2]])  # worse than (0, 1) and (1, 0) under equal weights
    std = np.array([[0.0, 0.0], [0.3, 0.3]])
    ei = expected_chebyshev_improvement(mean, std, front, w, np.random.default_rng(1), n_samples=256)
    assert ei[0] == 0 and ei[1] > 0


def test_chebyshev_gain_is_the_unclipped_improvement_of_the_best_value() -> None:
    front = np.array([[0.0, 1.0], [1.0, 0.0]])
    w = np.array([0.5, 0.5])
    lo, scale = front.min(0), front.max(0) - front.min(0)
    ideal = lo - IDEAL_MARGIN * scale
    F = np.array([[0.2, 0.2], [2.0, 2.0]])
    want = chebyshev(front, w, ideal, scale).min() - chebyshev(F, w, ideal, scale)
    got = chebyshev_gain(F, front, w)
    assert got == pytest.approx(want) and got[0] > 0 > got[1]  # the worse point keeps its (negative) order


def test_parego_screens_a_large_pool_by_the_scalarised_gain_of_every_proposal() -> None:
    """A pool larger than ``prefilter`` is cut to the candidates whose optimistic point (mean - 2 sd)
    has the largest Chebyshev gain under any of the round's weights, not the largest hypervolume
    improvement: on the front (0, 1), (1, 0) with the weight on the first objective, the optimistic
    points near (0, 5) pass; the box's favourite, (0.4, 0.4), fails."""
    problem = get_problem("zdt1")
    opt = create_optimizer("guided", problem.space, problem.objectives, seed=0, acquisition="parego", prefilter=2,
                           log_transform=False)
    opt._shifts = [None, None]  # objectives on their own scale
    front, ref = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([2.0, 2.0])
    mean = np.array([[0.4, 0.4], [0.0, 5.0], [0.02, 5.0], [0.9, 0.9], [0.05, 6.0]])
    sets = [(1.0, mean, np.zeros_like(mean))]
    w_first = [np.array([1.0, 0.0])]
    assert opt._screened(5, sets, front, ref, w_first).tolist() == [1, 2]
    assert opt._screened(5, sets, front, ref).tolist() == [0, 3]  # ehvi: the optimistic hypervolume gain
    # a batch's weights: a candidate passes on its best gain under any of them
    both = [np.array([1.0, 0.0]), np.array([0.5, 0.5])]
    opt.prefilter = 3
    assert opt._screened(5, sets, front, ref, both).tolist() == [0, 1, 3]
    assert opt._screened(2, sets, front, ref, w_first).tolist() == [0, 1]  # a pool within prefilter: all


def test_parego_scores_each_candidate_under_the_weight_it_is_given() -> None:
    """The acquisition takes its proposal's weight vector as an argument: under a weight on the first
    objective the candidate best in the first wins, under a weight on the second the other one, and
    without a weight (the default acquisition) it is the expected hypervolume improvement."""
    from paretoforge.search.optimizers.acquisition import expected_hv_improvement

    problem = get_problem("zdt1")
    opt = create_optimizer("guided", problem.space, problem.objectives, seed=0, acquisition="parego", log_transform=False)
    opt._shifts = [None, None]  # objectives on their own scale
    front, ref = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([2.0, 2.0])
    mean = np.array([[-0.2, 0.9], [0.9, -0.2]])
    std = np.full_like(mean, 0.05)

    def score(weight: np.ndarray | None) -> np.ndarray:
        return opt._ehvi(mean, std, front, ref, np.random.default_rng(0), weight)

    first, second = score(np.array([0.9, 0.1])), score(np.array([0.1, 0.9]))
    assert first[0] > first[1] and second[1] > second[0]
    expected = expected_chebyshev_improvement(mean, std, front, np.array([0.9, 0.1]), np.random.default_rng(0),
                                              opt.n_samples, opt._inverse)
    assert np.allclose(first, expected)
    hv = expected_hv_improvement(mean, std, front, ref, np.random.default_rng(0), opt.n_samples, opt._inverse)
    assert np.allclose(score(None), hv) and not np.allclose(score(None), first)


def test_guided_parego_beats_the_hypervolume_box_on_dtlz2_without_a_reference_point() -> None:
    """On DTLZ2 (three objectives, the front is the unit sphere's octant) with no reference point,
    the box of the expected hypervolume improvement is built from far-off random results and the
    search spreads along their extremes; the Chebyshev scalarisation converges instead. After 100
    evaluations its hypervolume (at the problem's reference point) is several times larger (seeds
    10 and 11; over seeds 10..29 it is larger in 19 of 20: BENCHMARKS.md)."""
    from paretoforge.search.pareto import hypervolume

    problem = get_problem("dtlz2")
    settings = {"log_transform": False, "predictor_settings": {"ard": False}}
    for seed in (10, 11):
        hv = {}
        for acq in ("ehvi", "parego"):
            opt = create_optimizer("guided", problem.space, problem.objectives, seed=seed, acquisition=acq, **settings)
            st = Study(f"d{seed}{acq}", problem.space, problem.evaluator(), problem.objectives, optimizer=opt,
                       seed=seed).optimize(100)
            F = np.array([[t.metrics[o.source] for o in problem.objectives] for t in st.trials])
            hv[acq] = hypervolume(F, problem.reference_point) / problem.best_hypervolume
        assert hv["parego"] > 0.2 and hv["parego"] > 3 * hv["ehvi"], (seed, hv)


def test_guided_parego_resumes_exactly(tmp_path: Path) -> None:
    problem = get_problem("zdt1")
    path = f"sqlite:///{tmp_path / 'p.db'}"

    def study(storage: str | None, resume: bool = False) -> Study:
        opt = create_optimizer("guided", problem.space, problem.objectives, seed=4, acquisition="parego", n_initial=6)
        return Study("p", problem.space, problem.evaluator(), problem.objectives, optimizer=opt, seed=4,
                     storage=storage, resume=resume)

    full = study(None).optimize(20)
    study(path).optimize(12)
    resumed = study(path, resume=True).optimize(20)
    keys = [t.key for t in sorted(resumed.trials, key=lambda t: t.number)]
    assert len(keys) == 20 and keys == [t.key for t in sorted(full.trials, key=lambda t: t.number)]


def test_bad_acquisition_is_named() -> None:
    problem = get_problem("zdt1")
    with pytest.raises(ValueError, match="'acquisition' must be 'ehvi' or 'parego'"):
        create_optimizer("guided", problem.space, problem.objectives, acquisition="ucb")
