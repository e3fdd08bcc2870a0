"""An ensemble of small MLPs trained with a regression loss plus a pairwise ranking loss.

Each member sees a bootstrap resample of the data and its own initialisation; the mean of the
members is the prediction and their spread the uncertainty (deep-ensemble style). The ranking
loss (logistic on random pairs, as in OMS-DPM's and DELE's predictors) makes the members agree
on the order of configurations, which is what a search needs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._torch import init_module, keep_global_rng, to_tensor, train_regressor
from .base import Predictor, standardize

__all__ = ["MLPEnsemble", "mlp"]


def mlp(d_in: int, hidden: int, depth: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    layers.append(nn.Linear(d, 1))
    return nn.Sequential(*layers)


class MLPEnsemble(Predictor):
    """``n_members`` MLPs (``depth`` hidden layers of ``hidden`` units) trained for ``epochs``
    full-batch Adam steps on ``mse + rank_weight * pairwise ranking loss``."""

    name = "mlp_ensemble"

    def __init__(self, seed: int = 0, n_members: int = 5, hidden: int = 64, depth: int = 2, epochs: int = 300,
                 lr: float = 3e-3, rank_weight: float = 1.0, bootstrap: bool = True) -> None:
        super().__init__(seed)
        if n_members < 1 or hidden < 1 or depth < 1 or epochs < 1:
            raise ValueError("mlp_ensemble: 'n_members', 'hidden', 'depth' and 'epochs' must be >= 1")
        self.n_members, self.hidden, self.depth, self.epochs = n_members, hidden, depth, epochs
        self.lr, self.rank_weight, self.bootstrap = lr, rank_weight, bootstrap
        self.members: list[nn.Module] = []

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        ys, self._mu, self._sd = standardize(y)
        gen = torch.Generator().manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.members = []
        for _ in range(self.n_members):
            idx = rng.integers(len(y), size=len(y)) if self.bootstrap and len(y) > 2 else np.arange(len(y))
            with keep_global_rng():
                net = mlp(X.shape[1], self.hidden, self.depth)
            init_module(net, gen)
            train_regressor(net, to_tensor(X[idx]), to_tensor(ys[idx]), gen, self.epochs, self.lr, self.rank_weight)
            self.members.append(net)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            Xt = to_tensor(X)
            P = np.stack([m(Xt).reshape(-1).numpy().astype(float) for m in self.members])
        return self._mu + self._sd * P.mean(0), self._sd * P.std(0)
