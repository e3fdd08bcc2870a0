"""Run any Optuna sampler as a paretoforge optimizer.

The space's flat view gives Optuna one distribution per scalar (categorical, int, float); the
sampled parameters become a configuration through the space's ``from_flat`` and repair. The
Optuna study lives in memory: paretoforge's own store is the durable record, and a restart
replays it. Constraint values reach samplers through ``Trial.set_constraint`` (Optuna 5) or the
``constraints`` system attribute (older Optuna).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from ...spaces.space import Config
from ...spaces.variables import FlatParam
from ..trial import Observation
from .base import Optimizer

__all__ = ["OptunaOptimizer", "optuna_distribution"]


def optuna_distribution(p: FlatParam) -> Any:
    import optuna.distributions as d

    if p.kind == "cat":
        return d.CategoricalDistribution(list(p.choices))
    if p.kind == "int":
        return d.IntDistribution(int(p.low), int(p.high), log=p.log)
    return d.FloatDistribution(float(p.low), float(p.high), log=p.log)


class OptunaOptimizer(Optimizer):
    """``sampler`` is an Optuna sampler class name (``"TPESampler"``, ``"NSGAIISampler"``,
    ``"GPSampler"``...) built with ``sampler_kwargs`` and this optimizer's seed, or a sampler
    instance."""

    name = "optuna"

    def __init__(self, *args, sampler: Any = "TPESampler", sampler_kwargs: dict[str, Any] | None = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if isinstance(sampler, str):
            cls = getattr(optuna.samplers, sampler, None)
            if cls is None:
                allowed = sorted(n for n in dir(optuna.samplers) if n.endswith("Sampler") and not n.startswith("Base"))
                raise ValueError(f"unknown Optuna sampler {sampler!r}; allowed: {allowed}")
            sampler = cls(seed=self.seed, **(sampler_kwargs or {}))
        self.sampler = sampler
        self._study = optuna.create_study(directions=["minimize"] * self.n_objectives, sampler=sampler)
        self._dists = {p.name: optuna_distribution(p) for p in self.space.flat_params()}
        self._pending: dict[str, deque] = defaultdict(deque)

    def ask(self, n: int) -> list[Config]:
        out = []
        for _ in range(n):
            trial = self._study.ask(self._dists)
            cfg = self.space.from_flat(trial.params, self.rng)
            self._pending[self.space.key(cfg)].append(trial)
            out.append(cfg)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        import optuna

        for o in observations:
            queue = self._pending.get(o.key)
            if not queue:  # a result this sampler did not propose (a warm start): learn from it too
                if o.ok:
                    frozen = optuna.trial.create_trial(params=self.space.to_flat(o.config), distributions=self._dists,
                                                       values=[float(v) for v in o.values])
                    if self.constraint_names:
                        if hasattr(frozen, "set_constraint"):
                            frozen.set_constraint("violation", float(o.violation))
                        else:  # Optuna < 5
                            frozen.set_system_attr("constraints", [float(o.violation)])
                    self._study.add_trial(frozen)
                continue
            trial = queue.popleft()
            if not queue:
                del self._pending[o.key]
            if not o.ok:
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            if self.constraint_names:
                if hasattr(trial, "set_constraint"):
                    trial.set_constraint("violation", float(o.violation))
                else:  # Optuna < 5
                    trial.storage.set_trial_system_attr(trial._trial_id, "constraints", [float(o.violation)])
            self._study.tell(trial, [float(v) for v in o.values])
