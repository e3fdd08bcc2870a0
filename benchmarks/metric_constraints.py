"""Optimizers under a study's metric constraint: ZDT1 (4 variables) with a measured side metric
``c = x1`` that must stay at or above ``--bound`` (0.3), while the unconstrained front has x1 = 0.
The constraint is a metric of the evaluation (a study ``constraints:`` entry), not a space
constraint: an optimizer learns it only from the results.

Per optimizer and seed: the feasible hypervolume after ``--evaluations`` (reference point
(1.1, 11)), and the share of its proposals after the first ``--start`` that break the bound; mean
and sd over seeds, each optimizer's studies run side by side in one process.

    python benchmarks/metric_constraints.py --seeds 10
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Sequence

import numpy as np

from paretoforge.evaluators import FunctionEvaluator
from paretoforge.search import Objective, Study
from paretoforge.search.objectives import MetricConstraint
from paretoforge.spaces import Real, Space

REFERENCE = [1.1, 11.0]
OPTIMIZERS = {
    "random": ("random", {}),
    "nsga2": ("nsga2", {}),
    "optuna-tpe": ("optuna", {"sampler": "TPESampler"}),
    "guided": ("guided", {"n_initial": 10}),
}


def zdt1_with_side_metric(c: dict) -> dict[str, float]:
    x = np.array([c[f"x{i}"] for i in range(4)])
    g = 1.0 + 9.0 * float(x[1:].mean())
    return {"f1": float(x[0]), "f2": g * (1.0 - float(np.sqrt(x[0] / g))), "c": float(x[1])}


def run_one(label: str, seed: int, evaluations: int, bound: float, start: int) -> dict[str, float]:
    name, settings = OPTIMIZERS[label]
    space = Space([Real(f"x{i}", 0.0, 1.0) for i in range(4)], name="zdt1-4")
    study = Study(f"{label}-{seed}", space, FunctionEvaluator(zdt1_with_side_metric, metrics=("f1", "f2", "c")),
                  [Objective("f1"), Objective("f2")], optimizer=name, optimizer_settings=settings,
                  constraints=[MetricConstraint("c_min", "c", lower=bound)], seed=seed, reference_point=REFERENCE)
    t0 = time.perf_counter()
    study.optimize(n_evaluations=evaluations)
    late = sorted(study.trials, key=lambda t: t.number)[start:]
    out = {"hv": study.hypervolume(REFERENCE), "broken": sum(t.config["x1"] < bound for t in late) / max(len(late), 1),
           "seconds": time.perf_counter() - t0}
    study.close()
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--evaluations", type=int, default=40)
    ap.add_argument("--bound", type=float, default=0.3)
    ap.add_argument("--start", type=int, default=10, help="proposals counted for the broken share start here")
    ap.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    args = ap.parse_args(argv)
    logging.getLogger("paretoforge").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    print(f"# ZDT1 (4 variables), metric c = x1 >= {args.bound}; {args.evaluations} evaluations, seeds 0.."
          f"{args.seeds - 1}; feasible hypervolume, reference point {REFERENCE}")
    print("\n| optimizer | feasible hypervolume | proposals after the first "
          f"{args.start} that break the bound | median s/run |\n|---|---:|---:|---:|")
    for label in args.optimizers:
        runs = [run_one(label, s, args.evaluations, args.bound, args.start) for s in range(args.seeds)]
        hv = [r["hv"] for r in runs]
        broken = [r["broken"] for r in runs]
        sd = statistics.stdev(hv) if len(hv) > 1 else 0.0
        print(f"| {label} | {statistics.fmean(hv):.3f} ± {sd:.3f} | {statistics.fmean(broken):.0%} | "
              f"{statistics.median(r['seconds'] for r in runs):.1f} |", flush=True)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
