"""Shared torch helpers for the neural predictors: seeded initialisation and a full-batch
training loop with a regression loss plus a pairwise ranking loss."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["init_module", "keep_global_rng", "one_thread", "pairwise_rank_loss", "to_tensor", "train_regressor"]


def keep_global_rng() -> object:
    """A context inside which building modules (whose default initialisation draws from torch's
    global generator before :func:`init_module` overwrites it) leaves that generator as it was:
    fitting a predictor must not move the random stream of the caller's own seeded code."""
    return torch.random.fork_rng(devices=[])


class one_thread:  # noqa: N801 - used as a context manager
    """Run torch on one intra-op thread inside the block: these models are tiny, and thread
    hand-offs cost more than they save (badly so on a shared machine)."""

    def __enter__(self) -> None:
        self._n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self._n)


def to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32))


def init_module(module: nn.Module, gen: torch.Generator) -> None:
    """Re-initialise every parameter from ``gen`` (uniform +-1/sqrt(fan_in), biases zero), so
    that models do not depend on torch's global seed."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2:
                bound = 1.0 / math.sqrt(p.shape[1])
                p.copy_(torch.rand(p.shape, generator=gen) * 2 * bound - bound)
            else:
                p.zero_()


def pairwise_rank_loss(pred: torch.Tensor, y: torch.Tensor, gen: torch.Generator, n_pairs: int = 1024,
                       margin: float = 0.0) -> torch.Tensor:
    """Logistic loss on random pairs: the lower target must get the lower prediction
    (``margin`` > 0 turns it into a hinge, as in DELE's comparators)."""
    n = len(y)
    if n < 2:
        return pred.sum() * 0.0
    i = torch.randint(n, (n_pairs,), generator=gen)
    j = torch.randint(n, (n_pairs,), generator=gen)
    sign = torch.sign(y[j] - y[i])  # +1: i is better (lower)
    keep = sign != 0
    if not keep.any():
        return pred.sum() * 0.0
    diff = (pred[j] - pred[i])[keep] * sign[keep]
    if margin > 0:
        return torch.relu(margin - diff).mean()
    return nn.functional.softplus(-diff).mean()


def train_regressor(model: nn.Module, X: torch.Tensor, y: torch.Tensor, gen: torch.Generator, epochs: int,
                    lr: float, rank_weight: float, weight_decay: float = 1e-4, margin: float = 0.0) -> None:
    """Full-batch Adam on ``mse + rank_weight * ranking loss`` (``y`` standardised)."""
    with one_thread():
        _train(model, X, y, gen, epochs, lr, rank_weight, weight_decay, margin)


def _train(model: nn.Module, X: torch.Tensor, y: torch.Tensor, gen: torch.Generator, epochs: int,
           lr: float, rank_weight: float, weight_decay: float, margin: float) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        pred = model(X).reshape(-1)
        loss = nn.functional.mse_loss(pred, y)
        if rank_weight > 0:
            loss = loss + rank_weight * pairwise_rank_loss(pred, y, gen, margin=margin)
        loss.backward()
        opt.step()
    model.eval()
