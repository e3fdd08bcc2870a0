"""The solver-schedule space (S^3 / USF): per-step solver decisions at a fixed NFE.

Variables (``N`` = NFE steps):

* ``increments`` - ``N`` positive reals; the timestep grid is uniform in their cumulative sum
  over half log-SNR, from ``lambda(T)`` to ``lambda(t_end)``, so every vector is a valid,
  strictly decreasing grid (the logSNR-uniform grid is all ones);
* ``t_end`` - the last time (log scale), when searched; otherwise the schedule's default 1e-3;
* ``prediction`` - ``data`` or ``noise`` per step;
* ``order`` - 1..3 per step, position ``i`` allows at most ``i + 1`` (the history it has);
* ``corrector`` - on/off per step; off on the last step (a corrector there costs an extra NFE);
* ``variant`` - UniPC's B(h): ``bh1`` or ``bh2``.

DDIM, DPM-Solver++(2M) and UniPC with the usual grids are points of the space
(:meth:`SolverScheduleSpace.from_schedule`); :meth:`initial_configs` returns them to seed a
search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from ...diffusion.sampler import GRIDS, SolverSchedule, StepDecision, baseline_schedule
from ...diffusion.schedule import VPSchedule
from ..space import Config, Space
from ..variables import Categorical, ChoiceSequence, ConfigError, Real, RealVector

__all__ = ["SolverScheduleSpace", "config_to_schedule", "solver_schedule_space"]


def config_to_schedule(config: Mapping[str, Any], vp: VPSchedule | None = None) -> SolverSchedule:
    """The :class:`SolverSchedule` of a configuration of the space."""
    vp = vp or VPSchedule()
    w = np.asarray(config["increments"], dtype=np.float64)
    if w.ndim != 1 or not len(w) or not np.all(np.isfinite(w)) or (w <= 0).any():
        raise ConfigError(f"solver schedule: 'increments' must be positive numbers, one per step, got {w.tolist()}")
    for key in ("prediction", "order", "corrector"):  # one decision per step (zip would cut the longer ones)
        if len(config[key]) != len(w):
            raise ConfigError(f"solver schedule: '{key}' has {len(config[key])} entries for {len(w)} steps "
                              f"('increments'); give one per step")
    bad = [o for o in config["order"] if isinstance(o, bool) or not isinstance(o, (int, np.integer))]
    if bad:
        raise ConfigError(f"solver schedule: 'order' must hold whole numbers (1, 2 or 3), got {list(config['order'])}")
    if any(not isinstance(c, (bool, np.bool_)) for c in config["corrector"]):
        raise ConfigError(f"solver schedule: 'corrector' must hold true or false, got {list(config['corrector'])}")
    t_end = float(config.get("t_end", vp.t_min))
    if not 0.0 < t_end < vp.t_max:
        raise ConfigError(f"solver schedule: 't_end' must lie in (0, {vp.t_max:g}), got {t_end!r}")
    lam0, lam1 = vp.lam(vp.t_max), vp.lam(t_end)
    frac = np.cumsum(w) / w.sum()
    ts = [vp.t_max] + [vp.t_of_lambda(float(lam0 + (lam1 - lam0) * f)) for f in frac[:-1]] + [t_end]
    steps = tuple(StepDecision(p, int(o), bool(c))
                  for p, o, c in zip(config["prediction"], config["order"], config["corrector"]))
    return SolverSchedule(tuple(ts), steps, str(config.get("variant", "bh2")))


class SolverScheduleSpace(Space):
    def __init__(self, nfe: int = 6, max_order: int = 3, predictions: Sequence[str] = ("data", "noise"),
                 corrector: bool = True, variants: Sequence[str] = ("bh1", "bh2"),
                 t_end: Sequence[float] | None = (1e-4, 1e-2), min_increment: float = 0.02,
                 vp: VPSchedule | None = None, name: str = "solver_schedule") -> None:
        if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
            raise ConfigError(f"space '{name}': 'nfe' must be a positive integer, got {nfe!r}")
        if max_order not in (1, 2, 3):
            raise ConfigError(f"space '{name}': 'max_order' must be 1, 2 or 3, got {max_order!r}")
        if isinstance(min_increment, bool) or not isinstance(min_increment, (int, float)) \
                or not 0.0 < min_increment <= 1.0:
            raise ConfigError(f"space '{name}': 'min_increment' must lie in (0, 1] (the smallest step, relative to "
                              f"the largest), got {min_increment!r}")
        self.nfe, self.max_order, self.vp = nfe, max_order, vp or VPSchedule()
        self.min_increment = float(min_increment)
        variables = [RealVector("increments", nfe, low=min_increment, high=1.0)]
        if t_end is not None:
            lo, hi = (float(x) for x in t_end)
            variables.append(Real("t_end", lo, hi, log=True))
        self.t_end_range = None if t_end is None else (float(t_end[0]), float(t_end[1]))
        variables += [
            ChoiceSequence("prediction", nfe, list(predictions)),
            ChoiceSequence("order", nfe, [list(range(1, min(i + 1, max_order) + 1)) for i in range(nfe)],
                           ordered=True),
            ChoiceSequence("corrector", nfe, [[False, True] if corrector and i < nfe - 1 else [False]
                                              for i in range(nfe)]),
            Categorical("variant", list(variants)),
        ]
        super().__init__(variables, costs={"nfe": lambda c: float(self.nfe)}, name=name)

    def to_schedule(self, config: Config) -> SolverSchedule:
        return config_to_schedule(config, self.vp)

    def from_schedule(self, schedule: SolverSchedule) -> Config:
        """The configuration of a schedule with ``nfe`` steps (increments scaled to max 1)."""
        if schedule.n_steps != self.nfe:
            raise ConfigError(f"schedule has {schedule.n_steps} steps, the space {self.nfe}")
        lams = np.array([self.vp.lam(t) for t in schedule.timesteps])
        inc = np.diff(lams)
        inc = np.clip(inc / inc.max(), self.min_increment, 1.0)
        cfg: Config = {"increments": inc.tolist()}
        if self.t_end_range is not None:
            cfg["t_end"] = float(np.clip(schedule.timesteps[-1], *self.t_end_range))
        cfg.update(prediction=[s.prediction for s in schedule.steps],
                   order=[min(s.order, i + 1, self.max_order) for i, s in enumerate(schedule.steps)],
                   corrector=[bool(s.corrector) and i < self.nfe - 1 for i, s in enumerate(schedule.steps)],
                   variant=schedule.variant)
        return self.validate(self.repair(cfg))

    def baselines(self) -> dict[str, Config]:
        """DDIM, DPM-Solver++(2M), DPM-Solver++(3M) and UniPC (bh1, bh2; orders 2, 3) on the usual grids."""
        out: dict[str, Config] = {}
        for grid in GRIDS:
            out[f"ddim/{grid}"] = self.from_schedule(baseline_schedule("ddim", self.nfe, grid, self.vp))
            out[f"dpmpp2m/{grid}"] = self.from_schedule(baseline_schedule("dpmpp", self.nfe, grid, self.vp, order=2))
            out[f"dpmpp3m/{grid}"] = self.from_schedule(baseline_schedule("dpmpp", self.nfe, grid, self.vp, order=3))
            for order in (2, 3):
                for variant in ("bh1", "bh2"):
                    out[f"unipc{order}-{variant}/{grid}"] = self.from_schedule(
                        baseline_schedule("unipc", self.nfe, grid, self.vp, order=order, variant=variant))
        return out

    def initial_configs(self) -> list[Config]:
        """The baselines, to seed a search (the space contains them)."""
        seen, out = set(), []
        for c in self.baselines().values():
            k = self.key(c)
            if k not in seen:
                seen.add(k)
                out.append(c)
        return out

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(nfe=self.nfe, max_order=self.max_order, schedule=asdict(self.vp))
        return d


def solver_schedule_space(**options: Any) -> SolverScheduleSpace:
    """Registry factory (YAML: ``space: {name: solver_schedule, nfe: 6, ...}``)."""
    return SolverScheduleSpace(**options)
