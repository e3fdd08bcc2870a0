"""``digits_fd``: Frechet distance of generated digits in the classifier's feature space.

One evaluator serves the three diffusion spaces (``task``):

* ``solver_schedule`` - zoo model ``model`` sampled with the configuration's solver schedule;
* ``model_schedule`` - the configuration's zoo model per call, sampled with the fixed solver
  (``solver``, ``grid``; NFE = length of the schedule);
* ``checkpoint_combination`` - the combined checkpoint weights, sampled with the fixed solver at
  ``nfe`` steps.

Every candidate is sampled from the same noise (``noise_seed``; seed sets 1, 2, 3 are held out for
finalists) with ``round(n_samples * fidelity)`` samples; a list of seeds averages the FD over them
(less overfitting to one noise set). ``threads`` sets torch's (process-wide)
CPU thread count; the CPU-sized studies use 1. Metrics: ``fd``, ``nfe`` and
``sample_seconds`` (wall time of sampling + features). A non-finite FD fails the candidate.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from typing import Any

import torch

from ...diffusion.sampler import GRIDS, SolverSchedule, baseline_schedule
from ...spaces.diffusion.solver_schedule import config_to_schedule
from ..base import EvalResult, Evaluator, check_metrics

__all__ = ["TASKS", "DigitsFD", "digits_fd"]

TASKS = ("solver_schedule", "model_schedule", "checkpoint_combination")
SOLVERS = {"ddim": ("ddim", 1), "dpmpp2m": ("dpmpp", 2), "dpmpp3m": ("dpmpp", 3), "unipc": ("unipc", 2)}


class DigitsFD(Evaluator):
    metrics = ("fd", "nfe", "sample_seconds")

    def __init__(self, task: str, assets: str = "committed", device: str = "auto", n_samples: int = 500,
                 noise_seed: int | list[int] = 0, model: str = "large", solver: str = "dpmpp2m", grid: str = "logsnr",
                 nfe: int = 10, threads: int | None = None) -> None:
        from ...diffusion.testbed import get_testbed

        if threads is not None:  # process-wide: small CPU models run fastest on one thread
            torch.set_num_threads(int(threads))
        if task not in TASKS:
            raise ValueError(f"digits_fd: 'task' is {task!r}; allowed: {list(TASKS)}")
        if solver not in SOLVERS:
            raise ValueError(f"digits_fd: 'solver' is {solver!r}; allowed: {sorted(SOLVERS)}")
        if grid not in GRIDS:
            raise ValueError(f"digits_fd: 'grid' is {grid!r}; allowed: {list(GRIDS)}")
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
            raise ValueError(f"digits_fd: 'n_samples' must be an integer >= 2, got {n_samples!r}")
        seeds = list(noise_seed) if isinstance(noise_seed, (list, tuple)) else [noise_seed]
        if not seeds or any(isinstance(x, bool) or not isinstance(x, int) for x in seeds):
            raise ValueError(f"digits_fd: 'noise_seed' must be an integer or a list of integers, got {noise_seed!r}")
        self.task, self.n_samples, self.noise_seeds = task, n_samples, seeds
        self.noise_seed = seeds[0]
        if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
            raise ValueError(f"digits_fd: 'nfe' must be an integer >= 1 (model calls per sample), got {nfe!r}")
        self.model_name, self.solver, self.grid, self.nfe = model, solver, grid, int(nfe)
        self.assets = str(assets)
        self.testbed = get_testbed(assets, device)
        if task == "solver_schedule":
            self.testbed.model(model)  # fail early on an unknown zoo model

    def fixed_schedule(self, n_steps: int) -> SolverSchedule:
        name, order = SOLVERS[self.solver]
        return baseline_schedule(name, n_steps, self.grid, self.testbed.vp, order=order)

    def sampler_for(self, config: dict[str, Any]) -> tuple[Any, SolverSchedule]:
        """The model function and solver schedule of a configuration."""
        tb = self.testbed
        if self.task == "solver_schedule":
            return tb.single(tb.model(self.model_name)), config_to_schedule(config, tb.vp)
        if self.task == "model_schedule":
            names = list(config["models"])
            return tb.per_call(names), self.fixed_schedule(len(names))
        return tb.single(tb.combined_model(config["coef"])), self.fixed_schedule(self.nfe)

    def measure(self, config: dict[str, Any], n_samples: int | None = None, noise_seed: int | None = None) -> dict:
        n = self.n_samples if n_samples is None else n_samples
        seeds = self.noise_seeds if noise_seed is None else [noise_seed]
        t0 = time.perf_counter()
        fn, sch = self.sampler_for(config)
        fd = float(sum(self.testbed.fd(self.testbed.run(fn, sch, n, s)) for s in seeds) / len(seeds))
        if self.testbed.device.type == "cuda":
            torch.cuda.synchronize()
        return {"fd": fd, "nfe": float(sch.nfe), "sample_seconds": time.perf_counter() - t0}

    def evaluate(self, configs: Sequence[dict], fidelity: float = 1.0) -> list[EvalResult]:
        n = max(2, int(round(self.n_samples * float(fidelity))))
        out = []
        for cfg in configs:
            t0 = time.perf_counter()
            try:
                m = self.measure(cfg, n)
                err = check_metrics(m)
                info = {"n_samples": n, "noise_seeds": self.noise_seeds}
                res = EvalResult.failure(err) if err else EvalResult(m, info=info)
            except Exception as exc:  # noqa: BLE001 - a failing candidate is data
                res = EvalResult.failure(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
            res.duration = time.perf_counter() - t0
            out.append(res)
        return out


def digits_fd(**options: Any) -> DigitsFD:
    """Registry factory (YAML: ``evaluator: {name: digits_fd, task: solver_schedule, ...}``)."""
    return DigitsFD(**options)
