"""Why a search falls short of a tabular problem's best hypervolume: where, and how predictable.

Three views of a NAS table problem (NAS-Bench-201, NAS-Bench-Graph), printed as tables:

1. ``landscape``: how local the best configurations are. For the top ``q`` of the distinct
   points by the first objective (error), the probability that a neighbour (one variable
   changed) is also in the top ``q``; a landscape without locality gives ``q`` itself.
2. ``predictor``: a Gaussian process (the guided optimizer's default predictor, on the log of
   each objective) fitted on ``--train`` random distinct points, tested on all the others:
   Kendall's tau (all points, and within the best 10%), the share of the true top 1% among its
   100 best predictions, and the mean standardised residual of the best 5% (calibration where
   the front is: 0 is calibrated, negative means the model is pessimistic there).
3. ``runs``: optimizer runs (as in ``predictor_quality.py``: batch 1, every configuration sent
   counts) stopped at ``--budget``: the mean hypervolume deficit (share of the best
   hypervolume) in ``--bins`` strips along the error axis, from the exact front's lowest error
   to the reference point, and, for every point of the exact front, in how many runs it was found.

    python benchmarks/predictor_diagnostics.py                      # both NAS problems, 10 seeds, budget 50
    python benchmarks/predictor_diagnostics.py --sections runs --budget 100 --optimizer guided
"""

from __future__ import annotations

import argparse
import datetime as _dt
import multiprocessing as mp
import os
import sys
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
from predictor_quality import OPTIMIZERS, make_study  # noqa: E402
from quality import _problem, _worker_init, machine_info  # noqa: E402

NAS = ("nasbench201", "nasbench_graph")


def distinct_points(problem: Any) -> tuple[list[dict[str, Any]], np.ndarray, list[str]]:
    """One configuration per distinct point (space key) with a table entry, its metrics, keys."""
    space = problem.space
    table = problem.table(problem.dataset)
    cfgs, rows, keys, seen = [], [], [], set()
    for cfg, row in zip(space.enumerate(), table):
        k = space.key(cfg)
        if k in seen or not np.all(np.isfinite(row)):
            continue
        seen.add(k)
        cfgs.append(cfg)
        rows.append(row)
        keys.append(k)
    return cfgs, np.asarray(rows), keys


def landscape(label: str, qs: tuple[float, ...] = (0.01, 0.05), sample: int = 300, seed: int = 0) -> dict[str, float]:
    problem = _problem(label)
    cfgs, Y, keys = distinct_points(problem)
    err = dict(zip(keys, Y[:, 0]))
    rng = np.random.default_rng(seed)
    out = {}
    for q in qs:
        thr = float(np.quantile(Y[:, 0], q))
        top = np.flatnonzero(Y[:, 0] < thr)
        shares = []
        for i in rng.choice(top, min(sample, len(top)), replace=False):
            nb = {problem.space.key(c) for c in problem.space.neighbors(cfgs[int(i)])} - {keys[int(i)]}
            nb = [k for k in nb if k in err]
            if nb:
                shares.append(float(np.mean([err[k] < thr for k in nb])))
        out[f"top {q:.0%}"] = float(np.mean(shares))
    return out


def predictor(label: str, n_train: int, seeds: int) -> list[dict[str, float]]:
    from paretoforge.predictors.base import kendall_tau
    from paretoforge.predictors.gp import GaussianProcess

    problem = _problem(label)
    cfgs, Y, _ = distinct_points(problem)
    X = problem.space.encode_many(cfgs)
    out = []
    for j, name in enumerate(problem.metric_names):
        y = np.log(Y[:, j])
        good = Y[:, j] < np.quantile(Y[:, j], 0.10)
        best = Y[:, j] < np.quantile(Y[:, j], 0.05)
        top1 = Y[:, j] < np.quantile(Y[:, j], 0.01)
        rows = []
        for s in range(seeds):
            rng = np.random.default_rng(s)
            tr = rng.choice(len(y), n_train, replace=False)
            te = np.setdiff1d(np.arange(len(y)), tr)
            gp = GaussianProcess(seed=s)
            gp.bind(problem.space)
            mu, sd = gp.fit(X[tr], y[tr]).predict(X[te])
            z = (y[te] - mu) / sd
            g = good[te]
            rows.append((kendall_tau(mu, y[te]), kendall_tau(mu[g], y[te][g]),
                         float(top1[te][np.argsort(mu)[:100]].mean()), float(z[best[te]].mean())))
        r = np.mean(rows, axis=0)
        out.append({"objective": name, "tau": r[0], "tau_best10": r[1], "top1_hit_at_100": r[2], "z_best5": r[3]})
    return out


def run_front(task: tuple[str, str, int, int]) -> tuple[int, np.ndarray]:
    """Objective rows of the successful trials among the first ``budget`` sent."""
    from paretoforge.search.trial import TrialState

    label, opt_label, seed, budget = task
    problem, _, study = make_study(label, opt_label, seed)
    study.optimize(timeout=None, n_evaluations=budget)
    sent = sorted(study.trials, key=lambda t: t.number)[:budget]
    F = np.array([[t.metrics[o.source] for o in problem.objectives] for t in sent if t.state == TrialState.COMPLETE])
    study.close()
    return seed, F.reshape(-1, len(problem.objectives))


def runs(label: str, opt_label: str, seeds: int, budget: int, bins: int, processes: int) -> dict[str, Any]:
    from paretoforge.search.pareto import hypervolume, hypervolume_deficit

    problem = _problem(label)
    T, ref, best = problem.pareto_front(), problem.reference_point, float(problem.best_hypervolume)
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes, initializer=_worker_init) as pool:
        res = pool.map(run_front, [(label, opt_label, s, budget) for s in range(seeds)], chunksize=1)
    deficits, found, hv = [], np.zeros(len(T), dtype=int), []
    for _, F in sorted(res, key=lambda r: r[0]):
        edges, d = hypervolume_deficit(F, T, ref, bins=bins)
        deficits.append(d / best)
        inside = F[np.all(F < ref, axis=1)]
        hv.append(hypervolume(inside, ref) / best if len(inside) else 0.0)
        found += np.array([bool(len(F)) and bool(np.any(np.all(np.isclose(F, t, rtol=0, atol=1e-12), axis=1)))
                           for t in T])
    return {"edges": edges.tolist(), "deficit": np.mean(deficits, axis=0).tolist(), "hv": hv,
            "front": T.tolist(), "found": found.tolist()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", choices=NAS, default=list(NAS))
    ap.add_argument("--sections", nargs="+", choices=("landscape", "predictor", "runs"),
                    default=["landscape", "predictor", "runs"])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--train", type=int, default=50, help="random training points of the predictor test")
    ap.add_argument("--optimizer", choices=list(OPTIMIZERS), default="guided")
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args(argv)
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    print(f"# paretoforge predictor diagnostics, {date} UTC")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine_info().items()), flush=True)
    for label in args.problems:
        print(f"\n## {label}")
        if "landscape" in args.sections:
            loc = landscape(label)
            print("P(a neighbour of a top-q point is also in the top q): "
                  + ", ".join(f"{k}: {v:.3f} (no locality: {k[4:]})" for k, v in loc.items()), flush=True)
        if "predictor" in args.sections:
            print(f"\nGP on the log of each objective, {args.train} random training points, seeds 0..{args.seeds - 1}:\n")
            print("| objective | tau (all) | tau (best 10%) | true top 1% among best 100 predicted | mean z of best 5% |")
            print("|---|---:|---:|---:|---:|")
            for r in predictor(label, args.train, args.seeds):
                print(f"| {r['objective']} | {r['tau']:.3f} | {r['tau_best10']:.3f} | {r['top1_hit_at_100']:.3f} "
                      f"| {r['z_best5']:+.2f} |", flush=True)
        if "runs" in args.sections:
            out = runs(label, args.optimizer, args.seeds, args.budget, args.bins, args.processes)
            hv = np.asarray(out["hv"])
            print(f"\n{args.optimizer}, first {args.budget} sent, seeds 0..{args.seeds - 1}: hypervolume "
                  f"{hv.mean():.3f} ± {hv.std(ddof=1) if len(hv) > 1 else 0.0:.3f}; mean deficit by error strip:\n")
            e = out["edges"]
            print("| error from | to | deficit |")
            print("|---:|---:|---:|")
            for i, d in enumerate(out["deficit"]):
                print(f"| {e[i]:.4f} | {e[i + 1]:.4f} | {d:.4f} |")
            print("\n| exact front point (error, latency) | found in runs |")
            print("|---|---:|")
            for t, n in zip(out["front"], out["found"]):
                print(f"| {t[0]:.5f}, {t[1]:.5f} | {n}/{args.seeds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
