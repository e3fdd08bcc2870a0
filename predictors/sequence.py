"""A sequence encoder (LSTM) over per-step or per-layer decisions, as in OMS-DPM and DELE.

A configuration's encoding is cut into tokens: one per position of a :class:`ChoiceSequence`
(one decision per layer or step), one per element of a vector or per item of a subset, one per
other variable. Each token (zero-padded to the widest) is concatenated with a learned position
embedding and read by an LSTM; the last hidden state goes through a linear head. A small
ensemble of such models gives the uncertainty. Trained with MSE plus a pairwise ranking loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._torch import init_module, keep_global_rng, to_tensor, train_regressor
from .base import Predictor, standardize

__all__ = ["SequencePredictor", "space_tokens"]


def space_tokens(space: object) -> list[tuple[int, int]]:
    """``(start, stop)`` column slices of ``space.encode`` that form the tokens."""
    from ..spaces.variables import ChoiceSequence, RealVector, Subset

    out: list[tuple[int, int]] = []
    pos = 0
    for v in space.variables:  # type: ignore[attr-defined]
        if isinstance(v, ChoiceSequence):
            widths = [1] * v.length if v.ordered else [len(c) for c in v.position_choices]
        elif isinstance(v, (RealVector, Subset)):
            widths = [1] * v.width
        else:
            widths = [v.width]
        for w in widths:
            out.append((pos, pos + w))
            pos += w
    return out


class _LSTMRegressor(nn.Module):
    def __init__(self, tokens: Sequence[tuple[int, int]], hidden: int) -> None:
        super().__init__()
        self.tokens = list(tokens)
        self.width = max(b - a for a, b in self.tokens)
        self.pos = nn.Parameter(torch.zeros(len(self.tokens), 8))
        self.lstm = nn.LSTM(self.width + 8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        steps = []
        for a, b in self.tokens:
            t = X[:, a:b]
            if b - a < self.width:
                t = nn.functional.pad(t, (0, self.width - (b - a)))
            steps.append(t)
        seq = torch.stack(steps, dim=1)
        seq = torch.cat([seq, self.pos.unsqueeze(0).expand(len(X), -1, -1)], dim=2)
        h, _ = self.lstm(seq)
        return self.head(h[:, -1]).reshape(-1)


class SequencePredictor(Predictor):
    """LSTM ensemble over tokens. ``tokens``: column slices (default: set by :meth:`bind` from
    the space, else one token per column)."""

    name = "sequence"

    def __init__(self, seed: int = 0, tokens: Sequence[Sequence[int]] | None = None, hidden: int = 32,
                 n_members: int = 3, epochs: int = 200, lr: float = 1e-2, rank_weight: float = 1.0) -> None:
        super().__init__(seed)
        if n_members < 1 or hidden < 1 or epochs < 1:
            raise ValueError("sequence: 'n_members', 'hidden' and 'epochs' must be >= 1")
        self.tokens = None if tokens is None else [(int(a), int(b)) for a, b in tokens]
        self.hidden, self.n_members, self.epochs, self.lr, self.rank_weight = hidden, n_members, epochs, lr, rank_weight
        self.members: list[nn.Module] = []

    def bind(self, space: object) -> None:
        """Take the tokens from the space's variables (per layer / per step decisions)."""
        if self.tokens is None:
            self.tokens = space_tokens(space)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        tokens = list(self.tokens or [])
        bad = [t for t in tokens if not 0 <= t[0] < t[1] <= X.shape[1]]
        if bad:
            raise ValueError(f"sequence: tokens {bad[:5]} are not column slices (start, stop) of the input's "
                             f"{X.shape[1]} columns; bind() the space that encodes the rows, or give 'tokens' that fit")
        covered = np.zeros(X.shape[1], dtype=bool)
        for a, b in tokens:
            covered[a:b] = True
        # columns no token reads (unbound rows, or columns appended to the space's encoding, such as
        # zero-cost features): one token each, so that no input is ignored
        tokens += [(i, i + 1) for i in np.flatnonzero(~covered).tolist()]
        ys, self._mu, self._sd = standardize(y)
        gen = torch.Generator().manual_seed(self.seed)
        self.members = []
        for _ in range(self.n_members):
            with keep_global_rng():
                net = _LSTMRegressor(tokens, self.hidden)
            init_module(net, gen)
            train_regressor(net, to_tensor(X), to_tensor(ys), gen, self.epochs, self.lr, self.rank_weight)
            self.members.append(net)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            Xt = to_tensor(X)
            P = np.stack([m(Xt).numpy().astype(float) for m in self.members])
        return self._mu + self._sd * P.mean(0), self._sd * P.std(0)
