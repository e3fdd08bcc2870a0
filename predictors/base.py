"""The predictor protocol: learn a score from evaluated configurations, predict unseen ones.

A predictor works on the numeric encoding of configurations (``Space.encode_many``: one-hot
categories, normalised numbers, multi-hot subsets), one objective at a time, in minimisation form
(lower is better). ``fit(X, y)`` learns from evaluated rows; ``predict(X)`` returns a mean and a
standard deviation (its uncertainty; ``0`` for predictors that have none). Ranking predictors
trained with a pairwise loss return a score on the scale of ``y`` too, so that multi-objective
acquisitions (hypervolume improvement) can use every predictor.

Every predictor takes an explicit ``seed``; fitting twice on the same data gives the same model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

__all__ = ["Predictor", "kendall_tau", "standardize"]


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors (``nan`` with fewer than two points or a
    constant vector)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.squeeze(a).shape != np.squeeze(b).shape:  # (n, 1) against (n,) is fine; (3, 2) against (6,) is not
        raise ValueError(f"kendall_tau: score arrays of shapes {a.shape} and {b.shape}; give two vectors of one length")
    a, b = a.ravel(), b.ravel()
    if len(a) < 2:
        return float("nan")
    from scipy.stats import kendalltau

    tau = kendalltau(a, b).statistic
    return float(tau) if tau is not None else float("nan")


def standardize(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(y - mean) / sd`` with the mean and sd used (sd 1 for a constant vector: one whose
    spread is within rounding of its mean; a spread that is tiny in absolute terms still counts)."""
    y = np.asarray(y, dtype=float)
    mu = float(y.mean()) if len(y) else 0.0
    sd = float(y.std()) if len(y) > 1 else 1.0
    sd = sd if sd > 1e-12 * abs(mu) and sd > 0.0 else 1.0
    return (y - mu) / sd, mu, sd


class Predictor(ABC):
    """Base class of predictors; subclasses take their settings as keyword arguments."""

    name: ClassVar[str] = "predictor"

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"predictor '{self.name}': 'seed' must be an integer >= 0, got {seed!r}")
        self.seed = int(seed)
        self.n_fit = 0
        self.n_features = 0

    @staticmethod
    def _check(X: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ValueError(f"predictor input must be a 2-D array (rows = configurations), got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            bad = sorted({int(i) for i in np.flatnonzero(~np.all(np.isfinite(X), axis=1))})
            raise ValueError(f"predictor: input rows {bad[:10]} hold NaN or infinite values; encode them as numbers")
        if y is None:
            return X, None
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(X):
            raise ValueError(f"predictor: {len(X)} rows but {len(y)} targets")
        if not np.all(np.isfinite(y)):
            raise ValueError("predictor: targets must be finite (failed evaluations are left out, never fitted)")
        return X, y

    def fit(self, X: np.ndarray, y: np.ndarray) -> Predictor:
        """Learn from rows ``X`` (encoded configurations) and targets ``y`` (lower is better)."""
        X, y = self._check(X, y)
        if len(y) == 0:
            raise ValueError(f"predictor '{self.name}': fit needs at least one evaluated configuration")
        if X.shape[1] == 0:
            raise ValueError(f"predictor '{self.name}': the rows have no columns (a space whose variables are all "
                             f"fixed has nothing to learn)")
        self._fit(X, y)
        self.n_fit = len(y)
        self.n_features = X.shape[1]
        return self

    def _checked_rows(self, X: np.ndarray, what: str = "predict") -> np.ndarray:
        """``X`` checked for :meth:`predict` (or another method named ``what``): fitted first,
        finite, and as many columns as the fitted rows."""
        if self.n_fit == 0:
            raise RuntimeError(f"predictor '{self.name}': call fit() before {what}()")
        X, _ = self._check(X)
        if X.shape[1] != self.n_features:
            raise ValueError(f"predictor '{self.name}': rows of {X.shape[1]} columns, but it was fitted on "
                             f"{self.n_features}")
        return X

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation for every row of ``X``."""
        X = self._checked_rows(X)
        mean, std = self._predict(X)
        return np.asarray(mean, dtype=float), np.maximum(np.asarray(std, dtype=float), 0.0)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Kendall's tau between predicted means and held-out targets ``y``."""
        X, y = self._check(X, y)
        return kendall_tau(self.predict(X)[0], y)

    def bind(self, space: Any) -> None:
        """Called by optimizers with the search space before the first fit (e.g. to read the
        per-layer structure of the encoding); the default does nothing."""

    def noise_std(self) -> float:
        """Standard deviation of a new result around the true value at its point, on the scale
        of ``y``: the observation noise the model fitted (``predict`` gives the uncertainty of
        the value itself). ``0`` for predictors without a noise model. An acquisition that
        scores the results it will see (the ones a front is made of), not the underlying
        values, adds it to the predictive variance."""
        return 0.0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "n_fit": self.n_fit}

    @abstractmethod
    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        """Fit on validated arrays."""

    @abstractmethod
    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation on validated arrays."""
