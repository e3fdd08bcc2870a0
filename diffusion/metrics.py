"""Frechet distance between Gaussian fits of feature sets (float64, eigen-decomposition)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GaussianStats", "frechet_distance", "gaussian_stats"]


@dataclass(frozen=True)
class GaussianStats:
    mu: np.ndarray
    cov: np.ndarray
    n: int


def gaussian_stats(features: np.ndarray) -> GaussianStats:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need a (N >= 2, D) feature array, got shape {f.shape}")
    return GaussianStats(f.mean(0), np.cov(f, rowvar=False), len(f))


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``; NaN when the features are not finite."""
    if not all(np.isfinite(x).all() for x in (a.mu, a.cov, b.mu, b.cov)):
        return float("nan")
    s = _sqrt_psd(a.cov)
    m = s @ b.cov @ s
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = a.mu - b.mu
    # a distance: rounding can leave identical sets a hair below zero
    return max(0.0, float(d @ d + np.trace(a.cov) + np.trace(b.cov) - 2.0 * tr_sqrt))
