"""Uniform random search over the space (repaired samples, no repeats while avoidable)."""

from __future__ import annotations

from collections.abc import Sequence

from ...spaces.space import Config
from ..trial import Observation
from .base import Optimizer

__all__ = ["RandomSearch"]


class RandomSearch(Optimizer):
    """Samples the space; retries a few times to avoid proposing a configuration twice."""

    name = "random"

    def __init__(self, *args, max_retries: int = 50, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_retries = max_retries
        self._seen: set[str] = set()

    def ask(self, n: int) -> list[Config]:
        out = []
        for _ in range(n):
            for _ in range(self.max_retries):
                cfg = self.space.sample(self.rng)
                key = self.space.key(cfg)
                if key not in self._seen:
                    break
            self._seen.add(key)
            out.append(cfg)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            self._seen.add(o.key)
