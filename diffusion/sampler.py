"""The unified sampler of the diffusion ODE: every step has its own decisions.

A :class:`SolverSchedule` is a decreasing timestep grid ``t_0 = T > t_1 > ... > t_N`` and one
:class:`StepDecision` per step: the prediction type the step integrates (``"noise"``: the
exponential integrator in eps, as DPM-Solver; ``"data"``: in x0, as DPM-Solver++), the order of
the multistep predictor (as far as the history of model outputs allows) and whether the
UniPC-style corrector (UniC) refines the step with the model output at its end point. The
predictor/corrector coefficients follow UniPC's B(h) family (``variant`` ``"bh1"``: B(h) = h,
``"bh2"``: B(h) = e^h - 1). Fixed points of the space:

* DDIM: every step order 1, no corrector (both prediction types give the same step);
* DPM-Solver++(2M): data prediction, order 2 (1 on the first step, and on the last below 10
  steps), no corrector, ``bh2`` (its order-2 coefficient is 1/2);
* UniPC: data prediction, order p with the corrector on every step but the last.

The model is called once at ``x_T`` and once at the end of every step except the last one (whose
output would only be needed by a corrector there: a corrector on the last step costs one more
call). NFE is therefore ``N`` (+1 with a final corrector). History entries keep the point where
the model was called and its eps output, so steps of different prediction types can share them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .schedule import VPSchedule

__all__ = ["GRIDS", "ModelFn", "SolverSchedule", "StepDecision", "baseline_schedule", "sample", "timestep_grid"]

#: ``model_fn(call_index, x, t)`` returns eps; ``t`` is a (B,) tensor
ModelFn = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]

GRIDS = ("logsnr", "time_uniform", "time_quadratic")
PREDICTIONS = ("data", "noise")
VARIANTS = ("bh1", "bh2")


@dataclass(frozen=True)
class StepDecision:
    prediction: str = "data"
    order: int = 1
    corrector: bool = False

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"step prediction {self.prediction!r}; allowed: {list(PREDICTIONS)}")
        if isinstance(self.order, bool) or not isinstance(self.order, (int, np.integer)) or self.order not in (1, 2, 3):
            raise ValueError(f"step order {self.order!r}; allowed: 1, 2, 3")
        if not isinstance(self.corrector, (bool, np.bool_)):
            raise ValueError(f"step corrector {self.corrector!r}; allowed: true, false")


@dataclass(frozen=True)
class SolverSchedule:
    timesteps: tuple[float, ...]
    steps: tuple[StepDecision, ...]
    variant: str = "bh2"

    def __post_init__(self) -> None:
        ts = np.asarray(self.timesteps, dtype=float)
        if not self.steps:
            raise ValueError("a solver schedule needs at least one step")
        if len(ts) != len(self.steps) + 1:
            raise ValueError(f"{len(ts)} timesteps for {len(self.steps)} steps; need steps + 1")
        if not (np.diff(ts) < 0).all() or ts[-1] <= 0:
            raise ValueError(f"timesteps must decrease strictly and stay > 0, got {ts.tolist()}")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant {self.variant!r}; allowed: {list(VARIANTS)}")

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def nfe(self) -> int:
        return self.n_steps + int(self.steps[-1].corrector)

    def to_dict(self) -> dict:
        return {"timesteps": list(self.timesteps), "variant": self.variant,
                "steps": [{"prediction": s.prediction, "order": s.order, "corrector": s.corrector} for s in self.steps]}

    @classmethod
    def from_dict(cls, d: dict) -> SolverSchedule:
        return cls(tuple(float(t) for t in d["timesteps"]), tuple(StepDecision(**s) for s in d["steps"]),
                   d.get("variant", "bh2"))


def timestep_grid(n_steps: int, kind: str = "logsnr", vp: VPSchedule | None = None,
                  t_max: float | None = None, t_min: float | None = None) -> tuple[float, ...]:
    """The usual grids: uniform in half log-SNR (DPM-Solver), uniform or quadratic in time (DDIM)."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"'n_steps' must be an integer >= 1, got {n_steps!r}")
    vp = vp or VPSchedule()
    t_max = vp.t_max if t_max is None else t_max
    t_min = vp.t_min if t_min is None else t_min
    if kind == "logsnr":
        lams = np.linspace(vp.lam(t_max), vp.lam(t_min), n_steps + 1)
        ts = [vp.t_of_lambda(float(x)) for x in lams]
        ts[0], ts[-1] = t_max, t_min
    elif kind == "time_uniform":
        ts = np.linspace(t_max, t_min, n_steps + 1).tolist()
    elif kind == "time_quadratic":
        ts = (np.linspace(math.sqrt(t_max), math.sqrt(t_min), n_steps + 1) ** 2).tolist()
    else:
        raise ValueError(f"unknown timestep grid {kind!r}; allowed: {list(GRIDS)}")
    ts = list(ts)
    ts[0], ts[-1] = t_max, t_min
    return tuple(float(t) for t in ts)


def baseline_schedule(solver: str, n_steps: int, grid: str = "logsnr", vp: VPSchedule | None = None,
                      order: int = 2, variant: str | None = None) -> SolverSchedule:
    """DDIM (``"ddim"``), DPM-Solver++ multistep (``"dpmpp"``, order 2 = 2M) or UniPC (``"unipc"``)."""
    ts = timestep_grid(n_steps, grid, vp)
    lower_final = n_steps < 10
    steps = []
    for i in range(n_steps):
        o = 1 if solver == "ddim" else min(order, i + 1)
        if solver != "ddim" and lower_final:
            o = min(o, n_steps - i)
        steps.append(StepDecision("data", o, solver == "unipc" and i < n_steps - 1))
    if solver not in ("ddim", "dpmpp", "unipc"):
        raise ValueError(f"unknown baseline solver {solver!r}; allowed: ddim, dpmpp, unipc")
    default_variant = "bh1" if solver == "unipc" else "bh2"
    return SolverSchedule(ts, tuple(steps), variant or default_variant)


def _coefficients(rks: list[float], hh: float, order: int, variant: str) -> tuple[float, float, np.ndarray,
                                                                                  np.ndarray]:
    """UniPC's h*phi_1, B(h), the order conditions R (order x order) and b (order)."""
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1.0
    b_h = hh if variant == "bh1" else math.expm1(hh)
    R, b = [], []
    fact = 1
    r = np.asarray(rks, dtype=np.float64)
    for i in range(1, order + 1):
        R.append(r ** (i - 1))
        b.append(h_phi_k * fact / b_h)
        fact *= i + 1
        h_phi_k = h_phi_k / hh - 1.0 / fact
    return h_phi_1, b_h, np.stack(R), np.asarray(b)


@torch.no_grad()
def sample(model_fn: ModelFn, x_T: torch.Tensor, schedule: SolverSchedule, vp: VPSchedule | None = None) -> torch.Tensor:
    """Integrate the probability-flow ODE from ``x_T`` along ``schedule``; returns ``x_{t_N}``."""
    vp = vp or VPSchedule()
    ts = schedule.timesteps
    B = x_T.shape[0]

    def call(k: int, x: torch.Tensor, t: float) -> torch.Tensor:
        return model_fn(k, x, torch.full((B,), t, device=x.device, dtype=x.dtype))

    x = x_T
    # history: (t, lambda, x where the model ran, eps)
    hist: list[tuple[float, float, torch.Tensor, torch.Tensor]] = [(ts[0], vp.lam(ts[0]), x, call(0, x, ts[0]))]
    n_calls = 1

    def as_pred(entry: tuple[float, float, torch.Tensor, torch.Tensor], pred: str) -> torch.Tensor:
        t, _, xe, eps = entry
        return eps if pred == "noise" else (xe - vp.sigma(t) * eps) / vp.alpha(t)

    for i, dec in enumerate(schedule.steps):
        s_t, t = ts[i], ts[i + 1]
        lam_s, lam_t = hist[-1][1], vp.lam(t)
        h = lam_t - lam_s
        order = min(dec.order, len(hist))
        data = dec.prediction == "data"
        m0 = as_pred(hist[-1], dec.prediction)
        rks, d1s = [], []
        for j in range(1, order):
            prev = hist[-1 - j]
            rk = (prev[1] - lam_s) / h
            rks.append(rk)
            d1s.append((as_pred(prev, dec.prediction) - m0) / rk)
        rks.append(1.0)
        hh = -h if data else h
        h_phi_1, b_h, R, b = _coefficients(rks, hh, order, schedule.variant)
        if data:
            x_base = (vp.sigma(t) / vp.sigma(s_t)) * x - vp.alpha(t) * h_phi_1 * m0
            scale = vp.alpha(t) * b_h
        else:
            x_base = (vp.alpha(t) / vp.alpha(s_t)) * x - vp.sigma(t) * h_phi_1 * m0
            scale = vp.sigma(t) * b_h
        x_pred = x_base
        if d1s:
            rhos_p = np.array([0.5]) if order == 2 else np.linalg.solve(R[:-1, :-1], b[:-1])
            x_pred = x_base - scale * sum(float(r) * d for r, d in zip(rhos_p, d1s))
        last = i == schedule.n_steps - 1
        if last and not dec.corrector:
            x = x_pred
            break
        eps_t = call(n_calls, x_pred, t)
        n_calls += 1
        entry = (t, lam_t, x_pred, eps_t)
        x = x_pred
        if dec.corrector:
            rhos_c = np.array([0.5]) if order == 1 else np.linalg.solve(R, b)
            corr = sum(float(r) * d for r, d in zip(rhos_c[:-1], d1s)) if d1s else 0.0
            d1_t = as_pred(entry, dec.prediction) - m0
            x = x_base - scale * (corr + float(rhos_c[-1]) * d1_t)
        hist.append(entry)
        if len(hist) > 3:
            hist.pop(0)
    return x
