"""Run any Optuna sampler as a paretoforge optimizer.

The space's flat view gives Optuna one distribution per scalar (categorical, int, float); the
sampled parameters become a configuration through the space's ``from_flat`` and repair. The
Optuna study lives in memory: paretoforge's own store is the durable record, and a restart
replays it. Constraint values reach samplers through ``Trial.set_constraint`` (Optuna 5) or the
``constraints`` system attribute (older Optuna).
"""

from __future__ import annotations

import copy
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
            if sampler == "CmaEsSampler":
                import importlib.util

                if importlib.util.find_spec("cmaes") is None:
                    raise ImportError("Optuna's CmaEsSampler needs the 'cmaes' package: pip install cmaes")
            sampler = cls(seed=self.seed, **(sampler_kwargs or {}))
        self.sampler = sampler
        directions = ["minimize"] * self.n_objectives
        self._study = optuna.create_study(directions=directions, sampler=sampler)
        self._dists = {p.name: optuna_distribution(p) for p in self.space.flat_params()}
        self._pending: dict[str, deque] = defaultdict(deque)
        self._finished = False  # the sampler stopped the study (e.g. a grid that is used up)
        # a sampler that cannot serve this study (e.g. one objective only) says so now, not at the
        # first proposal: a dry proposal from a copy, which leaves this sampler's state as it is
        try:
            probe = copy.deepcopy(sampler)
        except Exception:  # noqa: BLE001 - a sampler that holds locks or handles: no dry run
            probe = None
        if probe is not None:
            try:
                optuna.create_study(directions=directions, sampler=probe).ask(self._dists)
            except (ValueError, TypeError, ImportError, NotImplementedError) as exc:
                raise ValueError(f"Optuna sampler {type(sampler).__name__} cannot serve this study "
                                 f"({self.n_objectives} objective(s)): {exc}") from None

    def ask(self, n: int) -> list[Config]:
        if self._finished:
            return []
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
                self._tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            if self.constraint_names:
                if hasattr(trial, "set_constraint"):
                    trial.set_constraint("violation", float(o.violation))
                else:  # Optuna < 5
                    trial.storage.set_trial_system_attr(trial._trial_id, "constraints", [float(o.violation)])
            self._tell(trial, [float(v) for v in o.values])

    def _tell(self, trial: Any, values: Any = None, state: Any = None) -> None:
        """``study.tell``; a sampler that stops the study after this trial (BruteForceSampler and
        GridSampler when their grid is used up call ``study.stop()``, which Optuna allows only inside
        ``optimize``) ends this optimizer's proposals instead of the run."""
        try:
            self._study.tell(trial, values, state=state)
        except RuntimeError as exc:
            if "Study.stop" not in str(exc):
                raise
            self._finished = True
