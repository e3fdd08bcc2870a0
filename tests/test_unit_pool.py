"""The unit-cube candidate rows on their own: neighbours of the parents, random points in the
trust boxes, and the row budget."""

import numpy as np

from paretoforge.search.optimizers.unit_pool import draw_unit_rows
from paretoforge.spaces import ChoiceSequence, RealVector
from paretoforge.spaces.space import Space


def test_rows_hold_the_parents_neighbours_and_stay_in_the_cube() -> None:
    space = Space([ChoiceSequence("bits", 6, [2, 4, 8], ordered=True)], name="bits")
    d = space.unit_dim
    P = np.random.default_rng(0).random((12, d))
    U, boxed = draw_unit_rows(space, P, np.random.default_rng(1), cap=400)
    assert boxed.start == boxed.stop  # no trust boxes
    assert U.shape == (400, d) and U.min() >= 0.0 and U.max() <= 1.0  # the row budget, filled
    # the first parent's neighbours inside the cube come first: one coordinate moved by one step
    # (an ordered choice of 3 is an integer 0..2: a step is 1/2 of the cube)
    steps = np.concatenate([P[0] - 0.5, P[0] + 0.5])
    n0 = int(((steps >= 0) & (steps <= 1)).sum())
    assert n0 >= 4
    diff = U[:n0] - P[0]
    moved = np.abs(diff) > 1e-12
    assert (moved.sum(1) == 1).all() and np.allclose(np.abs(diff[moved]), 0.5)
    U2, _ = draw_unit_rows(space, P, np.random.default_rng(1), cap=400)
    np.testing.assert_array_equal(U, U2)  # seeded: the same rows again
    # without parents: random points only
    R, _ = draw_unit_rows(space, np.zeros((0, d)), np.random.default_rng(2), cap=50)
    assert R.shape == (50, d)


def test_random_rows_lie_in_the_trust_boxes() -> None:
    space = Space([RealVector("w", 5, 0.0, 1.0)], name="w")
    P = np.full((3, 5), 0.5) + np.arange(3)[:, None] * 0.1
    centres = P[:1]
    U, boxed = draw_unit_rows(space, P, np.random.default_rng(0), cap=1000, centres=centres, side=0.2)
    assert boxed.stop > boxed.start + 100
    B = U[boxed]
    assert np.abs(B - centres[0]).max() <= 0.1 + 1e-12 and np.abs(B - centres[0]).max() > 0.08
    # centred rows (no parents: every row is random): a row's coordinates lie near one centre
    C, _ = draw_unit_rows(space, np.zeros((0, 5)), np.random.default_rng(0), cap=500, centred_rows=1.0)
    R, _ = draw_unit_rows(space, np.zeros((0, 5)), np.random.default_rng(0), cap=500)
    assert np.median(C.std(1)) < 0.17 and np.median(R.std(1)) > 0.22
