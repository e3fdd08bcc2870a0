"""The unit-cube trust region on its own: the side's rule, the boxes' arithmetic, improvement."""

import numpy as np
import pytest

from paretoforge.search.optimizers.trust_region import TrustRegion, improves


def test_side_doubles_after_successes_halves_after_failures_and_restarts_when_collapsed() -> None:
    tr = TrustRegion(0.4, dim=20)
    assert tr.fail_tolerance == 5  # max(4, ceil(20 / 4))
    assert TrustRegion(0.4, dim=3).fail_tolerance == 4
    for _ in range(TrustRegion.SUCCESSES - 1):
        tr.record(True)
    assert tr.side == 0.4 and tr.successes == TrustRegion.SUCCESSES - 1
    tr.record(False)  # a failure breaks the run of successes
    assert (tr.successes, tr.failures, tr.side) == (0, 1, 0.4)
    for _ in range(TrustRegion.SUCCESSES):
        tr.record(True)
    assert tr.side == pytest.approx(0.8) and tr.successes == 0
    for _ in range(2 * TrustRegion.SUCCESSES):
        tr.record(True)
    assert tr.side == TrustRegion.MAX_SIDE  # 0.8 -> 1.6, then capped
    side, halvings = tr.side, 0
    while side >= TrustRegion.MIN_SIDE:
        for _ in range(tr.fail_tolerance):
            tr.record(False)
        halvings += 1
        side /= 2
        if side >= TrustRegion.MIN_SIDE:
            assert tr.side == pytest.approx(side)
    assert tr.side == 0.4 and halvings == 8  # 1.6 / 2**8 < 0.5**7 <= 1.6 / 2**7: back to the initial side
    for bad in (0.0, 2.0, True, -0.1):
        with pytest.raises(ValueError, match="box side"):
            TrustRegion(bad, dim=4)


def test_random_rows_lie_in_the_boxes_and_clip_moves_rows_into_the_nearest_box() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.1, 0.1, 0.1], [0.8, 0.5, 0.9]])
    R = TrustRegion.random(centres, 2000, 0.2, rng)
    assert R.shape == (2000, 3) and R.min() >= 0.0 and R.max() <= 1.0
    dist = np.abs(R[:, None, :] - centres[None]).max(2)
    assert (dist.min(1) <= 0.1 + 1e-12).all()
    assert (dist.argmin(1) == 0).mean() == pytest.approx(0.5, abs=0.05)  # both boxes used
    assert np.abs(R - centres[0]).max() > 0.09  # the box is filled, not only its centre
    U = np.array([[0.0, 0.5, 0.5], [1.0, 1.0, 1.0], [0.15, 0.12, 0.05]])
    C = TrustRegion.clip(U, centres, 0.2)
    assert C[0] == pytest.approx([0.0, 0.2, 0.2])  # nearest centre 0.1 (L-inf 0.4 vs 0.8)
    assert C[1] == pytest.approx([0.9, 0.6, 1.0])
    assert C[2] == pytest.approx(U[2])  # already inside


def test_improves_is_non_domination_with_a_relative_tolerance_for_one_objective() -> None:
    F = np.array([[1.0, 3.0], [2.0, 2.0]])
    assert improves(F, [1.5, 2.5])
    assert not improves(F, [2.0, 2.0]) and not improves(F, [2.5, 2.5])
    assert improves(F, [0.5, 5.0])
    one = np.array([[10.0], [12.0]])
    assert improves(one, [9.9]) and not improves(one, [9.995]) and not improves(one, [11.0])
