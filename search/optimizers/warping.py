"""Output warpings of a model's targets: the identity, ``log y``, or a shifted log
``log(y - c)`` with ``c = min - s * range`` (it spreads out the best values, where the front is),
chosen per objective by a Gaussian process's evidence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Warp", "choose_warp", "unwarp", "warp_targets"]

#: ``"id"``, ``"log"``, or the shift fraction ``s`` of a shifted log
Warp = str | float


def warp_targets(warp: Warp, y: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Targets under a warping, and its shift ``c`` (``log(y - c)``; 0 for ``"log"``; None: identity)."""
    if warp == "id":
        return y, None
    if warp == "log":
        return np.log(y), 0.0
    lo, hi = float(y.min()), float(y.max())
    span = hi - lo if hi > lo else max(abs(lo), 1.0)
    c = lo - float(warp) * span
    return np.log(y - c), c


def unwarp(Y: np.ndarray, shifts: Sequence[float | None]) -> np.ndarray:
    """Values back on the objectives' scale: ``exp(z) + c`` for each column whose shift ``c`` is not None."""
    out = Y.copy()
    for j, c in enumerate(shifts):
        if c is not None:
            out[..., j] = np.exp(np.clip(out[..., j], -700, 700)) + c
    return out


def choose_warp(X: np.ndarray, y: np.ndarray, shifts: Sequence[float], space: Any = None, seed: int = 0,
                gp_settings: dict[str, Any] | None = None, gp: bool = True) -> Warp:
    """The warping with the highest GP evidence (with its Jacobian) among the identity, ``log y``
    (positive targets) and the shifted logs of ``shifts``; GP ``gp_settings``, inputs grouped by
    ``space``. Without a GP (``gp`` false): a log where the targets are positive and span more than
    a factor 5, else the identity."""
    from ...predictors.gp import GaussianProcess

    if not gp:
        return "log" if np.all(y > 0) and y.max() / y.min() > 5.0 else "id"
    cands: list[Warp] = ["id"] + (["log"] if np.all(y > 0) else []) + list(shifts)
    if len(cands) == 1:
        return "id"
    best, best_ev = "id", -np.inf
    for warp in cands:
        z, shift = warp_targets(warp, y)
        model = GaussianProcess(seed=seed, **(gp_settings or {}))
        if space is not None:
            model.bind(space)
        model.fit(X, z)
        # evidence of standardised targets; undo the standardisation and the log's Jacobian
        ev = model.log_marginal_likelihood - len(y) * math.log(model._sd) - (0.0 if shift is None else float(z.sum()))
        if ev > best_ev:
            best, best_ev = warp, ev
    return best
