"""Candidate rows in the unit cube for a pool-based optimizer: local moves, random points,
mutations and crossovers of the best results, drawn all at once as one matrix.

:func:`draw_unit_rows` only draws rows; the caller keeps those that meet the space's constraints
and repeat nothing seen (see :class:`~.guided.PredictorGuided`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .trust_region import TrustRegion

__all__ = ["centred_unit_rows", "draw_unit_rows"]


def centred_unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """``n`` rows of the unit cube whose ``d`` coordinates each lie near one random centre per row
    (normal, sd 0.15, clipped): on ordered choices, allocations of mostly low, middle or high
    choices, so that sums over many coordinates reach their extremes."""
    centre = rng.random((n, 1))
    return np.clip(centre + rng.normal(0.0, 0.15, (n, d)), 0.0, 1.0)


def draw_unit_rows(space: Any, P: np.ndarray, rng: np.random.Generator, cap: int, centred_rows: float = 0.0,
                   centres: np.ndarray | None = None, side: float = 0.0) -> tuple[np.ndarray, slice]:
    """Rows of the unit cube around the parents ``P`` (unit-cube rows, best first).

    - neighbours of the 10 best one step away in one coordinate (up to 50 each; a categorical's
      step is one choice, an integer's one value, a float's 0.05, a subset's item score 0.5);
    - under constraints, as many random swaps per parent (one coordinate a step up, another a step
      down: the moves along a budget that the best results sit on; 50 of each, fewer once ``cap``
      is under 1,000);
    - then, up to ``cap`` rows in all: random points (1/4; all of them without parents), of which a
      fraction ``centred_rows`` has every coordinate near one random centre per row (normal, sd
      0.15) so that sums over many coordinates reach their extremes; Gaussian mutations of about
      one coordinate (sd 0.1; a categorical or subset coordinate is redrawn) of the parents (7/20);
      and their uniform crossovers (2/5).

    With trust-region ``centres``, the random points are uniform in the boxes of side ``side``
    around them (:meth:`TrustRegion.random`) instead of the whole cube. Returns the rows and the
    slice of the random points drawn in boxes (empty without centres), which a caller may draw
    again in wider boxes."""
    params = space.flat_params()
    d = len(params)
    cat = np.array([p.kind == "cat" for p in params])
    ranked = np.array([p.ranked for p in params])  # a subset's item scores: only their order counts
    step = np.array([0.5 if p.ranked else 0.05 if p.kind == "float" else 1.0 / (
        len(p.choices) if p.kind == "cat" else max(p.high - p.low, 1)) for p in params])
    swaps = bool(space.constraints) and d > 1
    k = min(50, cap // 20) if swaps else 50
    blocks = []
    for u in P[:10]:
        nb = np.repeat(u[None], 2 * d, axis=0)
        nb[np.arange(0, 2 * d, 2), np.arange(d)] -= step
        nb[np.arange(1, 2 * d, 2), np.arange(d)] += step
        blocks.append(nb[((nb >= 0) & (nb <= 1)).all(1)][:k])
        if swaps:
            up = rng.integers(d, size=k)
            down = (up + rng.integers(1, d, size=k)) % d
            sw = np.repeat(u[None], k, axis=0)
            sw[np.arange(k), up] += step[up]
            sw[np.arange(k), down] -= step[down]
            blocks.append(sw[((sw >= 0) & (sw <= 1)).all(1)])
    size = max(0, cap - sum(len(b) for b in blocks))
    r = rng.random(size)
    n_rand = int((r < 0.25).sum()) if len(P) else size
    n_mut = int(((r >= 0.25) & (r < 0.6)).sum()) if len(P) else 0
    n_cx = size - n_rand - n_mut
    n_centred = int(round(centred_rows * n_rand))
    start = sum(len(b) for b in blocks)  # where the random rows begin
    if centres is None:
        blocks.append(rng.random((n_rand - n_centred, d)))
        boxed = slice(start, start)
    else:
        blocks.append(TrustRegion.random(centres, n_rand - n_centred, side, rng))
        boxed = slice(start, start + n_rand - n_centred)
    if n_centred:
        blocks.append(centred_unit_rows(rng, n_centred, d))
    if n_mut:
        A = P[rng.integers(len(P), size=n_mut)]
        mask = rng.random((n_mut, d)) < 1.0 / d
        none = np.flatnonzero(~mask.any(1))
        mask[none, rng.integers(d, size=len(none))] = True
        moved = np.where(cat | ranked, rng.random(A.shape), np.clip(A + rng.normal(0.0, 0.1, A.shape), 0.0, 1.0))
        blocks.append(np.where(mask, moved, A))
    if n_cx:
        A, B = P[rng.integers(len(P), size=n_cx)], P[rng.integers(len(P), size=n_cx)]
        blocks.append(np.where(rng.random((n_cx, d)) < 0.5, B, A))
    return np.vstack(blocks), boxed
