"""Predictor-guided search on spaces with composite variables (per-step / per-layer sequences,
real vectors, subsets): time per proposal and search quality.

    python benchmarks/guided_composite.py                 # timing and quality
    python benchmarks/guided_composite.py --timing-only
    python benchmarks/guided_composite.py --quality-only --seeds 10
    python benchmarks/guided_composite.py --quality-only --problems chain --seeds 20
    python benchmarks/guided_composite.py --quality-only --problems bits --seeds 40 --processes 2
    python benchmarks/guided_composite.py --quality-only --guided-settings '{"centred_rows": 0, "initial_design": "random"}'
    python benchmarks/guided_composite.py --timing-only --guided-settings '{"trust_region": 0.8}'

**Timing**: guided's median time per proposal (``tell`` one result, ``ask(1)``), holding 200 or
1,000 results of random configurations, on the repository's own spaces with composite
variables: the solver schedule (a real vector of step sizes, three choice sequences, a real and
a categorical), the checkpoint combination (a real vector of 24 coefficients), the bit-width
allocation of a 36-layer MLP (an ordered choice sequence; also under an average-bits budget, a
constraint met by repair) and the layer selection of a
24-block MLP (a subset). The objectives are fixed smooth functions of the space's encoding (the timing
does not depend on what they measure); the solver schedule and the checkpoint combination are
also timed with the first of them alone, as their studies have one objective (FD).

**Quality**: ZDT1 and ZDT3 (6 variables) written as one ``RealVector`` and as one ordered
``ChoiceSequence`` of 11 levels per variable (0, 0.1, ..., 1) (the ZDT reference point
(1.1, 1.1), divided by the continuous problem's best hypervolume); and the *chain* problem, a
layer selection too large to enumerate: keep 1..24 of 24 blocks (one ``Subset``), minimising the
blocks kept and an error that adds a fixed weight per dropped block plus a penalty per pair of
neighbouring dropped blocks (log-normal, seed 0), whose exact front a dynamic programme gives;
and the *bits* problem, a bit-width allocation under a budget: ``BitWidthSpace`` of a 12-layer
MLP (2, 3, 4 or 8 bits per layer, at most 5 bits on average: a constraint the space meets by
repair), minimising the average bits and an error that falls 4x per extra bit of a layer (a
log-normal weight per layer, seed 0) plus a penalty per pair of neighbouring 2-bit layers; its
exact front is a dynamic programme too. Normalised hypervolume after 25, 50 and 100
configurations sent, mean ± sd over seeds.

To compare two versions of the code, run this script with each on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np


def timing_spaces() -> dict[str, Any]:
    """The repository's spaces with composite variables, on small real modules."""
    import torch.nn as nn

    from paretoforge.spaces.diffusion.checkpoint_combination import CheckpointCombinationSpace
    from paretoforge.spaces.diffusion.solver_schedule import SolverScheduleSpace
    from paretoforge.spaces.layers.selection import LayerSelectionSpace
    from paretoforge.spaces.quantization.bitwidth import BitWidthSpace

    class Blocks(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(64, 64) for _ in range(n))

    mlp = nn.Sequential(*[nn.Linear(64, 64) for _ in range(36)])
    return {
        "solver schedule (nfe 10)": SolverScheduleSpace(nfe=10),
        "checkpoint combination (24)": CheckpointCombinationSpace(24),
        "bit-widths (36 layers)": BitWidthSpace(mlp, layers=[str(i) for i in range(36)], group_size=64),
        "layer selection (24 blocks)": LayerSelectionSpace(Blocks(24)),
        "bit-widths under a budget (36 layers, 5 bits on average)": BitWidthSpace(
            mlp, layers=[str(i) for i in range(36)], group_size=64, max_avg_bits=5.0),
    }


def _objective_fn(space: Any, seed: int = 0) -> Any:
    w = np.random.default_rng(seed).normal(size=space.width)

    def f(config: dict[str, Any]) -> np.ndarray:
        e = space.encode(config)
        return np.array([float(e @ w), float(((e - 0.5) ** 2).sum())])

    return f


def time_proposals(space: Any, n_stored: int, repeats: int = 15, seed: int = 0, n_objectives: int = 2,
                   settings: dict[str, Any] | None = None) -> float:
    """Median seconds of one proposal by guided (defaults, or ``settings``) holding ``n_stored``
    results, with the first ``n_objectives`` (1 or 2) of the fixed objectives."""
    from paretoforge.search.objectives import Objective
    from paretoforge.search.optimizers import create_optimizer
    from paretoforge.search.trial import Observation

    f2 = _objective_fn(space, seed)

    def f(config: dict[str, Any]) -> np.ndarray:
        return f2(config)[:n_objectives]

    opt = create_optimizer("guided", space, [Objective(n, "minimize") for n in "ab"[:n_objectives]], seed=seed,
                           **(settings or {}))
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    obs = []
    while len(obs) < n_stored:
        c = space.sample(rng)
        k = space.key(c)
        if k not in seen:
            seen.add(k)
            obs.append(Observation(c, k, 1.0, f(c)))
    opt.tell(obs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cfgs = [getattr(s, "config", s) for s in opt.ask(1)]
        opt.tell([Observation(c, space.key(c), 1.0, f(c)) for c in cfgs])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


LEVELS = 11


def quality_space(form: str) -> Any:
    from paretoforge.spaces import ChoiceSequence, RealVector, Space

    if form == "vector":
        return Space([RealVector("x", 6, low=0.0, high=1.0)], name="zdt-vector")
    return Space([ChoiceSequence("x", 6, [round(i / (LEVELS - 1), 1) for i in range(LEVELS)], ordered=True)],
                 name="zdt-grid")


CHAIN = 24


def chain_weights(n: int = CHAIN) -> tuple[np.ndarray, np.ndarray]:
    """The fixed instance of the chain problem: the error each block adds when dropped, and the
    extra error of dropping two neighbouring blocks (log-normal, seed 0)."""
    rng = np.random.default_rng(0)
    return rng.lognormal(0.0, 1.0, n), 2.0 * rng.lognormal(0.0, 1.0, n - 1)


def chain_error(keep: Any, w: np.ndarray, v: np.ndarray) -> float:
    drop = np.ones(len(w), dtype=bool)
    drop[list(keep)] = False
    return float(w[drop].sum() + v[drop[:-1] & drop[1:]].sum())


def chain_front(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The exact front (kept blocks, least error) of the chain problem, by dynamic programming
    over the blocks (state: blocks kept so far, whether the previous block was dropped)."""
    n, inf = len(w), np.inf
    best = np.full((n + 1, 2), inf)  # [kept, previous dropped]
    best[0, 0] = 0.0
    for i in range(n):
        new = np.full((n + 1, 2), inf)
        for k in range(i + 1):
            for prev in (0, 1):
                e = best[k, prev]
                if e == inf:
                    continue
                new[k + 1, 0] = min(new[k + 1, 0], e)  # keep block i
                new[k, 1] = min(new[k, 1], e + w[i] + (v[i - 1] if prev and i > 0 else 0.0))  # drop it
        best = new
    return np.array([[k, best[k].min()] for k in range(1, n + 1)])


BITS_LAYERS, BITS_BUDGET = 12, 5.0


def bits_instance() -> tuple[Any, np.ndarray, np.ndarray]:
    """The fixed instance of the bits problem: a ``BitWidthSpace`` (bits 2, 3, 4 or 8 per layer,
    average at most ``BITS_BUDGET``) of a 12-layer MLP whose layers hold 1, 2 or 4 groups of
    64 x 64 weights, with the error each layer adds at 2 bits (log-normal, falling 4x per extra
    bit) and the extra error of two neighbouring layers both at 2 bits (seed 0)."""
    import torch.nn as nn

    from paretoforge.spaces.quantization.bitwidth import BitWidthSpace

    rng = np.random.default_rng(0)
    widths = 64 * rng.choice([1, 2, 4], BITS_LAYERS)
    mlp = nn.Sequential(*[nn.Linear(int(w), 64) for w in widths])
    space = BitWidthSpace(mlp, layers=[str(i) for i in range(BITS_LAYERS)], group_size=64, max_avg_bits=BITS_BUDGET)
    return space, rng.lognormal(0.0, 1.0, BITS_LAYERS), 0.5 * rng.lognormal(0.0, 1.0, BITS_LAYERS - 1)


def bits_error(bits: Any, w: np.ndarray, v: np.ndarray) -> float:
    b = np.asarray(bits, dtype=float)
    two = b == 2
    return float((w * 4.0 ** (2.0 - b)).sum() + v[two[:-1] & two[1:]].sum())


def bits_front(space: Any, w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The exact front (average bits, least error) under the budget, by dynamic programming over
    the layers (state: weight-bits so far in units of 64 x 64 weights, whether the previous
    layer has 2 bits)."""
    units = [n // 4096 for n in space.numels]
    total = sum(units)
    best: dict[tuple[int, bool], float] = {(0, False): 0.0}
    for i, k in enumerate(units):
        new: dict[tuple[int, bool], float] = {}
        for (size, prev2), e in best.items():
            for b in space.bit_choices:
                e2 = e + w[i] * 4.0 ** (2 - b) + (v[i - 1] if prev2 and b == 2 and i > 0 else 0.0)
                key = (size + k * b, b == 2)
                if e2 < new.get(key, np.inf):
                    new[key] = e2
        best = new
    pts = sorted({(s / total, min(e for (s2, _), e in best.items() if s2 == s)) for s, _ in best
                  if s / total <= BITS_BUDGET + 1e-12})
    out, low = [], np.inf
    for a, e in pts:  # non-dominated: error falls as the bits grow
        if e < low:
            out.append((a, e))
            low = e
    return np.array(out)


def _guided_hypervolumes(name: str, space: Any, fn: Any, metrics: tuple[str, str], seed: int, budgets: list[int],
                         ref: np.ndarray, best: float, settings: dict[str, Any]) -> list[float]:
    """One guided study (batch size 1, in-memory store) minimising the two ``metrics`` that
    ``fn`` returns; the hypervolume of the configurations sent after each budget, over ``best``."""
    from paretoforge.evaluators.base import FunctionEvaluator
    from paretoforge.search.objectives import Objective
    from paretoforge.search.pareto import hypervolume
    from paretoforge.search.study import Study
    from paretoforge.search.trial import TrialState

    study = Study(f"{name}-{seed}", space, FunctionEvaluator(fn, metrics), [Objective(m, "minimize") for m in metrics],
                  optimizer="guided", optimizer_settings=settings, storage=None, seed=seed, batch_size=1)
    study.optimize(timeout=None, n_evaluations=max(budgets))
    sent = sorted(study.trials, key=lambda t: t.number)[: max(budgets)]
    out = []
    for b in budgets:
        F = np.array([[t.metrics[m] for m in metrics] for t in sent[:b] if t.state == TrialState.COMPLETE])
        out.append(hypervolume(F, ref) / best if len(F) else 0.0)
    study.close()
    return out


def run_bits(task: tuple[str, str, int, list[int], dict[str, Any]]) -> list[float]:
    """The bits problem: a bit-width allocation under an average-bits budget (a constraint the
    space meets by repair; 16.8 million allocations, too many to enumerate) minimising (average
    bits, error); hypervolume with the reference point (budget + 0.25, 1.1 x the error at 2 bits
    everywhere) over the exact front's."""
    from paretoforge.search.pareto import hypervolume

    _, _, seed, budgets, settings = task
    space, w, v = bits_instance()
    front = bits_front(space, w, v)
    ref = np.array([BITS_BUDGET + 0.25, 1.1 * front[0, 1]])

    def fn(config: dict[str, Any]) -> dict[str, float]:
        return {"avg_bits": space.avg_bits(config), "error": bits_error(config["bits"], w, v)}

    return _guided_hypervolumes("bits", space, fn, ("avg_bits", "error"), seed, budgets, ref, hypervolume(front, ref),
                                settings)


def run_quality(task: tuple[str, str, int, list[int], dict[str, Any]]) -> list[float]:
    """Normalised hypervolumes after each budget of one guided study."""
    if task[0] == "chain":
        return run_chain(task)
    if task[0] == "bits":
        return run_bits(task)
    from paretoforge.evaluators.base import FunctionEvaluator
    from paretoforge.search.objectives import Objective
    from paretoforge.search.pareto import hypervolume
    from paretoforge.search.problems.zdt import ZDT1, ZDT3, zdt_objectives
    from paretoforge.search.study import Study
    from paretoforge.search.trial import TrialState

    kind, form, seed, budgets, settings = task
    space = quality_space(form)

    def fn(config: dict[str, Any]) -> dict[str, float]:
        f = zdt_objectives(kind, np.asarray(config["x"], dtype=float)[None])[0]
        return {"f1": float(f[0]), "f2": float(f[1])}

    problem = {"zdt1": ZDT1, "zdt3": ZDT3}[kind](6)
    ref = np.asarray(problem.reference_point, dtype=float)
    study = Study(f"{kind}-{form}-{seed}", space, FunctionEvaluator(fn, ("f1", "f2")),
                  [Objective("f1", "minimize"), Objective("f2", "minimize")], optimizer="guided",
                  optimizer_settings=settings, storage=None, seed=seed, batch_size=1)
    study.optimize(timeout=None, n_evaluations=max(budgets))
    sent = sorted(study.trials, key=lambda t: t.number)[: max(budgets)]
    out = []
    for b in budgets:
        F = np.array([[t.metrics["f1"], t.metrics["f2"]] for t in sent[:b] if t.state == TrialState.COMPLETE])
        out.append(hypervolume(F, ref) / float(problem.best_hypervolume) if len(F) else 0.0)
    study.close()
    return out


def run_chain(task: tuple[str, str, int, list[int], dict[str, Any]]) -> list[float]:
    """The chain problem: keep a subset of 24 blocks (``Subset``, 1..24 kept: 16.8 million
    configurations, too many to enumerate) minimising (blocks kept, error); hypervolume with
    the reference point (25, 1.1 x the error of the best single block) over the exact front's."""
    from paretoforge.search.pareto import hypervolume
    from paretoforge.spaces import Space, Subset

    _, _, seed, budgets, settings = task
    w, v = chain_weights()
    front = chain_front(w, v)
    ref = np.array([CHAIN + 1.0, 1.1 * front[0, 1]])
    space = Space([Subset("keep", CHAIN, k_min=1, k_max=CHAIN)], name="chain")

    def fn(config: dict[str, Any]) -> dict[str, float]:
        return {"kept": float(len(config["keep"])), "error": chain_error(config["keep"], w, v)}

    return _guided_hypervolumes("chain", space, fn, ("kept", "error"), seed, budgets, ref, hypervolume(front, ref),
                                settings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timing-only", action="store_true")
    ap.add_argument("--quality-only", action="store_true")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--stored", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--problems", nargs="+", default=["zdt1", "zdt3", "chain", "bits"],
                    choices=["zdt1", "zdt3", "chain", "bits"])
    ap.add_argument("--guided-settings", default="{}", help="JSON: guided's settings (timing and quality runs)")
    args = ap.parse_args()
    settings = json.loads(args.guided_settings)
    import paretoforge

    print(f"# guided on composite spaces, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}, "
          f"paretoforge from {os.path.dirname(paretoforge.__file__)}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.quality_only:
        print("\n| space | unit-cube pool | " + " | ".join(f"{n} stored" for n in args.stored) + " |")
        print("|---|---|" + "---:|" * len(args.stored))
        spaces = timing_spaces()
        # the two diffusion studies of one objective (FD) are timed with one objective too
        rows = [(name, space, 2) for name, space in spaces.items()]
        rows += [(f"{name}, one objective", spaces[name], 1)
                 for name in ("solver schedule (nfe 10)", "checkpoint combination (24)")]
        for name, space, m in rows:
            fast = space.encode_unit(np.full((1, space.unit_dim), 0.5), repaired=False) is not None
            if settings.get("trust_region") and not fast:
                continue  # a trust region needs a unit-cube pool
            cells = [f"{time_proposals(space, n, n_objectives=m, settings=settings):.3f} s" for n in args.stored]
            print(f"| {name} | {'yes' if fast else 'no'} | " + " | ".join(cells) + " |", flush=True)
    if not args.timing_only:
        kinds = [(k, form) for k in args.problems if k in ("zdt1", "zdt3") for form in ("vector", "grid")]
        kinds += [("chain", "subset")] if "chain" in args.problems else []
        kinds += [("bits", "budget")] if "bits" in args.problems else []
        tasks = [(k, form, s, args.budgets, settings) for k, form in kinds for s in range(args.seeds)]
        t0 = time.perf_counter()
        if args.processes > 1:
            from multiprocessing import get_context

            with get_context("spawn").Pool(args.processes) as pool:
                results = pool.map(run_quality, tasks)
        else:
            results = [run_quality(t) for t in tasks]
        print(f"\nseeds 0..{args.seeds - 1}, {time.perf_counter() - t0:.0f} s")
        print("| problem | variable | " + " | ".join(f"@{b}" for b in args.budgets) + " |")
        print("|---|---|" + "---:|" * len(args.budgets))
        labels = {"vector": "RealVector", "grid": f"ordered ChoiceSequence ({LEVELS} levels)",
                  "subset": f"Subset ({CHAIN} blocks, 1..{CHAIN} kept)",
                  "budget": f"BitWidthSpace ({BITS_LAYERS} layers, average bits <= {BITS_BUDGET:g})"}
        for k, form in kinds:
            rows = np.array([r for t, r in zip(tasks, results) if t[0] == k and t[1] == form])
            print(f"| {k} | {labels[form]} | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in
                                                         zip(rows.mean(0), rows.std(0))) + " |")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
