"""Pareto tools: non-dominated sets with constraints, exact hypervolume, knee point and
hypervolume history. All functions take objective values in minimisation form (rows are points).
"""

from __future__ import annotations

import numpy as np

__all__ = ["hypervolume", "hypervolume_deficit", "hypervolume_history", "infer_reference_point", "knee_point",
           "non_dominated"]


def _as_matrix(F: np.ndarray | list) -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim == 1:
        F = F.reshape(1, -1) if F.size else F.reshape(0, 0)
    return F


def non_dominated(F: np.ndarray | list, violation: np.ndarray | list | None = None) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``F`` among the feasible ones.

    ``violation`` (>0 infeasible) restricts the set to feasible points; when no point is
    feasible, the least-violating points are returned (Deb's constrained domination)."""
    F = _as_matrix(F)
    n = len(F)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    cand = np.ones(n, dtype=bool)
    if violation is not None:
        v = np.asarray(violation, dtype=float)
        if v.shape != (n,):
            raise ValueError(f"non_dominated: {n} points but violations of shape {v.shape}; give one per point")
        feas = v <= 0
        cand = feas if feas.any() else v == v.min()
    idx = np.flatnonzero(cand)
    G = F[idx]
    # sort lexicographically so that a point can only be dominated by earlier points
    order = np.lexsort(G.T[::-1])
    G = G[order]
    keep = np.ones(len(G), dtype=bool)
    for i in range(len(G)):
        if not keep[i]:
            continue
        dominated = np.all(G[i] <= G[i + 1:], axis=1) & np.any(G[i] < G[i + 1:], axis=1)
        keep[i + 1:][dominated] = False
    # exact duplicates: keep them all (they are equally good)
    mask[idx[order[keep]]] = True
    return mask


def _hv2d(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume: sort by the first objective, running minimum of the second,
    sum of the rectangles between consecutive first-objective values (vectorised)."""
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    F = F[np.lexsort((F[:, 1], F[:, 0]))]
    best_y = np.minimum.accumulate(F[:, 1])
    widths = np.diff(np.append(F[:, 0], ref[0]))
    return float(np.sum(widths * (ref[1] - best_y)))


def hypervolume(F: np.ndarray | list, ref: np.ndarray | list) -> float:
    """Exact hypervolume dominated by ``F`` and bounded by ``ref`` (minimisation).

    Two objectives use an exact sweep; three or more use moocore's exact algorithms."""
    F = _as_matrix(F)
    ref = np.asarray(ref, dtype=float)
    if F.size == 0:
        return 0.0
    if ref.shape != (F.shape[1],):
        raise ValueError(f"hypervolume: points of {F.shape[1]} objectives but a reference point of shape {ref.shape}")
    if F.shape[1] != ref.shape[0]:
        raise ValueError(f"points have {F.shape[1]} objectives but the reference point has {ref.shape[0]}")
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    if F.shape[1] == 1:
        return float(ref[0] - F[:, 0].min())
    if F.shape[1] == 2:
        return _hv2d(F, ref)
    import moocore

    return float(moocore.hypervolume(F, ref=ref))


def hypervolume_history(F: np.ndarray | list, ref: np.ndarray | list,
                        violation: np.ndarray | list | None = None) -> np.ndarray:
    """Hypervolume of the feasible points among the first ``i + 1`` rows, for every ``i``.

    Only recomputed when a new point enters the front, so long histories stay cheap."""
    F = _as_matrix(F)
    ref = np.asarray(ref, dtype=float)
    n = len(F)
    out = np.zeros(n)
    viol = np.zeros(n) if violation is None else np.asarray(violation, dtype=float)
    front = np.zeros((0, len(ref)))
    hv = 0.0
    for i in range(n):
        p = F[i]
        if viol[i] <= 0 and np.all(np.isfinite(p)) and np.all(p < ref):
            dominated = len(front) and np.any(np.all(front <= p, axis=1))
            if not dominated:
                front = np.vstack([front[~np.all(p <= front, axis=1)], p])
                hv = hypervolume(front, ref)
        out[i] = hv
    return out


def _attained(F: np.ndarray, ref: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The lowest second objective among the points of ``F`` whose first objective is <= ``x``
    (``ref[1]`` where there is none): the lower edge of the region ``F`` dominates."""
    F = F[np.all(F < ref, axis=1)] if len(F) else F.reshape(0, 2)
    if not len(F):
        return np.full(len(x), ref[1])
    F = F[np.argsort(F[:, 0], kind="stable")]
    best = np.minimum.accumulate(F[:, 1])
    pos = np.searchsorted(F[:, 0], x, side="right")
    return np.where(pos > 0, best[np.maximum(pos - 1, 0)], ref[1])


def hypervolume_deficit(F: np.ndarray | list, reference_front: np.ndarray | list, ref: np.ndarray | list,
                        bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Where a two-objective front falls short of a reference front (e.g. a benchmark's exact
    front): the area that ``reference_front`` dominates and ``F`` does not (both bounded by
    ``ref``), split into ``bins`` equal strips along the first objective from the reference
    front's minimum to ``ref[0]``. Returns ``(edges, deficit)``; ``deficit.sum()`` equals
    ``hypervolume(F + reference_front) - hypervolume(F)``, exactly."""
    F, T = _as_matrix(F), _as_matrix(reference_front)
    ref = np.asarray(ref, dtype=float)
    if len(ref) != 2 or (F.size and F.shape[1] != 2) or T.shape[1] != 2:
        raise ValueError("hypervolume_deficit: two objectives only")
    if bins < 1:
        raise ValueError("hypervolume_deficit: 'bins' must be >= 1")
    F = F.reshape(-1, 2)
    lo = float(T[:, 0].min())
    edges = np.linspace(lo, ref[0], bins + 1)
    xs = np.concatenate([edges, F[:, 0], T[:, 0]])
    xs = np.unique(xs[(xs >= lo) & (xs <= ref[0])])
    left, width = xs[:-1], np.diff(xs)
    # the attained edges are constant on [xs[i], xs[i+1]); F together with T bounds the gap
    gap = np.maximum(_attained(F, ref, left) - _attained(np.vstack([F, T]), ref, left), 0.0) * width
    which = np.clip(np.searchsorted(edges, left, side="right") - 1, 0, bins - 1)
    return edges, np.bincount(which, weights=gap, minlength=bins)


def knee_point(F: np.ndarray | list) -> int:
    """Index of the knee of a front: after normalising each objective to [0, 1], the point
    farthest below the hyperplane through the extreme points (for two objectives: the line
    joining the two ends). Falls back to the point closest to the ideal point (normalised too, so
    that the objectives' units do not choose; ties go to the first)."""
    F = _as_matrix(F)
    if len(F) == 0:
        raise ValueError("knee_point of an empty front")
    lo, hi = F.min(0), F.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    G = (F - lo) / span
    if len(F) <= 2:
        return int(np.argmin(np.linalg.norm(G, axis=1)))
    m = G.shape[1]
    extremes = G[np.argmax(G, axis=0)] if m > 1 else G
    try:
        # hyperplane through the extreme points: w . x = 1
        w = np.linalg.solve(extremes, np.ones(m))
        if np.all(np.isfinite(w)) and np.linalg.norm(w) > 0:
            dist = (1.0 - G @ w) / np.linalg.norm(w)
            return int(np.argmax(dist))
    except np.linalg.LinAlgError:
        pass
    return int(np.argmin(np.linalg.norm(G, axis=1)))


def infer_reference_point(F: np.ndarray | list, margin: float = 0.1) -> np.ndarray:
    """Nadir of the non-dominated points plus ``margin`` of their range (BoTorch's convention)."""
    F = _as_matrix(F)
    P = F[non_dominated(F)]
    lo, hi = P.min(0), P.max(0)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    return hi + margin * span
