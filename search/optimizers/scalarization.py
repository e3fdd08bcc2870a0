"""ParEGO's random augmented Chebyshev scalarisation, as an acquisition for predictor search.

Each proposal draws a weight vector ``w`` uniformly from the simplex; objectives are scaled by
the range of the results so far and measured from an ideal point a little below their best values,
and a point's value is ``max_j w_j f_j + rho * sum_j w_j f_j`` (lower is better). Improving it for
any weight moves towards the front, whatever the reference point, so the acquisition needs none:
where no reference point is known and the results lie far from the front, a hypervolume box built
from the worst results rewards spreading along their extremes instead of converging (Knowles,
"ParEGO", 2006). The expected improvement of the scalarised value is averaged over Monte-Carlo draws of the
predictive normals, as :func:`~.acquisition.expected_hv_improvement` does for the hypervolume.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["IDEAL_MARGIN", "RHO", "chebyshev", "chebyshev_gain", "expected_chebyshev_improvement", "simplex_weights"]

#: weight of the augmenting sum, which breaks the ties of the max among weakly dominated points
RHO = 0.05
#: the ideal point lies this fraction of the results' range below their best values: a result that
#: is best in every objective would otherwise score 0 under every weight and could only be beaten by
#: a point that dominates it, never by one that trades one objective for another
IDEAL_MARGIN = 0.05


def simplex_weights(m: int, rng: np.random.Generator) -> np.ndarray:
    """A weight vector drawn uniformly from the ``m``-objective simplex (flat Dirichlet)."""
    if m < 1:
        raise ValueError(f"simplex_weights: need at least one objective, got {m}")
    return rng.dirichlet(np.ones(m))


def chebyshev(F: np.ndarray, weights: np.ndarray, ideal: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Augmented Chebyshev value of each row of ``F`` (last axis: objectives, minimised)."""
    d = weights * (F - ideal) / scale
    return d.max(-1) + RHO * d.sum(-1)


def _frame(front: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The ideal point and scale of ``front`` (the results), and their lowest value under ``weights``."""
    front = np.asarray(front, dtype=float)
    lo = front.min(0)
    span = front.max(0) - lo
    scale = np.where(span > 0, span, 1.0)
    ideal = lo - IDEAL_MARGIN * scale
    return ideal, scale, float(chebyshev(front, weights, ideal, scale).min())


def chebyshev_gain(F: np.ndarray, front: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``best - g(F)`` per row of ``F``, unclipped (negative where a row does not beat the results):
    how far each point improves the lowest Chebyshev value of ``front`` under ``weights``. Applied to
    optimistic predictions it screens a large pool the way the acquisition will score it."""
    ideal, scale, best = _frame(front, weights)
    return best - chebyshev(np.asarray(F, dtype=float), weights, ideal, scale)


def expected_chebyshev_improvement(mean: np.ndarray, std: np.ndarray, front: np.ndarray, weights: np.ndarray,
                                   rng: np.random.Generator, n_samples: int = 32,
                                   inverse: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Monte-Carlo ``E[max(0, best - g(Y))]`` per candidate, ``g`` the Chebyshev value under
    ``weights`` with the ideal point and the range of ``front`` (the results), ``best`` the lowest
    value among them; ``Y`` normal with ``mean``/``std`` (rows = candidates), mapped back by
    ``inverse``. The same standard normal draws serve every candidate (common random numbers)."""
    ideal, scale, best = _frame(front, weights)
    n, m = mean.shape
    z = rng.standard_normal((n_samples, m))
    Y = mean[:, None, :] + std[:, None, :] * z[None, :, :]
    if inverse is not None:
        Y = inverse(Y)
    return np.maximum(best - chebyshev(Y, weights, ideal, scale), 0.0).mean(1)
