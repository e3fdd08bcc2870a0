"""A trust region in the unit cube (TuRBO's rule), for optimizers whose candidates are unit-cube rows.

Candidates lie in boxes of side :attr:`TrustRegion.side` around a few centres (the best results).
The side doubles after :attr:`TrustRegion.SUCCESSES` improving results in a row, halves after
:attr:`TrustRegion.fail_tolerance` non-improving ones in a row (``max(4, ceil(d / 4))`` for ``d``
unit-cube coordinates), never exceeds :attr:`TrustRegion.MAX_SIDE`, and starts again from its
initial side once it falls under :attr:`TrustRegion.MIN_SIDE`. The box arithmetic (uniform rows in
the boxes, clipping rows into the nearest box) is stateless, so a caller may use a wider box for
one round without changing the region's state.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TrustRegion", "improves"]


class TrustRegion:
    """The side of the boxes and its run of successes and failures."""

    #: largest and smallest box side; improving results in a row that double the side
    MAX_SIDE, MIN_SIDE, SUCCESSES = 1.6, 0.5**7, 3

    def __init__(self, side: float, dim: int) -> None:
        if isinstance(side, bool) or not 0.0 < float(side) <= self.MAX_SIDE:
            raise ValueError(f"trust region: the box side must lie in (0, {self.MAX_SIDE:g}], got {side!r}")
        self.initial = float(side)
        self.side = self.initial
        self.successes = self.failures = 0
        self.fail_tolerance = max(4, math.ceil(int(dim) / 4))

    def record(self, improved: bool) -> None:
        """Grow or shrink the side after one result (``improved``: it improved on the results before it)."""
        if improved:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1
        if self.successes >= self.SUCCESSES:
            self.side, self.successes = min(2.0 * self.side, self.MAX_SIDE), 0
        elif self.failures >= self.fail_tolerance:
            self.side, self.failures = 0.5 * self.side, 0
            if self.side < self.MIN_SIDE:  # collapsed: start again from the initial side
                self.side = self.initial

    @staticmethod
    def random(centres: np.ndarray, n: int, side: float, rng: np.random.Generator) -> np.ndarray:
        """``n`` rows drawn uniformly in the boxes (side ``side``, clipped to the cube) of random centres."""
        c = centres[rng.integers(len(centres), size=n)]
        lo, hi = np.maximum(c - 0.5 * side, 0.0), np.minimum(c + 0.5 * side, 1.0)
        return lo + rng.random(lo.shape) * (hi - lo)

    @staticmethod
    def clip(U: np.ndarray, centres: np.ndarray, side: float) -> np.ndarray:
        """Rows of ``U`` clipped to the box (side ``side``) of their nearest centre (L-infinity distance)."""
        half = 0.5 * side
        near = np.abs(U[:, None, :] - centres[None, :, :]).max(2).argmin(1)
        return np.clip(U, centres[near] - half, centres[near] + half)


def improves(F: np.ndarray, v: np.ndarray) -> bool:
    """Whether ``v`` improves on the earlier results ``F`` (rows, minimised): no row is as good or
    better in every objective; with one objective, ``v`` must be lower than the best by at least
    1e-3 of the best's magnitude."""
    F = np.atleast_2d(np.asarray(F, dtype=float))
    v = np.asarray(v, dtype=float)
    tol = 1e-3 * np.abs(F.min(0)) if F.shape[1] == 1 else 0.0
    return not bool(np.any(np.all(F <= v + tol, axis=1)))
