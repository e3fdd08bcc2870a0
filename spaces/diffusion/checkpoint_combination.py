"""The checkpoint-combination space (LCSC): real coefficients over saved checkpoints.

``coef`` holds one coefficient per checkpoint (the last ``n`` of the checkpointed run, oldest
first). The evaluator forms ``sum_i w_i theta_i / sum_i w_i`` (scale-free: only the direction of
``coef`` matters; negative entries are allowed) and samples with the combined weights.
Baselines and seeds: the last checkpoint (one-hot), EMAs of the saved trajectory (geometric
weights) and the uniform average of the last k.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..space import Config, Space
from ..variables import ConfigError, RealVector

__all__ = ["CheckpointCombinationSpace", "checkpoint_combination_space"]


class CheckpointCombinationSpace(Space):
    def __init__(self, n_checkpoints: int, low: float = -1.0, high: float = 1.0,
                 ema_decays: Sequence[float] = (0.5, 0.7, 0.8, 0.9, 0.95),
                 uniform_ks: Sequence[int] = (2, 4, 8, 12, 16), name: str = "checkpoint_combination") -> None:
        if isinstance(n_checkpoints, bool) or not isinstance(n_checkpoints, int) or n_checkpoints < 2:
            raise ConfigError(f"space '{name}': 'n_checkpoints' must be an integer >= 2, got {n_checkpoints!r}")
        if not low < 0 < 1 <= high:
            raise ConfigError(f"space '{name}': need low < 0 and high >= 1 (got {low}, {high}) so that the "
                              "baselines are points of the space")
        self.n = n_checkpoints
        self.ema_decays, self.uniform_ks = tuple(ema_decays), tuple(k for k in uniform_ks if k <= n_checkpoints)
        super().__init__([RealVector("coef", n_checkpoints, low=low, high=high)], name=name)

    def last(self) -> Config:
        return {"coef": [0.0] * (self.n - 1) + [1.0]}

    def ema(self, decay: float) -> Config:
        """EMA of the saved trajectory: weight ``decay^(n-1-i)`` (scaled so the last is 1)."""
        return {"coef": [float(decay ** (self.n - 1 - i)) for i in range(self.n)]}

    def uniform(self, k: int) -> Config:
        return {"coef": [0.0] * (self.n - k) + [1.0] * k}

    def baselines(self) -> dict[str, Config]:
        out = {"last": self.last()}
        out.update({f"ema{d:g}": self.ema(d) for d in self.ema_decays})
        out.update({f"uniform_last{k}": self.uniform(k) for k in self.uniform_ks})
        return {k: self.validate(v) for k, v in out.items()}

    def initial_configs(self) -> list[Config]:
        return list(self.baselines().values())

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(n_checkpoints=self.n)
        return d


def checkpoint_combination_space(assets: str = "committed", n_checkpoints: int | None = None, low: float = -1.0,
                                 high: float = 1.0) -> CheckpointCombinationSpace:
    """Registry factory: ``n_checkpoints`` (default: all) of the assets' checkpointed run."""
    from ...diffusion.testbed import resolve_assets

    manifest = json.loads((resolve_assets(assets) / "manifest.json").read_text())
    total = len(manifest["checkpoint_run"]["checkpoint_steps"])
    n = total if n_checkpoints is None else n_checkpoints
    if n > total:
        raise ConfigError(f"space 'checkpoint_combination': 'n_checkpoints' is {n}, the run saved {total}")
    return CheckpointCombinationSpace(n, low, high)
