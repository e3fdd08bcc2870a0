"""Pareto tools against brute force and moocore: non-dominated sets (with constraint violation),
exact hypervolume, hypervolume history, knee point and the inferred reference point."""

from __future__ import annotations

import itertools

import moocore
import numpy as np
import pytest

from paretoforge.search.pareto import (
    hypervolume,
    hypervolume_history,
    infer_reference_point,
    knee_point,
    non_dominated,
)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def brute_non_dominated(F: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    n = len(F)
    if violation is None:
        cand = np.ones(n, dtype=bool)
    else:
        feas = violation <= 0
        cand = feas if feas.any() else violation == violation.min()
    return np.array([cand[i] and not any(cand[j] and dominates(F[j], F[i]) for j in range(n))
                     for i in range(n)], dtype=bool)


def brute_hv(F: np.ndarray, ref: np.ndarray) -> float:
    """Inclusion-exclusion over the boxes of at most 12 points."""
    F = F[np.all(F < ref, axis=1)]
    total = 0.0
    for k in range(1, len(F) + 1):
        for subset in itertools.combinations(range(len(F)), k):
            corner = F[list(subset)].max(axis=0)
            total += (-1) ** (k + 1) * float(np.prod(ref - corner))
    return total


# -- non-dominated sets ----------------------------------------------------------------------
@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_non_dominated_matches_brute_force(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in (1, 2, 7, 40):
        F = rng.integers(0, 6, size=(n, m)).astype(float)  # small integers: ties and duplicates
        np.testing.assert_array_equal(non_dominated(F), brute_non_dominated(F))
        G = rng.random((n, m))
        np.testing.assert_array_equal(non_dominated(G), brute_non_dominated(G))
        # anti-correlated points: large fronts
        H = np.column_stack([rng.random(n), *(1 - rng.random(n) for _ in range(m - 1))])
        np.testing.assert_array_equal(non_dominated(H), brute_non_dominated(H))


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_non_dominated_with_violation_matches_brute_force(m: int, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for n in (1, 5, 30):
        F = rng.integers(0, 5, size=(n, m)).astype(float)
        v = np.where(rng.random(n) < 0.4, rng.integers(1, 4, size=n).astype(float), rng.choice([0.0, -1.0], n))
        mask = non_dominated(F, v)
        np.testing.assert_array_equal(mask, brute_non_dominated(F, v))
        if (v <= 0).any():
            assert np.all(v[mask] <= 0)
        # all infeasible: the least-violating points compete
        w = rng.integers(1, 4, size=n).astype(float)
        mask = non_dominated(F, w)
        np.testing.assert_array_equal(mask, brute_non_dominated(F, w))
        assert mask.any() and np.all(w[mask] == w.min())


def test_non_dominated_small_cases() -> None:
    assert non_dominated(np.zeros((0, 2))).shape == (0,)
    np.testing.assert_array_equal(non_dominated([[1, 2], [2, 1], [2, 2], [1, 2]]), [True, True, False, True])
    np.testing.assert_array_equal(non_dominated([[0, 0, 0], [0, 0, 1]]), [True, False])
    np.testing.assert_array_equal(non_dominated([[5, 5], [0, 0]], violation=[0, 1]), [True, False])
    np.testing.assert_array_equal(non_dominated([3.0, 1.0]), [True])  # one point given as a vector


# -- hypervolume -----------------------------------------------------------------------------
@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_hypervolume_matches_moocore(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in (1, 3, 20, 80):
        F = rng.random((n, m))
        if m == 2:
            F[:, 1] = 1 - F[:, 0] ** 2 + 0.2 * rng.random(n)  # a front plus dominated points
        for ref in (np.full(m, 1.5), np.full(m, 0.7)):  # the second cuts some points off
            expected = float(moocore.hypervolume(F, ref=ref))
            assert hypervolume(F, ref) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_inclusion_exclusion(m: int) -> None:
    rng = np.random.default_rng(9)
    for _ in range(20):
        F = rng.integers(0, 8, size=(int(rng.integers(1, 9)), m)).astype(float)
        ref = np.full(m, 8.0)
        assert hypervolume(F, ref) == pytest.approx(brute_hv(F, ref), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_hypervolume_of_one_point_is_its_box(m: int) -> None:
    rng = np.random.default_rng(m)
    p, ref = rng.random(m), 1.0 + rng.random(m)
    assert hypervolume([p], ref) == pytest.approx(float(np.prod(ref - p)), rel=1e-12)
    assert hypervolume(p, ref) == pytest.approx(float(np.prod(ref - p)), rel=1e-12)
    # adding a dominated point or a duplicate changes nothing
    assert hypervolume([p, p + 0.1, p], ref) == pytest.approx(float(np.prod(ref - p)), rel=1e-12)


def test_hypervolume_known_cases() -> None:
    assert hypervolume([[1, 2], [2, 1]], [3, 3]) == pytest.approx(3.0)
    assert hypervolume([[0, 0]], [2, 3]) == pytest.approx(6.0)
    assert hypervolume([[1, 1, 1], [0, 2, 2]], [3, 3, 3]) == pytest.approx(8.0 + 3.0 * 1 * 1 - 2 * 1 * 1)
    # points on or beyond the reference point's boundary add nothing
    assert hypervolume([[3, 0], [0, 3]], [3, 3]) == 0.0
    assert hypervolume([[4, 4]], [3, 3]) == 0.0
    assert hypervolume(np.zeros((0, 2)), [1, 1]) == 0.0
    assert hypervolume([[-1, -2]], [0, 0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="reference point"):
        hypervolume([[0, 0, 0]], [1, 1])


# -- history ---------------------------------------------------------------------------------
@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("with_violation", [False, True])
def test_hypervolume_history(m: int, with_violation: bool) -> None:
    rng = np.random.default_rng(3 * m + with_violation)
    n = 40
    F = rng.random((n, m))
    F[5] = 2.0  # beyond the reference point
    F[7, 0] = np.inf  # non-finite rows are skipped
    ref = np.full(m, 1.2)
    v = np.where(rng.random(n) < 0.3, 1.0, 0.0) if with_violation else None
    hist = hypervolume_history(F, ref, v)
    assert hist.shape == (n,)
    assert np.all(np.diff(hist) >= -1e-12)
    ok = np.isfinite(F).all(axis=1) & (np.zeros(n) <= 0 if v is None else v <= 0)
    assert hist[-1] == pytest.approx(hypervolume(F[ok], ref), rel=1e-12)
    for i in range(n):
        prefix = ok.copy()
        prefix[i + 1:] = False
        assert hist[i] == pytest.approx(hypervolume(F[prefix], ref) if prefix.any() else 0.0, rel=1e-12, abs=1e-15)
    assert hypervolume_history(np.zeros((0, m)), ref).shape == (0,)


# -- knee point ------------------------------------------------------------------------------
def test_knee_point_picks_the_bend_of_a_convex_front() -> None:
    front = np.array([[0.0, 1.0], [0.1, 0.4], [0.2, 0.2], [0.4, 0.1], [1.0, 0.0]])
    assert knee_point(front) == 2
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(len(front))
        assert order[knee_point(front[order])] == 2
    # scale does not matter: each objective is normalised
    assert knee_point(front * [1000.0, 0.001]) == 2
    # a smooth convex front f2 = (1 - sqrt(f1))^2: the knee is at f1 = 1/4
    x = np.linspace(0, 1, 101)
    smooth = np.column_stack([x, (1 - np.sqrt(x)) ** 2])
    assert smooth[knee_point(smooth), 0] == pytest.approx(0.25, abs=0.011)


def test_knee_point_three_objectives_and_small_fronts() -> None:
    front = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0], [0.2, 0.2, 0.2], [0, 0.5, 0.5]], dtype=float)
    assert knee_point(front) == 4
    assert knee_point([[3.0, 4.0]]) == 0
    assert knee_point([[0.0, 1.0], [1.0, 0.0]]) in (0, 1)
    with pytest.raises(ValueError):
        knee_point(np.zeros((0, 2)))


# -- reference point -------------------------------------------------------------------------
@pytest.mark.parametrize("m", [2, 3])
def test_inferred_reference_point_is_beyond_every_front_point(m: int) -> None:
    rng = np.random.default_rng(m)
    for n in (1, 2, 10, 50):
        F = rng.normal(size=(n, m)) * rng.choice([1e-3, 1.0, 1e3], size=m)
        ref = infer_reference_point(F)
        front = F[non_dominated(F)]
        assert ref.shape == (m,)
        assert np.all(front < ref)  # every front point strictly dominates the reference point
        # so every front point adds hypervolume
        total = hypervolume(front, ref)
        assert total > 0
        for i in range(len(front)):
            assert hypervolume(np.delete(front, i, axis=0), ref) < total


def test_inferred_reference_point_degenerate_fronts() -> None:
    for F in ([[0.0, 0.0]], [[-5.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]], [[0.0, 3.0], [0.0, 3.0], [1.0, 1.0]]):
        F = np.asarray(F)
        ref = infer_reference_point(F)
        assert np.all(F[non_dominated(F)] < ref)
    np.testing.assert_allclose(infer_reference_point([[0.0, 1.0], [1.0, 0.0]]), [1.1, 1.1])
    np.testing.assert_allclose(infer_reference_point([[0.0, 1.0], [1.0, 0.0]], margin=0.5), [1.5, 1.5])


def test_hypervolume_deficit_locates_the_missing_region() -> None:
    import numpy as np

    from paretoforge.search.pareto import hypervolume, hypervolume_deficit

    ref = np.array([4.0, 4.0])
    T = np.array([[0.0, 3.0], [1.0, 2.0], [3.0, 0.0]])
    F = np.array([[1.0, 2.0], [3.0, 0.0]])  # misses the point at x = 0
    edges, d = hypervolume_deficit(F, T, ref, bins=4)
    assert np.allclose(edges, [0.0, 1.0, 2.0, 3.0, 4.0])
    assert np.allclose(d, [1.0, 0.0, 0.0, 0.0])  # the strip 0 <= x < 1, heights 3..4
    # the total is exact for any front, also one that dominates part of the reference front
    G = np.array([[0.5, 1.0], [2.5, 2.5], [3.5, 3.5]])
    _, d = hypervolume_deficit(G, T, ref, bins=7)
    assert np.isclose(d.sum(), hypervolume(np.vstack([G, T]), ref) - hypervolume(G, ref))
    _, d = hypervolume_deficit(T, T, ref)
    assert np.allclose(d, 0.0)
    _, d = hypervolume_deficit(np.zeros((0, 2)), T, ref, bins=1)
    assert np.isclose(d.sum(), hypervolume(T, ref))
