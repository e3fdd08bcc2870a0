"""Predictor-based search against the other optimizers: hypervolume per real evaluation.

Every configuration sent for evaluation counts (failed ones and low-fidelity ones included):
the hypervolume after ``b`` evaluations is that of the feasible full-fidelity results among the
first ``b`` trials in the order they were sent, divided by the problem's best hypervolume.
One study of ``max(--budgets)`` evaluations per (problem, optimizer, seed), batch size 1,
in-memory store. Also the optimizer's own time per proposal (``ask`` + ``tell``), whose median
over the run is reported, and (``--timing``) the time of one proposal after 200 and 1000 stored
evaluations.

    python benchmarks/predictor_quality.py                       # 10 seeds, budgets 25 50 100 200
    python benchmarks/predictor_quality.py --quick               # smoke test
    python benchmarks/predictor_quality.py --optimizers guided --budgets 50 100 --seeds 10
    python benchmarks/predictor_quality.py --timing-only
    python benchmarks/predictor_quality.py --optimizers guided --guided-settings '{"ehvi": "exact"}'   # ablation
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import PROBLEMS, _problem, _worker_init, machine_info  # noqa: E402

#: label -> (optimizer registry name, optimizer_settings)
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "guided": ("guided", {}),
    "guided-zc": ("guided", {}),  # guided plus the problem's zero-cost proxy (ZERO_COST)
    "guided-ref": ("guided", {}),  # guided in a study given the problem's reference point
    "random": ("random", {}),
    "nsga2": ("nsga2", {"population_size": 20}),
    "optuna-tpe": ("optuna", {"sampler": "TPESampler"}),
    "optuna-gp": ("optuna", {"sampler": "GPSampler"}),
    "pymoo-nsga2": ("pymoo", {"algorithm": "NSGA2", "algorithm_kwargs": {"pop_size": 20}}),
}
#: problem label -> guided settings of its zero-cost proxy (``guided-zc``; problems not listed
#: have none, and ``guided-zc`` is ``guided`` there)
ZERO_COST: dict[str, dict[str, Any]] = {
    "nasbench201": {"features": "nasbench201_synflow", "feature_objectives": ["error"]},
    "nasbench_graph": {"features": "nasbench_graph_hops", "feature_objectives": ["error"]},
}
_COST = {"optuna-gp": 30.0, "optuna-tpe": 10.0, "guided": 5.0, "guided-zc": 6.0, "guided-ref": 5.0}

def _load() -> str:
    """The 1, 5 and 15 minute load averages (timings are only meaningful on a quiet machine)."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def sent_history(study: Any, problem: Any) -> list[float]:
    """Normalised hypervolume after each trial sent, in trial order (all fidelities, failures)."""
    import numpy as np

    from paretoforge.search.pareto import hypervolume_history
    from paretoforge.search.trial import TrialState

    trials = sorted(study.trials, key=lambda t: t.number)
    F = np.full((len(trials), len(problem.objectives)), np.inf)
    V = np.zeros(len(trials))
    for i, t in enumerate(trials):
        if t.state == TrialState.COMPLETE and t.fidelity == study.fidelity:
            F[i] = [o.sign * t.metrics[o.source] for o in study.objectives]
            V[i] = sum(max(0.0, v) for v in t.constraints.values())
    if not len(trials):
        return []
    return (hypervolume_history(F, problem.reference_point, V) / float(problem.best_hypervolume)).tolist()


def make_study(problem_label: str, opt_label: str, seed: int, overrides: dict[str, Any] | None = None,
               batch_size: int = 1, backend: Any = None) -> tuple:
    """``(problem, optimizer, study)``: one optimizer of :data:`OPTIMIZERS` on a problem, batch
    size 1 (unless given), in-memory store, in-process (unless a backend is given)."""
    from paretoforge.search.optimizers import create_optimizer
    from paretoforge.search.study import Study

    problem = _problem(problem_label)
    opt_name, settings = OPTIMIZERS[opt_label]
    if opt_label == "guided-zc":
        settings = {**settings, **ZERO_COST.get(problem_label, {})}
    opt = create_optimizer(opt_name, problem.space, problem.objectives, seed=seed, **{**settings, **(overrides or {})})
    ref = [float(v) for v in problem.reference_point] if opt_label == "guided-ref" else None
    study = Study(f"{problem_label}-{opt_label}-{seed}", problem.space, problem.evaluator(), problem.objectives,
                  optimizer=opt, storage=None, seed=seed, batch_size=batch_size, reference_point=ref,
                  backend=backend)
    return problem, opt, study


def run_one(task: tuple) -> dict[str, Any]:
    """One study: ``(problem, optimizer label, seed, budgets[, settings overrides])``."""
    problem_label, opt_label, seed, budgets = task[:4]
    overrides: dict[str, Any] = task[4] if len(task) > 4 else {}
    problem, opt, study = make_study(problem_label, opt_label, seed, overrides)
    per: list[float] = []
    ask, tell = opt.ask, opt.tell
    clock: dict[str, float] = {"t": 0.0}

    def timed_ask(n: int) -> list:
        t0 = time.perf_counter()
        out = ask(n)
        clock["t"] += time.perf_counter() - t0
        per.append(clock["t"] / max(len(out), 1))
        clock["t"] = 0.0
        return out

    def timed_tell(obs: Any) -> None:
        t0 = time.perf_counter()
        tell(obs)
        clock["t"] += time.perf_counter() - t0

    opt.ask, opt.tell = timed_ask, timed_tell  # type: ignore[method-assign]
    n_max = max(budgets)
    t0 = time.perf_counter()
    study.optimize(timeout=None, n_evaluations=n_max)
    # a budget of "sent" evaluations: the study counts completed ones, so trim to n_max sent
    seconds = time.perf_counter() - t0
    hist = sent_history(study, problem)[:n_max]
    state = opt.state()
    from paretoforge.search.trial import TrialState

    sent = sorted(study.trials, key=lambda t: t.number)[:n_max]
    failed = {str(b): sum(t.state == TrialState.FAILED for t in sent[:b]) for b in budgets}
    # sent configurations whose result repeats an earlier result exactly (equivalent cells)
    seen_vals: set[tuple[float, ...]] = set()
    repeat_flags = []
    for t in sent:
        v = tuple(t.metrics[o.source] for o in problem.objectives) if t.state == TrialState.COMPLETE else None
        repeat_flags.append(v is not None and v in seen_vals)
        if v is not None:
            seen_vals.add(v)
    repeats = {str(b): int(sum(repeat_flags[:b])) for b in budgets}
    study.close()
    hv = {str(b): (hist[min(b, len(hist)) - 1] if hist else 0.0) for b in budgets}
    return {"problem": problem_label, "optimizer": opt_label, "seed": seed, "hv": hv, "failed": failed,
            "repeats": repeats,
            "sent": len(study.trials),
            "seconds": seconds, "median_proposal_s": statistics.median(per) if per else float("nan"),
            "state": {k: v for k, v in state.items() if k in ("real_evals", "kendall_tau", "log_space")}}


def timing(n_stored: int, problem_label: str, repeats: int = 15, seed: int = 0,
           settings: dict[str, Any] | None = None) -> float:
    """Median seconds of one proposal (``tell`` one new result, ``ask(1)``) by the guided
    optimizer (with ``settings``) holding ``n_stored`` evaluations of random configurations."""
    import numpy as np

    from paretoforge.search.optimizers import create_optimizer
    from paretoforge.search.trial import Observation

    problem = _problem(problem_label)
    ev = problem.evaluator()
    opt = create_optimizer("guided", problem.space, problem.objectives, seed=seed, **(settings or {}))
    rng = np.random.default_rng(seed)
    seen: set[str] = set()

    def observe(cfgs: list) -> list:
        res = ev.evaluate(cfgs)
        return [Observation(c, problem.space.key(c), 1.0, None if r.error else np.array(list(r.metrics.values())))
                for c, r in zip(cfgs, res)]

    cfgs = []
    while len(cfgs) < n_stored:
        c = problem.space.sample(rng)
        if problem.space.key(c) not in seen:
            seen.add(problem.space.key(c))
            cfgs.append(c)
    opt.tell(observe(cfgs))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = opt.ask(1)
        times.append(time.perf_counter() - t0)
        opt.tell(observe(out))
    return statistics.median(times)


def summarize(runs: list[dict[str, Any]], problems: list[str], optimizers: list[str],
              budgets: list[int]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in problems:
        for o in optimizers:
            rs = [r for r in runs if r["problem"] == p and r["optimizer"] == o]
            if not rs:
                continue
            row: dict[str, Any] = {"n_seeds": len(rs), "seconds_mean": statistics.fmean(r["seconds"] for r in rs),
                                   "median_proposal_s": statistics.median(r["median_proposal_s"] for r in rs)}
            for b in budgets:
                vals = [r["hv"][str(b)] for r in rs if str(b) in r["hv"]]
                if not vals:  # a merged file run with fewer budgets
                    continue
                row[f"mean@{b}"] = statistics.fmean(vals)
                row[f"sd@{b}"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
                row[f"failed@{b}"] = statistics.fmean(r.get("failed", {}).get(str(b), 0) for r in rs)
                row[f"repeats@{b}"] = statistics.fmean(r.get("repeats", {}).get(str(b), 0) for r in rs)
            out[f"{p}/{o}"] = row
    return out


def markdown_table(summary: dict[str, dict[str, Any]], problems: list[str], optimizers: list[str],
                   budgets: list[int]) -> str:
    head = "| problem | optimizer | " + " | ".join(f"@{b}" for b in budgets) + " | s/run | median s/proposal |"
    lines = [head, "|---|---|" + "---:|" * (len(budgets) + 2)]
    for p in problems:
        rows = [(o, summary[f"{p}/{o}"]) for o in optimizers if f"{p}/{o}" in summary]
        if not rows:
            continue
        best = {b: max((round(r[f"mean@{b}"], 3) for _, r in rows if f"mean@{b}" in r), default=None) for b in budgets}
        for o, r in rows:
            cells = []
            for b in budgets:
                if f"mean@{b}" not in r:
                    cells.append("")
                    continue
                cell = f"{r[f'mean@{b}']:.3f} ± {r[f'sd@{b}']:.3f}"
                cells.append(f"**{cell}**" if round(r[f"mean@{b}"], 3) == best[b] else cell)
            lines.append(f"| {p} | {o} | " + " | ".join(cells)
                         + f" | {r['seconds_mean']:.1f} | {r['median_proposal_s']:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=["nasbench201", "nasbench_graph"])
    ap.add_argument("--optimizers", nargs="+", choices=list(OPTIMIZERS), default=list(OPTIMIZERS))
    ap.add_argument("--budgets", nargs="+", type=int, default=[25, 50, 100, 200])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="2 seeds, budgets 25 50, guided and random only")
    ap.add_argument("--timing", action="store_true", help="also time one proposal with 200 and 1000 stored evals")
    ap.add_argument("--timing-only", action="store_true")
    ap.add_argument("--out", default=None, help="write every run and the summary as JSON here")
    ap.add_argument("--guided-settings", default=None, metavar="JSON",
                    help="override guided's optimizer_settings (ablations), e.g. '{\"ehvi\": \"exact\"}'")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="print one table from the runs of earlier --out files (no new runs)")
    args = ap.parse_args(argv)
    if args.merge:
        runs = [r for path in args.merge for r in json.load(open(path))["runs"]]
        opts = [o for o in OPTIMIZERS if any(r["optimizer"] == o for r in runs)]
        probs = [p for p in PROBLEMS if any(r["problem"] == p for r in runs)]
        budgets = sorted({int(b) for r in runs for b in r["hv"]})
        print(markdown_table(summarize(runs, probs, opts, budgets), probs, opts, budgets))
        return 0
    if args.quick:
        args.seeds, args.budgets, args.optimizers = 2, [25, 50], ["guided", "random"]
    budgets = sorted(set(args.budgets))
    info = machine_info()
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    print(f"# paretoforge predictor-based search, {date} UTC")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    print(f"load average at start: {_load()}", flush=True)
    payload: dict[str, Any] = {"date": date, "machine": info, "command": " ".join(sys.argv)}
    if args.timing or args.timing_only:
        tim = {}
        for p in args.problems:
            variants = [("guided", {})] + ([("guided-zc", ZERO_COST[p])] if "guided-zc" in args.optimizers
                                           and p in ZERO_COST else [])
            for label, settings in variants:
                for n in (200, 1000):
                    key = f"{p}/{n}" if label == "guided" else f"{p}/{label}/{n}"
                    tim[key] = timing(n, p, settings=settings)
                    print(f"{label}, {p}: median time per proposal with {n} stored evaluations: "
                          f"{tim[key]:.4f} s", flush=True)
        payload["timing"] = tim
        payload["load_after_timing"] = _load()
        print(f"load average after timing: {payload['load_after_timing']}", flush=True)
    if not args.timing_only:
        print(f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, budgets {budgets} "
              f"(every configuration sent counts), {args.processes} processes", flush=True)
        guided = json.loads(args.guided_settings) if args.guided_settings else {}
        if guided:
            print(f"guided settings overridden: {guided}", flush=True)
            payload["guided_settings"] = guided
        tasks = [(p, o, s, tuple(budgets), guided if o.startswith("guided") else {})
                 for p in args.problems for o in args.optimizers
                 for s in range(args.first_seed, args.first_seed + args.seeds)]
        tasks.sort(key=lambda t: -_COST.get(t[1], 1.0))
        t0 = time.perf_counter()
        runs: list[dict[str, Any]] = []
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.processes, initializer=_worker_init) as pool:
            for i, r in enumerate(pool.imap_unordered(run_one, tasks, chunksize=1), 1):
                runs.append(r)
                if i % 10 == 0 or i == len(tasks):
                    print(f"  {i}/{len(tasks)} runs, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        runs.sort(key=lambda r: (r["problem"], r["optimizer"], r["seed"]))
        summary = summarize(runs, args.problems, args.optimizers, budgets)
        table = markdown_table(summary, args.problems, args.optimizers, budgets)
        print()
        print(table)
        print("\nmean failed evaluations per run (counted in the budgets above): " + "; ".join(
            f"{k}: " + ", ".join(f"@{b} {v[f'failed@{b}']:.1f}" for b in budgets if f"failed@{b}" in v)
            for k, v in summary.items()))
        print("mean evaluations per run that repeat an earlier result exactly (equivalent configurations): " + "; ".join(
            f"{k}: " + ", ".join(f"@{b} {v[f'repeats@{b}']:.1f}" for b in budgets if f"repeats@{b}" in v)
            for k, v in summary.items()))
        print(f"\ntotal wall time: {time.perf_counter() - t0:.1f} s for {len(runs)} runs on {args.processes} processes; "
              f"load average at the end: {_load()}")
        payload.update(summary=summary, table=table, runs=runs)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(payload, fh, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
