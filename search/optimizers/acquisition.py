"""Hypervolume improvement of candidate points over a front, vectorised for predictor search.

``hv_improvement(P, front, ref)`` is exact: a sweep over the front's staircase for two
objectives (all candidates at once), inclusion of each point into moocore's exact hypervolume
for more. ``expected_hv_improvement`` averages it over Monte-Carlo draws of the predictive
distribution (independent normals per objective, in a transformed space mapped back by
``inverse``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..pareto import hypervolume, non_dominated

__all__ = ["expected_hv_improvement", "hv_improvement"]


def _staircase(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strips ``[lo, hi)`` along objective 1 and the height below which objective 2 is not yet
    dominated by ``front`` inside each strip."""
    F = front[np.all(front < ref, axis=1)] if len(front) else front
    if len(F):
        F = F[non_dominated(F)]
        F = F[np.lexsort((F[:, 1], F[:, 0]))]
        F = F[np.concatenate([[True], np.diff(F[:, 0]) > 0])] if len(F) > 1 else F
    xs = F[:, 0] if len(F) else np.zeros(0)
    lo = np.concatenate([[-np.inf], xs])
    hi = np.concatenate([xs, [ref[0]]])
    h = np.concatenate([[ref[1]], F[:, 1]]) if len(F) else np.array([ref[1]])
    return lo, np.minimum(hi, ref[0]), h


def hv_improvement(P: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume that each row of ``P`` alone adds to ``front`` (minimisation, bounded by ``ref``)."""
    P = np.asarray(P, dtype=float)
    ref = np.asarray(ref, dtype=float)
    front = np.asarray(front, dtype=float).reshape(-1, len(ref))
    if len(P) == 0:
        return np.zeros(0)
    if len(ref) == 2:
        lo, hi, h = _staircase(front, ref)
        width = np.clip(hi[None, :] - np.maximum(lo[None, :], P[:, :1]), 0.0, None)
        height = np.clip(h[None, :] - P[:, 1:2], 0.0, None)
        return (width * height).sum(1)
    base = hypervolume(front, ref) if len(front) else 0.0
    out = np.zeros(len(P))
    for i, p in enumerate(P):
        if np.all(p < ref) and not (len(front) and np.any(np.all(front <= p, axis=1))):
            out[i] = hypervolume(np.vstack([front, p]), ref) - base
    return out


def expected_hv_improvement(mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray,
                            rng: np.random.Generator, n_samples: int = 32,
                            inverse: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Monte-Carlo expected hypervolume improvement of candidates with independent normal
    predictions ``mean``/``std`` (rows = candidates, columns = objectives). The same standard
    normal draws are shared by all candidates (common random numbers)."""
    n, m = mean.shape
    z = rng.standard_normal((n_samples, m))
    Y = mean[:, None, :] + std[:, None, :] * z[None, :, :]
    if inverse is not None:
        Y = inverse(Y)
    return hv_improvement(Y.reshape(-1, m), front, ref).reshape(n, n_samples).mean(1)
