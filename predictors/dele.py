"""DELE's dynamic ensemble of low-fidelity experts (Zhao et al., AAAI 2023), on encodings.

Cold start: real evaluations are few, cheap signals (low-fidelity evaluations: fewer samples,
fewer steps, less data; or proxies such as latency, size, sensitivity sums) are many.

1. :meth:`pretrain`: one expert MLP per low-fidelity signal, trained on that signal alone with a
   hinge ranking loss (plus MSE) over all the configurations that have it.
2. :meth:`fit`: a gating MLP gives per-configuration weights (softmax over experts); the
   prediction is the weighted sum of the experts' scores. Gate and experts are fine-tuned
   together on the few real scores.

The uncertainty is the gate-weighted spread of the experts around the prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._torch import init_module, keep_global_rng, to_tensor, train_regressor
from .base import Predictor, standardize
from .mlp_ensemble import mlp

__all__ = ["DynamicEnsemble"]


class _Ensemble(nn.Module):
    def __init__(self, experts: Sequence[nn.Module], d_in: int, hidden: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(experts)
        self.gate = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, len(experts)))

    def parts(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        S = torch.stack([e(X).reshape(-1) for e in self.experts], dim=1)
        return S, torch.softmax(self.gate(X), dim=1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        S, G = self.parts(X)
        return (S * G).sum(1)


class DynamicEnsemble(Predictor):
    """Experts pretrained on low-fidelity signals plus a gate fine-tuned on real scores.
    Without :meth:`pretrain`, ``n_experts`` experts start untrained."""

    name = "dele"

    def __init__(self, seed: int = 0, hidden: int = 64, n_experts: int = 2, pretrain_epochs: int = 200,
                 epochs: int = 200, lr: float = 3e-3, rank_weight: float = 1.0, margin: float = 0.1) -> None:
        super().__init__(seed)
        if hidden < 1 or n_experts < 1 or epochs < 1 or pretrain_epochs < 1:
            raise ValueError("dele: 'hidden', 'n_experts', 'epochs' and 'pretrain_epochs' must be >= 1")
        self.hidden, self.n_experts = hidden, n_experts
        self.pretrain_epochs, self.epochs, self.lr = pretrain_epochs, epochs, lr
        self.rank_weight, self.margin = rank_weight, margin
        self._experts: list[nn.Module] | None = None
        self._gen = torch.Generator().manual_seed(self.seed)
        self.signal_tau: list[float] = []
        self._pretrained_width: int | None = None

    def pretrain(self, signals: Sequence[tuple[np.ndarray, np.ndarray]]) -> DynamicEnsemble:
        """One expert per ``(X, y)`` low-fidelity signal (lower is better, like the target)."""
        if not signals:
            raise ValueError("dele: pretrain needs at least one (X, y) low-fidelity signal")
        self._gen = torch.Generator().manual_seed(self.seed)
        experts = []
        width = None
        for k, (X, y) in enumerate(signals):
            X, y = self._check(X, y)
            if len(y) < 2:
                raise ValueError(f"dele: low-fidelity signal {k} has {len(y)} values; give at least 2")
            if width is not None and X.shape[1] != width:
                raise ValueError(f"dele: low-fidelity signal {k} has rows of {X.shape[1]} columns, signal 0 of "
                                 f"{width}; every signal must use the encoding of the real scores")
            width = X.shape[1]
            ys, _, _ = standardize(y)
            with keep_global_rng():
                net = mlp(X.shape[1], self.hidden)
            init_module(net, self._gen)
            train_regressor(net, to_tensor(X), to_tensor(ys), self._gen, self.pretrain_epochs, self.lr,
                            self.rank_weight, margin=self.margin)
            experts.append(net)
        self._experts = experts
        self._pretrained_width = width
        return self

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        import copy

        if self._experts is not None and X.shape[1] != self._pretrained_width:
            raise ValueError(f"dele: the experts were pretrained on rows of {self._pretrained_width} columns, but fit "
                             f"got {X.shape[1]}; pretrain again on the encoding of these rows")
        ys, self._mu, self._sd = standardize(y)
        gen = torch.Generator().manual_seed(self.seed + 1)
        with keep_global_rng():
            if self._experts is None:
                experts = []
                for _ in range(self.n_experts):
                    net = mlp(X.shape[1], self.hidden)
                    init_module(net, gen)
                    experts.append(net)
            else:  # fine-tune copies, so that refits start from the pretrained experts again
                experts = [copy.deepcopy(e) for e in self._experts]
            model = _Ensemble(experts, X.shape[1], self.hidden)
        init_module(model.gate, gen)
        Xt = to_tensor(X)
        with torch.no_grad():  # put each expert's scores on the target's scale (sign included)
            for e in model.experts:
                s = e(Xt).reshape(-1).numpy().astype(float)
                # an expert whose scores barely vary (rounding-level differences on repeated rows)
                # has no direction to calibrate: dividing by its variance blew predictions up
                if len(y) > 2 and np.std(s) > 1e-4 * max(1.0, float(np.abs(s).mean())):
                    a = float(np.clip(np.cov(s, ys, bias=True)[0, 1] / np.var(s), -10.0, 10.0))
                    last = [m for m in e.modules() if isinstance(m, nn.Linear)][-1]
                    last.weight.mul_(a)
                    last.bias.mul_(a).add_(float(ys.mean() - a * s.mean()))
        train_regressor(model, Xt, to_tensor(ys), gen, self.epochs, self.lr, self.rank_weight, margin=self.margin)
        self.model = model

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            S, G = self.model.parts(to_tensor(X))
            mean = (S * G).sum(1)
            var = (G * (S - mean[:, None]) ** 2).sum(1)
        return self._mu + self._sd * mean.numpy().astype(float), self._sd * np.sqrt(var.numpy().astype(float))
