"""Output warpings on their own: round trips, and the evidence's choice."""

import numpy as np
import pytest

from paretoforge.search.optimizers.warping import choose_warp, unwarp, warp_targets


def test_warpings_round_trip_and_shift_below_the_minimum() -> None:
    y = np.array([0.5, 1.0, 3.0, 10.0])
    z, c = warp_targets("id", y)
    assert c is None and z is y
    z, c = warp_targets("log", y)
    assert c == 0.0 and np.allclose(z, np.log(y))
    z, c = warp_targets(0.1, y)
    assert c == pytest.approx(0.5 - 0.1 * 9.5) and np.allclose(z, np.log(y - c))
    Y = np.column_stack([y, np.log(y), z])
    back = unwarp(Y, [None, 0.0, c])
    assert np.allclose(back, np.column_stack([y, y, y]))
    assert np.isfinite(warp_targets(0.3, np.array([-2.0, -2.0]))[0]).all()  # no range: a unit span


def test_the_evidence_picks_a_log_for_multiplicative_targets_and_the_identity_for_linear_ones() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    lin = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    mult = np.exp(4.0 * X @ np.array([1.0, -2.0, 0.5]))
    assert choose_warp(X, lin, shifts=()) == "id"
    assert choose_warp(X, mult, shifts=()) == "log"
    assert choose_warp(X, -lin, shifts=()) == "id"  # negative: no log to choose
    assert choose_warp(X, mult, shifts=(), gp=False) == "log"  # spans over 5x
    assert choose_warp(X, lin, shifts=(), gp=False) == "id"
