"""Search quality: normalised hypervolume after a given number of evaluations.

For every (problem, optimizer, seed) one study of ``max(--budgets)`` evaluations runs through
paretoforge's :class:`~paretoforge.search.study.Study` (in-memory store, batch size 1). The
hypervolume after the first ``b`` completed evaluations is read from
``study.hypervolume_history(problem.reference_point)[b - 1]`` and divided by
``problem.best_hypervolume`` (1.0 = the true Pareto front). The table reports mean ± standard
deviation over seeds, and the wall seconds of one run (study set-up plus ``optimize``; the
problem itself is built once per worker process and not timed).

On a small discrete space the study stops early when the optimizer proposes only configurations
already evaluated; such a run keeps its last hypervolume for the later checkpoints and is
counted in the "short runs" note.

    python benchmarks/quality.py                 # full: 10 seeds, budgets 50 100 200
    python benchmarks/quality.py --quick         # smoke test (< 60 s)
    python benchmarks/quality.py --problems zdt1 dtlz2 --optimizers nsga2 optuna-nsga2 --seeds 3
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from typing import Any

# one thread per worker: the pool already uses every core
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

#: label -> (registry name, get_problem keyword arguments)
PROBLEMS: dict[str, tuple[str, dict[str, Any]]] = {
    "zdt1": ("zdt1", {"n_var": 6}),
    "zdt2": ("zdt2", {"n_var": 6}),
    "zdt3": ("zdt3", {"n_var": 6}),
    "dtlz2": ("dtlz2", {"n_obj": 3}),
    "nasbench201": ("nasbench201", {"dataset": "cifar10"}),
    "nasbench_graph": ("nasbench_graph", {"dataset": "cora"}),
}

#: label -> (optimizer registry name, optimizer_settings)
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "nsga2": ("nsga2", {"population_size": 20}),
    "optuna-tpe": ("optuna", {"sampler": "TPESampler"}),
    "optuna-nsga2": ("optuna", {"sampler": "NSGAIISampler", "sampler_kwargs": {"population_size": 20}}),
    "pymoo-nsga2": ("pymoo", {"algorithm": "NSGA2", "algorithm_kwargs": {"pop_size": 20}}),
}

#: rough relative cost, to start the slow runs first (better balance over the pool)
_COST = {"optuna-tpe": 10.0, "pymoo-nsga2": 1.5, "optuna-nsga2": 1.5, "nsga2": 1.0, "random": 1.0}

_problem_cache: dict[str, Any] = {}


def _problem(label: str) -> Any:
    if label not in _problem_cache:
        from paretoforge.search.problems import get_problem

        name, kwargs = PROBLEMS[label]
        _problem_cache[label] = get_problem(name, **kwargs)
    return _problem_cache[label]


def _worker_init() -> None:
    logging.getLogger("paretoforge").setLevel(logging.ERROR)


def run_one(task: tuple[str, str, int, tuple[int, ...]]) -> dict[str, Any]:
    """One study; returns the normalised hypervolume at each budget and the run's wall time."""
    problem_label, opt_label, seed, budgets = task
    from paretoforge.search.study import Study

    problem = _problem(problem_label)
    opt_name, settings = OPTIMIZERS[opt_label]
    n_max = max(budgets)
    t0 = time.perf_counter()
    study = Study(f"{problem_label}-{opt_label}-{seed}", problem.space, problem.evaluator(), problem.objectives,
                  optimizer=opt_name, optimizer_settings=settings, storage=None, seed=seed, batch_size=1)
    study.optimize(n_max)
    seconds = time.perf_counter() - t0
    history = study.hypervolume_history(problem.reference_point)
    counts = study.results().counts()
    study.close()
    best = float(problem.best_hypervolume)
    n_done = len(history)
    hv = {}
    for b in budgets:
        value = float(history[min(b, n_done) - 1]) if n_done else 0.0
        hv[str(b)] = value / best
    return {"problem": problem_label, "optimizer": opt_label, "seed": seed, "hv": hv, "completed": n_done,
            "failed": counts.get("failed", 0), "seconds": seconds}


def machine_info() -> dict[str, Any]:
    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "optuna": version("optuna"),
        "pymoo": version("pymoo"),
        "torch": version("torch"),
        "paretoforge": version("paretoforge"),
    }


def summarize(runs: list[dict[str, Any]], problems: list[str], optimizers: list[str],
              budgets: list[int]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in problems:
        for o in optimizers:
            rs = [r for r in runs if r["problem"] == p and r["optimizer"] == o]
            if not rs:
                continue
            row: dict[str, Any] = {"n_seeds": len(rs), "seconds_mean": statistics.fmean(r["seconds"] for r in rs)}
            for b in budgets:
                vals = [r["hv"][str(b)] for r in rs]
                row[f"mean@{b}"] = statistics.fmean(vals)
                row[f"sd@{b}"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
            row["short_runs"] = sum(r["completed"] < max(budgets) for r in rs)
            out[f"{p}/{o}"] = row
    return out


def markdown_table(summary: dict[str, dict[str, Any]], problems: list[str], optimizers: list[str],
                   budgets: list[int]) -> str:
    head = "| problem | optimizer | " + " | ".join(f"@{b}" for b in budgets) + " | s/run |"
    sep = "|---|---|" + "---:|" * len(budgets) + "---:|"
    lines = [head, sep]
    for p in problems:
        rows = [(o, summary[f"{p}/{o}"]) for o in optimizers if f"{p}/{o}" in summary]
        # best mean per checkpoint, compared as printed (ties are all bold)
        best = {b: max(round(r[f"mean@{b}"], 3) for _, r in rows) for b in budgets}
        for o, r in rows:
            cells = []
            for b in budgets:
                cell = f"{r[f'mean@{b}']:.3f} ± {r[f'sd@{b}']:.3f}"
                if round(r[f"mean@{b}"], 3) == best[b]:
                    cell = f"**{cell}**"
                cells.append(cell)
            lines.append(f"| {p} | {o} | " + " | ".join(cells) + f" | {r['seconds_mean']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    ap.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    ap.add_argument("--optimizers", nargs="+", choices=list(OPTIMIZERS), default=list(OPTIMIZERS))
    ap.add_argument("--budgets", nargs="+", type=int, default=[50, 100, 200],
                    help="checkpoints in completed evaluations; one run of max(budgets) each")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 2 seeds, budgets 20 40, zdt1 and nasbench201 only")
    ap.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--out", default=None, help="also write every run and the summary as JSON here")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.budgets, args.problems = 2, [20, 40], ["zdt1", "nasbench201"]
    budgets = sorted(set(args.budgets))
    if budgets[0] < 1 or args.seeds < 1:
        ap.error("budgets and --seeds must be positive")

    info = machine_info()
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    print(f"# paretoforge search quality, {date} (UTC)")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print(f"seeds 0..{args.seeds - 1}, budgets {budgets}, {args.processes} processes, "
          f"{len(args.problems)} problems x {len(args.optimizers)} optimizers", flush=True)

    tasks = [(p, o, s, tuple(budgets)) for p in args.problems for o in args.optimizers for s in range(args.seeds)]
    tasks.sort(key=lambda t: -_COST.get(t[1], 1.0))
    t0 = time.perf_counter()
    runs: list[dict[str, Any]] = []
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.processes, initializer=_worker_init) as pool:
        for i, r in enumerate(pool.imap_unordered(run_one, tasks, chunksize=1), 1):
            runs.append(r)
            if i % 25 == 0 or i == len(tasks):
                print(f"  {i}/{len(tasks)} runs, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - t0
    runs.sort(key=lambda r: (args.problems.index(r["problem"]), args.optimizers.index(r["optimizer"]), r["seed"]))

    summary = summarize(runs, args.problems, args.optimizers, budgets)
    table = markdown_table(summary, args.problems, args.optimizers, budgets)
    print(flush=True)
    print(table)
    print(flush=True)
    short = [r for r in runs if r["completed"] < max(budgets)]
    if short:
        detail = ", ".join(f"{r['problem']}/{r['optimizer']}/seed {r['seed']}: {r['completed']}" for r in short)
        print(f"short runs (fewer than {max(budgets)} completed evaluations; last value carried forward): "
              f"{len(short)} of {len(runs)} ({detail})")
    else:
        print(f"short runs: none (all {len(runs)} runs reached {max(budgets)} completed evaluations)")
    failed = sum(r["failed"] for r in runs)
    if failed:
        print(f"failed evaluations (not counted as completed): {failed} in total")
    print(f"total wall time: {total:.1f} s for {len(runs)} runs on {args.processes} processes")

    payload = {"date": date, "machine": info, "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
               "settings": {"seeds": args.seeds, "budgets": budgets, "problems": {p: PROBLEMS[p] for p in args.problems},
                            "optimizers": {o: OPTIMIZERS[o] for o in args.optimizers}, "processes": args.processes,
                            "batch_size": 1, "storage": None},
               "total_seconds": total, "summary": summary, "table": table, "runs": runs}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(payload, fh, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
