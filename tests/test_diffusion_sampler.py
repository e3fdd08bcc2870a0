"""The unified sampler: convergence to exact / high-NFE solutions, fixed points, NFE accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paretoforge.diffusion.models import Denoiser, DenoiserConfig
from paretoforge.diffusion.sampler import SolverSchedule, StepDecision, baseline_schedule, sample, timestep_grid
from paretoforge.diffusion.schedule import VPSchedule

VP = VPSchedule()
MU, S = 0.4, 0.3


def gaussian_eps(k: int, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Exact eps of data ~ N(MU, S^2 I) under the VP schedule."""
    a = torch.tensor([VP.alpha(float(tt)) for tt in t], dtype=x.dtype).view(-1, 1, 1, 1)
    sg = torch.sqrt(1 - a * a)
    return sg * (x - a * MU) / (a * a * S * S + sg * sg)


def exact_solution(x_T: torch.Tensor, t_end: float) -> torch.Tensor:
    a_T, a_e = VP.alpha(1.0), VP.alpha(t_end)
    scale = math.sqrt(a_e ** 2 * S * S + VP.sigma(t_end) ** 2) / math.sqrt(a_T ** 2 * S * S + VP.sigma(1.0) ** 2)
    return a_e * MU + scale * (x_T - a_T * MU)


def x_T(n: int = 8) -> torch.Tensor:
    return torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def mixed(n: int) -> SolverSchedule:
    steps = tuple(StepDecision("noise" if i % 2 else "data", min(3, i + 1), i < n - 1 and i % 3 == 0)
                  for i in range(n))
    return SolverSchedule(timestep_grid(n, "time_quadratic"), steps, "bh1")


@pytest.mark.parametrize("make", [
    lambda n: baseline_schedule("ddim", n), lambda n: baseline_schedule("dpmpp", n),
    lambda n: baseline_schedule("unipc", n, order=3), mixed,
], ids=["ddim", "dpmpp2m", "unipc3", "mixed"])
def test_converges_to_exact_solution_as_steps_grow(make):
    x = x_T()
    ref = exact_solution(x, VP.t_min)
    errs = [(sample(gaussian_eps, x, make(n), VP) - ref).abs().max().item() for n in (8, 32, 128)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.1 * errs[0] or errs[2] < 1e-4


def test_converges_to_high_nfe_reference_with_a_network():
    torch.manual_seed(0)
    net = Denoiser(DenoiserConfig(8, 1, 16)).double().eval()
    fn = lambda k, x, t: net(x, t)  # noqa: E731
    x = x_T(4)
    ref = sample(fn, x, baseline_schedule("unipc", 160, order=3), VP)
    errs = {n: (sample(fn, x, baseline_schedule("dpmpp", n), VP) - ref).abs().max().item() for n in (5, 10, 20, 40)}
    vals = list(errs.values())
    assert all(a > b for a, b in zip(vals, vals[1:])), errs
    assert vals[-1] < 0.05 * vals[0], errs


def test_ddim_is_the_same_in_both_prediction_types():
    ts = timestep_grid(6, "time_uniform")
    a = sample(gaussian_eps, x_T(), SolverSchedule(ts, tuple(StepDecision("data", 1) for _ in range(6))), VP)
    b = sample(gaussian_eps, x_T(), SolverSchedule(ts, tuple(StepDecision("noise", 1) for _ in range(6))), VP)
    assert torch.allclose(a, b, atol=1e-10)


def test_dpm_solver_pp_2m_is_a_fixed_point():
    """Against the published DPM-Solver++(2M) update (Lu et al. 2022, Algorithm 2)."""
    n = 12
    ts = timestep_grid(n, "logsnr")
    x = x_T()
    calls = []

    def x0(xx, t):
        eps = gaussian_eps(0, xx, torch.full((len(xx),), t, dtype=xx.dtype))
        calls.append(t)
        return (xx - VP.sigma(t) * eps) / VP.alpha(t)

    prev = None
    for i in range(n):
        s, t = ts[i], ts[i + 1]
        h = VP.lam(t) - VP.lam(s)
        d = x0(x, s)
        if prev is None:
            dd = d
        else:
            r = (VP.lam(s) - VP.lam(prev[1])) / h
            dd = d + 0.5 / r * (d - prev[0])
        x = VP.sigma(t) / VP.sigma(s) * x - VP.alpha(t) * math.expm1(-h) * dd
        prev = (d, s)
    ours = sample(gaussian_eps, x_T(), baseline_schedule("dpmpp", n), VP)  # 12 >= 10 steps: no lower-order final
    assert torch.allclose(ours, x, atol=1e-10)


def _calls(sch: SolverSchedule) -> list[int]:
    calls: list[int] = []
    sample(lambda k, x, t: calls.append(k) or gaussian_eps(k, x, t), x_T(2), sch, VP)
    return calls


def test_nfe_counts_model_calls():
    for sch in (baseline_schedule("unipc", 5), mixed(7)):
        calls = _calls(sch)
        assert len(calls) == sch.nfe == sch.n_steps
        assert calls == list(range(sch.nfe))
    steps = (StepDecision("data", 1, False), StepDecision("data", 2, True))
    sch = SolverSchedule(timestep_grid(2), steps)
    assert sch.nfe == 3 == len(_calls(sch))


def test_corrector_changes_the_result():
    ts = timestep_grid(5)
    off = SolverSchedule(ts, tuple(StepDecision("data", 2, False) for _ in range(5)))
    on = SolverSchedule(ts, tuple(StepDecision("data", 2, i < 4) for i in range(5)))
    ref = exact_solution(x_T(), VP.t_min)
    e_off = (sample(gaussian_eps, x_T(), off, VP) - ref).abs().max().item()
    e_on = (sample(gaussian_eps, x_T(), on, VP) - ref).abs().max().item()
    assert e_on != pytest.approx(e_off)


def test_schedule_validation_and_round_trip():
    with pytest.raises(ValueError, match="decrease"):
        SolverSchedule((1.0, 0.5, 0.7), (StepDecision(), StepDecision()))
    with pytest.raises(ValueError, match="steps \\+ 1"):
        SolverSchedule((1.0, 0.5), (StepDecision(), StepDecision()))
    with pytest.raises(ValueError, match="order"):
        StepDecision("data", 4)
    sch = mixed(5)
    assert SolverSchedule.from_dict(sch.to_dict()) == sch


def test_grids_and_lambda_inverse():
    for kind in ("logsnr", "time_uniform", "time_quadratic"):
        ts = timestep_grid(7, kind)
        assert ts[0] == 1.0 and ts[-1] == VP.t_min and all(np.diff(ts) < 0)
    lams = np.diff([VP.lam(t) for t in timestep_grid(7, "logsnr")])
    assert np.allclose(lams, lams[0])
    for t in (1e-3, 0.1, 0.5, 1.0):
        assert VP.t_of_lambda(VP.lam(t)) == pytest.approx(t, rel=1e-9)
