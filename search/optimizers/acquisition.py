"""Hypervolume improvement of candidate points over a front, vectorised for predictor search.

``hv_improvement(P, front, ref)`` is exact and, for one to three objectives, vectorised over all
candidates: for one, the improvement of the best value; for two, a sweep over the front's
staircase; for three, the region the front dominates cut into at most ``2 n + 1`` disjoint boxes
(``_dominated_boxes_3d``), whose overlaps with each candidate's box ``[p, ref]`` are subtracted
from that box's volume. For more objectives, each point is added to the front in moocore's
exact hypervolume. ``expected_hv_improvement`` averages it over Monte-Carlo draws of the
predictive distribution (independent normals per objective, in a transformed space mapped back
by ``inverse``). Closed forms: ``expected_improvement_1d`` for one objective (expected
improvement), ``expected_hv_improvement_2d`` for two (identity or shifted-exponential
back-transforms) and ``expected_hv_improvement_3d`` for three: the expected volume of the
candidate's box ``[y, ref]`` less the expected overlap with each dominated box, each a product of
1-D expectations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..pareto import hypervolume, non_dominated

__all__ = ["expected_hv_improvement", "expected_hv_improvement_2d", "expected_hv_improvement_3d",
           "expected_improvement_1d", "hv_improvement"]


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


def _front_3d(front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The distinct non-dominated points of ``front`` inside the reference box (three objectives):
    the others add nothing to the dominated region."""
    F = front[np.all(front < ref, axis=1)] if len(front) else np.zeros((0, 3))
    return np.unique(F[non_dominated(F)], axis=0) if len(F) > 1 else F


_BOXES: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}  # the last front's boxes (asked again within a proposal)


def _dominated_boxes_3d(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_boxes_3d`, remembered for the last front and reference point."""
    key = np.ascontiguousarray(front, dtype=float).tobytes() + np.asarray(ref, dtype=float).tobytes()
    hit = _BOXES.get(key)
    if hit is None:
        hit = _boxes_3d(front, ref)
        _BOXES.clear()
        _BOXES[key] = hit
    return hit


def _boxes_3d(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners of disjoint boxes whose union is the part of ``[-inf, ref]`` that
    ``front`` (three objectives) dominates.

    A sweep along the third objective: each point, in increasing order of it, adds the part of
    its 2-D box ``[f, ref]`` not yet dominated by the points before it (one rectangle per strip
    of their staircase that it reaches), extended from its third value up to ``ref``. A strip it
    reaches ends at a point it dominates, or is the last, so all the boxes number at most 2 n + 1."""
    F = _front_3d(front, ref)
    F = F[np.argsort(F[:, 2], kind="stable")]
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    sx, sy = np.zeros(0), np.zeros(0)  # staircase of the points so far: x increasing, y decreasing
    for f in F:
        lo = np.concatenate([[-np.inf], sx])
        hi = np.minimum(np.concatenate([sx, [ref[0]]]), ref[0])
        h = np.concatenate([[ref[1]], sy])
        x0 = np.maximum(lo, f[0])
        keep = (hi > x0) & (h > f[1])
        for a, b, c in zip(x0[keep], hi[keep], h[keep]):
            lows.append(np.array([a, f[1], f[2]]))
            highs.append(np.array([b, c, ref[2]]))
        if keep.any():  # f is not weakly dominated in 2-D: it joins the staircase, which drops what it covers
            stay = ~((sx >= f[0]) & (sy >= f[1]))
            at = int(np.searchsorted(sx[stay], f[0]))
            sx = np.insert(sx[stay], at, f[0])
            sy = np.insert(sy[stay], at, f[1])
    if not lows:
        return np.zeros((0, 3)), np.zeros((0, 3))
    return np.stack(lows), np.stack(highs)


def hv_improvement(P: np.ndarray, front: np.ndarray, ref: np.ndarray, chunk: int = 4_000_000) -> np.ndarray:
    """Hypervolume that each row of ``P`` alone adds to ``front`` (minimisation, bounded by ``ref``)."""
    P = np.asarray(P, dtype=float)
    ref = np.asarray(ref, dtype=float)
    front = np.asarray(front, dtype=float).reshape(-1, len(ref))
    if len(P) == 0:
        return np.zeros(0)
    if len(ref) == 1:  # one objective: the improvement of the best value, bounded by ref
        best = min(float(ref[0]), float(front.min())) if len(front) else float(ref[0])
        return np.clip(best - P[:, 0], 0.0, None)
    if len(ref) == 2:
        lo, hi, h = _staircase(front, ref)
        width = np.clip(hi[None, :] - np.maximum(lo[None, :], P[:, :1]), 0.0, None)
        height = np.clip(h[None, :] - P[:, 1:2], 0.0, None)
        return (width * height).sum(1)
    if len(ref) == 3:
        F = _front_3d(front, ref)
        lower, upper = _dominated_boxes_3d(F, ref)
        out = np.zeros(len(P))
        # only points inside the reference box and not weakly dominated by the front improve it
        live = np.flatnonzero(np.all(P < ref, axis=1))
        if len(F) and len(live):
            step = max(1, chunk // max(3 * len(F), 1))
            hit = np.concatenate([(P[live[s:s + step], None, :] >= F[None]).all(-1).any(1)
                                  for s in range(0, len(live), step)])
            live = live[~hit]
        Q = P[live]
        gain = (ref[None, :] - Q).prod(1)
        step = max(1, chunk // max(3 * len(lower), 1))
        for s in range(0, len(Q) if len(lower) else 0, step):
            q = Q[s:s + step, None, :]
            side = np.clip(upper[None] - np.maximum(lower[None], q), 0.0, None)
            gain[s:s + step] -= side.prod(-1).sum(1)
        out[live] = np.clip(gain, 0.0, None)
        return out
    # four or more objectives: one exact hypervolume per point that can improve the front; the points
    # that cannot (outside the reference box, or weakly dominated by the front) are found at once
    front = front[np.all(front < ref, axis=1)]  # what the hypervolume keeps of it anyway
    base = hypervolume(front, ref) if len(front) else 0.0
    out = np.zeros(len(P))
    live = np.flatnonzero(np.all(P < ref, axis=1))
    if len(front) and len(live):
        step = max(1, chunk // max(len(ref) * len(front), 1))
        hit = np.concatenate([(P[live[s:s + step], None, :] >= front[None]).all(-1).any(1)
                              for s in range(0, len(live), step)])
        live = live[~hit]
    rows = np.vstack([front, np.zeros((1, len(ref)))])
    for i in live:
        rows[-1] = P[i]
        out[i] = hypervolume(rows, ref) - base
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


def _expected_shortfall(h: np.ndarray, mean: np.ndarray, std: np.ndarray, shift: float | None) -> np.ndarray:
    """``E[max(0, h - Y)]`` for every (candidate, bound) pair: ``Y = Z`` (``shift`` None) or
    ``Y = exp(Z) + shift`` with ``Z ~ N(mean, std)``; ``h`` broadcasts against ``mean``."""
    from scipy.special import ndtr

    sd = np.maximum(std, 1e-12)
    if shift is None:
        d = (h - mean) / sd
        return (h - mean) * ndtr(d) + sd * np.exp(-0.5 * d * d) / np.sqrt(2.0 * np.pi)
    hc = h - shift
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (np.log(np.where(hc > 0, hc, 1.0)) - mean) / sd
        val = hc * ndtr(d) - np.exp(np.clip(mean + 0.5 * sd * sd, -700, 700)) * ndtr(d - sd)
    return np.where(hc > 0, np.maximum(val, 0.0), 0.0)


def expected_improvement_1d(mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray,
                            shifts: Sequence[float | None] = (None,)) -> np.ndarray:
    """Exact expected improvement for one objective (the one-objective hypervolume improvement),
    predictions as in :func:`expected_hv_improvement_2d`: ``E[max(0, b - Y)]`` with ``b`` the best
    value of ``front`` bounded by ``ref``."""
    mean = np.asarray(mean, dtype=float).reshape(-1, 1)
    std = np.asarray(std, dtype=float).reshape(-1, 1)
    ref = np.asarray(ref, dtype=float).reshape(1)
    front = np.asarray(front, dtype=float).reshape(-1, 1)
    b = min(float(ref[0]), float(front.min())) if len(front) else float(ref[0])
    return _expected_shortfall(np.array(b), mean, std, shifts[0])[:, 0]


def expected_hv_improvement_2d(mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray,
                               shifts: Sequence[float | None] = (None, None)) -> np.ndarray:
    """Exact expected hypervolume improvement for two objectives with independent normal
    predictions ``mean``/``std`` in a per-objective warped space: objective ``j`` is ``Z_j``
    (``shifts[j]`` None) or ``exp(Z_j) + shifts[j]``. The improvement over the front's staircase
    is a sum over strips of (width gained) x (height gained), each a function of one objective,
    so with independent objectives its expectation is a sum of products of 1-D expectations."""
    mean = np.asarray(mean, dtype=float)
    std = np.asarray(std, dtype=float)
    ref = np.asarray(ref, dtype=float)
    front = np.asarray(front, dtype=float).reshape(-1, 2)
    if len(mean) == 0:
        return np.zeros(0)
    lo, hi, h = _staircase(front, ref)
    m0, s0, m1, s1 = mean[:, :1], std[:, :1], mean[:, 1:2], std[:, 1:2]
    # E[width]: E[clip(hi - Y0, 0, hi - lo)] = E[max(0, hi - Y0)] - E[max(0, lo - Y0)]
    width = _expected_shortfall(hi[None, :], m0, s0, shifts[0])
    finite = np.isfinite(lo)
    if finite.any():
        width[:, finite] -= _expected_shortfall(lo[None, finite], m0, s0, shifts[0])
    height = _expected_shortfall(h[None, :], m1, s1, shifts[1])
    return (np.maximum(width, 0.0) * height).sum(1)


def expected_hv_improvement_3d(mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray,
                               shifts: Sequence[float | None] = (None, None, None),
                               chunk: int = 2_000_000) -> np.ndarray:
    """Exact expected hypervolume improvement for three objectives, predictions as in
    :func:`expected_hv_improvement_2d`. The improvement of ``y`` is the volume of ``[y, ref]``
    less its overlap with the dominated region, cut into disjoint boxes ``[l, u]``
    (:func:`_dominated_boxes_3d`). Both are products over objectives of ``max(0, b - y_j)``
    differences, so with independent objectives the expectation is
    ``prod_j E[max(0, ref_j - Y_j)] - sum_boxes prod_j (E[max(0, u_j - Y_j)] - E[max(0, l_j - Y_j)])``.
    Values below ``1e-12`` of the reference box's volume are rounding and returned as 0."""
    mean = np.asarray(mean, dtype=float)
    std = np.asarray(std, dtype=float)
    ref = np.asarray(ref, dtype=float)
    front = np.asarray(front, dtype=float).reshape(-1, 3)
    if len(mean) == 0:
        return np.zeros(0)
    total = np.ones(len(mean))
    for j in range(3):
        total *= _expected_shortfall(ref[j], mean[:, j], std[:, j], shifts[j])
    lower, upper = _dominated_boxes_3d(front, ref)
    # the boxes' corners take at most n + 1 distinct values per objective (the front's and ref's):
    # the 1-D expectations are computed once per value
    cuts, at_lo, at_hi = [], [], []
    for j in range(3):
        vals, inv = np.unique(np.concatenate([lower[:, j], upper[:, j]]), return_inverse=True)
        cuts.append(vals)
        at_lo.append(inv[: len(lower)])
        at_hi.append(inv[len(lower):])
    overlap = np.zeros(len(mean))
    step = max(1, chunk // max(3 * len(lower), 1))
    for s in range(0, len(mean) if len(lower) else 0, step):
        part = np.ones((len(mean[s:s + step]), len(lower)))
        for j in range(3):
            e = _expected_shortfall(cuts[j][None, :], mean[s:s + step, j:j + 1], std[s:s + step, j:j + 1], shifts[j])
            part *= np.maximum(e[:, at_hi[j]] - e[:, at_lo[j]], 0.0)
        overlap[s:s + step] = part.sum(1)
    gain = total - overlap
    lo = front.min(0) if len(front) else np.zeros(3)
    scale = float(np.prod(np.maximum(ref - np.minimum(lo, ref), 1e-300)))
    return np.where(gain > 1e-12 * scale, gain, 0.0)
