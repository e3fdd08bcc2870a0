"""Gaussian-process regression on the space's numeric encoding (numpy only, fast refits).

The kernel mixes an additive part and an interaction part:
``k(x, x') = s2 * (w * x.x' / D + (1 - w) * exp(-|x - x'|^2 / (2 D l)))`` with ``D`` the mean
squared norm of the training rows. On one-hot encodings ``x.x'`` counts the shared choices (an
additive model: latency, size and most costs are near-additive in per-layer choices) and the
exponential term is the Hamming kernel that captures interactions (accuracy). The weight ``w``,
length scale ``l`` and noise are chosen from a small grid by marginal likelihood (``s2`` in closed
form); the grid search runs on at most ``max_select`` rows and only when the data grew by
``reselect_growth`` since the last search, so refits in an optimizer loop cost one Cholesky.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular

from .base import Predictor, standardize

__all__ = ["GaussianProcess"]


class GaussianProcess(Predictor):
    """Exact GP with hyperparameters picked from ``weights`` x ``length_scales`` x ``noises``."""

    name = "gp"

    def __init__(self, seed: int = 0, weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 0.95),
                 length_scales: Sequence[float] = (0.05, 0.1, 0.2, 0.4, 0.8),
                 noises: Sequence[float] = (1e-4, 1e-2, 0.1), max_select: int = 300,
                 reselect_growth: float = 1.15) -> None:
        super().__init__(seed)
        if not weights or not length_scales or not noises:
            raise ValueError("gp: 'weights', 'length_scales' and 'noises' must each list at least one value")
        if any(not 0.0 <= w <= 1.0 for w in weights):
            raise ValueError(f"gp: 'weights' must lie in [0, 1], got {list(weights)}")
        if any(v <= 0 for v in (*length_scales, *noises)):
            raise ValueError("gp: 'length_scales' and 'noises' must be positive")
        self.grid = [(float(w), float(ls), float(nz)) for w in weights for ls in length_scales for nz in noises]
        self.max_select = int(max_select)
        self.reselect_growth = float(reselect_growth)
        self.hypers: tuple[float, float, float] | None = None
        self._n_selected = 0
        self.log_marginal_likelihood = float("nan")

    # -- kernel -----------------------------------------------------------------------------
    #: the last (dot products, squared distances) between a query and a training matrix, shared
    #: by the GPs of one optimizer (one per objective, same inputs): key = the arrays' bytes
    _cross_cache: ClassVar[dict[str, tuple[bytes, bytes, np.ndarray, np.ndarray]]] = {}

    @staticmethod
    def _cross(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ka, kb = A.tobytes(), B.tobytes()
        hit = GaussianProcess._cross_cache.get("last")
        if hit is not None and hit[0] == ka and hit[1] == kb:
            return hit[2], hit[3]
        dot = A @ B.T
        sq = np.add.outer((A * A).sum(1), (B * B).sum(1))
        sq -= 2.0 * dot
        np.maximum(sq, 0.0, out=sq)
        if A.shape[0] * B.shape[0] >= 10_000:  # only large queries are worth keeping
            GaussianProcess._cross_cache["last"] = (ka, kb, dot, sq)
        return dot, sq

    def _kernel(self, A: np.ndarray, B: np.ndarray, w: float, ls: float) -> np.ndarray:
        dot, sq = self._cross(A, B)
        K = np.multiply(sq, -1.0 / (2.0 * self._D * ls))
        np.exp(K, out=K)
        K *= 1.0 - w
        if w:
            K += (w / self._D) * dot
        return K

    def _kdiag(self, A: np.ndarray, w: float) -> np.ndarray:
        return w * (A * A).sum(1) / self._D + (1.0 - w)

    def _lml(self, X: np.ndarray, y: np.ndarray, w: float, ls: float, nz: float) -> float:
        n = len(y)
        K = self._kernel(X, X, w, ls)
        K[np.diag_indices(n)] += nz
        try:
            L = cholesky(K, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return -np.inf
        a = cho_solve((L, True), y, check_finite=False)
        s2 = max(float(y @ a) / n, 1e-12)
        return -0.5 * n * np.log(s2) - float(np.log(np.diag(L)).sum()) - 0.5 * n

    def _select(self, X: np.ndarray, y: np.ndarray) -> None:
        if len(y) > self.max_select:
            idx = np.sort(np.random.default_rng(self.seed).choice(len(y), self.max_select, replace=False))
            X, y = X[idx], y[idx]
        scores = [self._lml(X, y, *h) for h in self.grid]
        best = int(np.argmax(scores))
        self.hypers = self.grid[best]
        self.log_marginal_likelihood = float(scores[best])

    # -- fit / predict ----------------------------------------------------------------------
    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        ys, self._mu, self._sd = standardize(y)
        self._D = max(float((X * X).sum(1).mean()), 1e-12)
        n = len(y)
        if self.hypers is None or n >= self._n_selected * self.reselect_growth or n < self._n_selected:
            self._select(X, ys)
            self._n_selected = n
        w, ls, nz = self.hypers  # type: ignore[misc]
        K = self._kernel(X, X, w, ls)
        K[np.diag_indices(n)] += nz
        jitter = 0.0
        while True:
            try:
                self._L = cholesky(K + jitter * np.eye(n), lower=True, check_finite=False)
                break
            except np.linalg.LinAlgError:
                jitter = max(1e-8, jitter * 10)
        self._alpha = cho_solve((self._L, True), ys, check_finite=False)
        self._s2 = max(float(ys @ self._alpha) / n, 1e-12)
        self._X = X

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, ls, _ = self.hypers  # type: ignore[misc]
        Ks = self._kernel(X, self._X, w, ls)
        mean = Ks @ self._alpha
        V = solve_triangular(self._L, Ks.T, lower=True, check_finite=False)
        var = self._s2 * np.maximum(self._kdiag(X, w) - (V * V).sum(0), 1e-12)
        return self._mu + self._sd * mean, self._sd * np.sqrt(var)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.hypers is not None:
            out.update(weight=self.hypers[0], length_scale=self.hypers[1], noise=self.hypers[2])
        return out
