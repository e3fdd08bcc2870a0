"""scikit-learn's bundled handwritten digits, split once with a fixed seed.

1,797 images of 8x8 pixels with integer values 0..16, scaled to [-1, 1]. The split is stratified
by class (70 % train, 30 % test) with ``seed=0``; generators and the feature classifier train on
the train part; the test part gives the real-vs-real noise floor of the Frechet distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DigitsSplit", "load_digits_split"]


@dataclass(frozen=True)
class DigitsSplit:
    """Images as float32 tensors of shape (N, 1, 8, 8) in [-1, 1], labels as int64 tensors."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(seed: int = 0, test_fraction: float = 0.3) -> DigitsSplit:
    """The stratified split of the 1,797 bundled digits (no download: the data ship with sklearn)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits testbed needs scikit-learn (its bundled digits): pip install "
                          "'paretoforge[diffusion]' (from a checkout: pip install \".[diffusion]\")") from None

    d = load_digits()
    x = d.images.astype(np.float32) / 8.0 - 1.0
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test_idx: list[int] = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test_idx.extend(idx[: int(round(test_fraction * len(idx)))].tolist())
    test = np.zeros(len(y), dtype=bool)
    test[test_idx] = True
    tr, te = np.flatnonzero(~test), np.flatnonzero(test)
    t = torch.from_numpy
    return DigitsSplit(t(x[tr]).unsqueeze(1), t(y[tr]), t(x[te]).unsqueeze(1), t(y[te]))
