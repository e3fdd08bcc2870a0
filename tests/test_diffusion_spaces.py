"""The diffusion spaces: fixed points, operators, repair, conversion to samplers."""

from __future__ import annotations

import numpy as np
import pytest

from paretoforge.diffusion.sampler import baseline_schedule
from paretoforge.search.objectives import Objective
from paretoforge.search.optimizers.nsga2 import NSGA2
from paretoforge.spaces.diffusion import CheckpointCombinationSpace, ModelScheduleSpace, SolverScheduleSpace
from paretoforge.spaces.variables import ConfigError


def test_solver_space_contains_the_baselines_exactly():
    sp = SolverScheduleSpace(nfe=6)
    base = sp.baselines()
    assert {"ddim/logsnr", "dpmpp2m/logsnr", "unipc2-bh1/time_uniform"} <= set(base)
    for name, cfg in base.items():
        solver, grid = name.split("/")
        sch = sp.to_schedule(cfg)
        ref = {"ddim": baseline_schedule("ddim", 6, grid), "dpmpp2m": baseline_schedule("dpmpp", 6, grid, order=2),
               "dpmpp3m": baseline_schedule("dpmpp", 6, grid, order=3)}.get(solver)
        if solver.startswith("unipc"):
            order, variant = int(solver[5]), solver.split("-")[1]
            ref = baseline_schedule("unipc", 6, grid, order=order, variant=variant)
        assert np.allclose(sch.timesteps, ref.timesteps, rtol=1e-9, atol=1e-12), name
        assert sch.steps == ref.steps and sch.variant == ref.variant, name
    assert base["dpmpp2m/logsnr"]["increments"] == [1.0] * 6


def test_solver_space_operators_keep_valid_schedules():
    sp = SolverScheduleSpace(nfe=5)
    rng = np.random.default_rng(0)
    cfgs = [sp.sample(rng) for _ in range(20)]
    for _ in range(40):
        a, b = cfgs[rng.integers(len(cfgs))], cfgs[rng.integers(len(cfgs))]
        c1, c2 = sp.crossover(a, b, rng)
        cfgs += [sp.mutate(c1, rng), c2]
    for c in cfgs:
        c = sp.validate(c)
        assert all(o <= i + 1 for i, o in enumerate(c["order"]))
        assert c["corrector"][-1] is False
        sch = sp.to_schedule(c)
        assert sch.nfe == 5 and np.all(np.diff(sch.timesteps) < 0)
        assert sp.from_flat(sp.to_flat(c)) == c
    with pytest.raises(ConfigError, match="position 0"):
        sp.validate({**cfgs[0], "order": [2, 1, 1, 1, 1]})


def test_model_space_cost_budget_repair_and_switch_points():
    lat = {"small": 1.0, "medium": 2.0, "large": 5.0}
    sp = ModelScheduleSpace(["large", "small", "medium"], lat, nfe=6, budget_ms=15.0)
    assert sp.zoo == ["small", "medium", "large"]
    assert sp.schedule_latency({"models": ["large"] * 6}) == 30.0
    rng = np.random.default_rng(1)
    for _ in range(30):
        c = sp.sample(rng)
        assert sp.schedule_latency(c) <= 15.0 and sp.is_feasible(c)
        m = sp.mutate(c, rng)
        assert sp.schedule_latency(m) <= 15.0
    fixed = sp.repair({"models": ["large"] * 6}, rng)
    assert sp.schedule_latency(fixed) <= 15.0 and fixed["models"].count("large") >= 1
    sw = sp.switch_point_configs()
    assert len(sw) == 3 + 3 * 5
    assert sw["largex2+smallx4"]["models"] == ["large", "large", "small", "small", "small", "small"]
    with pytest.raises(ConfigError, match="no latency"):
        ModelScheduleSpace(["a", "b"], {"a": 1.0}, nfe=3)


def test_checkpoint_space_baselines():
    sp = CheckpointCombinationSpace(6)
    b = sp.baselines()
    assert b["last"]["coef"] == [0, 0, 0, 0, 0, 1.0]
    assert b["uniform_last4"]["coef"] == [0, 0, 1.0, 1.0, 1.0, 1.0]
    assert b["ema0.5"]["coef"] == pytest.approx([0.5 ** (5 - i) for i in range(6)])
    rng = np.random.default_rng(0)
    for _ in range(10):
        c = sp.mutate(sp.sample(rng), rng)
        assert all(-1.0 <= x <= 1.0 for x in c["coef"])
    with pytest.raises(ConfigError):
        CheckpointCombinationSpace(1)


def test_nsga2_seeds_the_first_generation_with_the_space_baselines():
    sp = SolverScheduleSpace(nfe=4)
    opt = NSGA2(sp, [Objective("fd")], seed=0, population_size=30, initial="space")
    first = opt.ask(30)
    seeds = sp.initial_configs()
    assert [sp.key(c) for c in first[: len(seeds)]] == [sp.key(c) for c in seeds]
    with pytest.raises(ValueError, match="initial"):
        NSGA2(sp, [Objective("fd")], initial="nonsense")
