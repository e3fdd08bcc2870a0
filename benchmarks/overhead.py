"""Per-trial engine overhead: ask + tell + store with a no-op evaluator, paretoforge vs Optuna.

What is measured
    The wall time per trial of a window of ``--window`` trials run when the study already holds
    ``N - window`` trials, for every ``N`` of ``--trials``. The evaluator does no work (two sums of
    the inputs), so the time is the engine's own: proposing, validating, storing, telling.

    Problem: 8 real variables in [0, 1], two minimised objectives ``f1 = x0+..+x3`` and
    ``f2 = x4+..+x7`` (random points are spread over many non-dominated fronts, so NSGA-II's
    sorting does real work). Batch size 1, one process.

paretoforge
    ``random`` and ``nsga2`` (population 50), with the in-memory store (``storage=None``) and
    an SQLite file in a temporary folder (the default store: WAL mode, ``synchronous=NORMAL``).
    The study runs its real loop: ``optimize(N - window)`` untimed, then ``optimize(N)`` timed
    (``Study.optimize(n)`` budgets are totals, so the second call runs the last ``window``
    evaluations). One study serves every ``N`` of a repeat: it runs on to the next
    ``N - window`` after each window, which leaves it in exactly the state a fresh run to that
    size would have.

Optuna
    ``TPESampler(seed)`` and ``NSGAIISampler(seed, population_size=50)``, in memory and with
    ``sqlite:///`` (Optuna's defaults). Running Optuna's loop to 10k trials would take hours, so
    its study is *prefilled*: ``N - window - 1`` completed random trials are added with
    ``study.add_trials``, one untimed warm-up trial loads Optuna's caches (a resumed SQLite study
    spends seconds reading 10k trials on its first trial), then up to ``window`` trials are
    timed with ``study.optimize``. Where a window would take longer than ``--optuna-cap``
    seconds, timing stops early (never before ``--optuna-min`` trials) and the table shows how
    many trials were timed. Every shortcut is in Optuna's favour: no warm-up cost, and the study
    never holds more than N trials while timed. The SQLite prefill is built once per N (in
    /dev/shm when there is one, as Optuna's ``add_trials`` commits row by row) and copied for
    each repeat and sampler; timed databases live in the temporary folder, on disk.

Each measurement is repeated ``--repeats`` times with fresh studies (seed = repeat index); the
table reports the median over repeats of the per-trial time, and the ratio of each row to
paretoforge ``nsga2`` with the same store and N.

    python benchmarks/overhead.py                  # full: N = 1000 10000, window 200, 3 repeats
    python benchmarks/overhead.py --quick          # smoke test (< 30 s)
    python benchmarks/overhead.py --trials 2000 --repeats 5 --out overhead.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np

N_VARS = 8
POPULATION = 50
PF_OPTIMIZERS = ("random", "nsga2")
OPTUNA_SAMPLERS = ("tpe", "nsga2")
STORAGES = ("memory", "sqlite")


def _progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def objectives_of(x: Sequence[float]) -> tuple[float, float]:
    half = N_VARS // 2
    return float(sum(x[:half])), float(sum(x[half:]))


# -- paretoforge --------------------------------------------------------------------------------
def _pf_study(optimizer: str, storage: str, seed: int, tmpdir: str) -> Any:
    from paretoforge.evaluators.base import EvalResult, Evaluator
    from paretoforge.search import Study
    from paretoforge.spaces import Real, Space

    names = [f"x{i}" for i in range(N_VARS)]

    class NoopEvaluator(Evaluator):
        metrics = ("f1", "f2")

        def evaluate(self, configs, fidelity=1.0):  # noqa: ANN001, ANN201
            out = []
            for c in configs:
                f1, f2 = objectives_of([c[n] for n in names])
                out.append(EvalResult({"f1": f1, "f2": f2}))
            return out

    space = Space([Real(n, 0.0, 1.0) for n in names], name="overhead")
    store = None if storage == "memory" else os.path.join(tmpdir, f"pf-{optimizer}-{seed}.db")
    settings = {"population_size": POPULATION} if optimizer == "nsga2" else {}
    return Study(f"overhead-{optimizer}-{seed}", space, NoopEvaluator(), ["f1", "f2"], optimizer=optimizer,
                 optimizer_settings=settings, storage=store, seed=seed, batch_size=1)


def measure_paretoforge(optimizer: str, storage: str, sizes: Sequence[int], window: int, seed: int,
                        tmpdir: str) -> dict[int, dict[str, float]]:
    """Per-trial seconds of a window ending at each N in ``sizes`` (one study, run on)."""
    study = _pf_study(optimizer, storage, seed, tmpdir)
    out: dict[int, dict[str, float]] = {}
    try:
        for n in sorted(sizes):
            study.optimize(n - window)  # a total: continues from the previous N
            held = len(study.trials)
            t0 = time.perf_counter()
            study.optimize(n)
            dt = time.perf_counter() - t0
            timed = len(study.trials) - held
            if timed != window or len(study.trials) != n:
                raise RuntimeError(f"paretoforge {optimizer}/{storage}: expected {n} trials after a window of "
                                   f"{window}, have {len(study.trials)} ({timed} in the window)")
            out[n] = {"per_trial_s": dt / timed, "timed": timed, "held": held}
    finally:
        study.close()
    return out


# -- Optuna -------------------------------------------------------------------------------------
def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _optuna_objective(trial: Any) -> tuple[float, float]:
    return objectives_of([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(N_VARS)])


def _prefill_trials(n: int, seed: int, start: int = 0) -> list[Any]:
    """``n`` completed random trials (rows ``start..start+n`` of a fixed random stream)."""
    optuna = _optuna()
    dists = {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(N_VARS)}
    X = np.random.default_rng(seed).random((start + n, N_VARS))[start:]
    return [
        optuna.trial.create_trial(params={f"x{i}": float(x[i]) for i in range(N_VARS)}, distributions=dists,
                                  values=list(objectives_of(x)))
        for x in X
    ]


def _sampler(name: str, seed: int) -> Any:
    optuna = _optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=POPULATION)


PREFILL_SEED = 12345


def build_optuna_sqlite_bases(sizes: Sequence[int], window: int, workdir: str) -> dict[int, str]:
    """One prefilled SQLite file per N (``N - window - 1`` trials), built incrementally."""
    optuna = _optuna()
    fast = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else workdir
    scratch = tempfile.mkdtemp(prefix="pf-overhead-prefill-", dir=fast)
    bases: dict[int, str] = {}
    try:
        path = os.path.join(scratch, "prefill.db")
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
        study = optuna.create_study(study_name="overhead", storage=storage, directions=["minimize", "minimize"])
        have = 0
        for n in sorted(sizes):
            want = n - window - 1
            t0 = time.perf_counter()
            study.add_trials(_prefill_trials(want - have, PREFILL_SEED, start=have))
            _progress(f"optuna sqlite prefill to {want} trials: +{want - have} in {time.perf_counter() - t0:.1f}s")
            have = want
            storage.engine.dispose()
            dst = os.path.join(workdir, f"optuna-base-{n}.db")
            shutil.copyfile(path, dst)
            bases[n] = dst
        storage.engine.dispose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return bases


def measure_optuna(sampler: str, storage: str, n: int, window: int, seed: int, workdir: str,
                   base: str | None, cap_s: float, min_trials: int) -> dict[str, float]:
    optuna = _optuna()
    rdb = None
    if storage == "memory":
        study = optuna.create_study(study_name="overhead", directions=["minimize", "minimize"],
                                    sampler=_sampler(sampler, seed))
        study.add_trials(_prefill_trials(n - window - 1, PREFILL_SEED))
    else:
        path = os.path.join(workdir, f"optuna-{sampler}-{n}-{seed}.db")
        shutil.copyfile(base, path)
        rdb = optuna.storages.RDBStorage(f"sqlite:///{path}")
        study = optuna.load_study(study_name="overhead", storage=rdb, sampler=_sampler(sampler, seed))
    try:
        study.optimize(_optuna_objective, n_trials=1)  # warm-up, untimed
        held = n - window
        count = 0
        t0 = time.perf_counter()

        def cb(st: Any, _trial: Any) -> None:
            nonlocal count
            count += 1
            if count >= min_trials and time.perf_counter() - t0 > cap_s:
                st.stop()

        study.optimize(_optuna_objective, n_trials=window, callbacks=[cb])
        dt = time.perf_counter() - t0
        total = len(study.get_trials(deepcopy=False))
        if total != held + count:
            raise RuntimeError(f"optuna {sampler}/{storage}: expected {held + count} trials, have {total}")
        return {"per_trial_s": dt / count, "timed": count, "held": held}
    finally:
        if rdb is not None:
            rdb.engine.dispose()
            os.remove(os.path.join(workdir, f"optuna-{sampler}-{n}-{seed}.db"))


# -- report ---------------------------------------------------------------------------------------
def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {p: _version(p) for p in ("paretoforge", "optuna", "torch", "numpy", "sqlalchemy")},
    }


def _summarise(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        ms = [x["per_trial_s"] * 1e3 for x in r["repeats"]]
        r["median_ms"] = statistics.median(ms)
        r["min_ms"], r["max_ms"] = min(ms), max(ms)
        r["timed"] = min(x["timed"] for x in r["repeats"])
    ref = {(r["storage"], r["N"]): r["median_ms"] for r in rows
           if r["engine"] == "paretoforge" and r["sampler"] == "nsga2"}
    for r in rows:
        base = ref.get((r["storage"], r["N"]))
        r["ratio_vs_pf_nsga2"] = None if not base else r["median_ms"] / base


def print_report(info: dict[str, Any], args: argparse.Namespace, rows: list[dict[str, Any]], wall: float) -> None:
    v = info["versions"]
    print("paretoforge per-trial engine overhead (ask + tell + store, no-op evaluator, batch size 1)")
    print(f"date      {info['date']}")
    print(f"machine   {info['cpu']}, {info['cpu_count']} CPUs ({info['usable_cpus']} usable); {info['platform']}")
    print(f"software  python {info['python']}, paretoforge {v['paretoforge']}, optuna {v['optuna']}, "
          f"torch {v['torch']}, numpy {v['numpy']}, sqlalchemy {v['sqlalchemy']}, sqlite {info['sqlite']}")
    print(f"setup     {N_VARS} reals in [0,1], 2 objectives; N = {' '.join(map(str, args.trials))}; "
          f"window {args.window}; {args.repeats} repeat(s); NSGA-II population {POPULATION}")
    print("          paretoforge runs its real loop to N; Optuna is prefilled with N - window - 1 trials plus one")
    print(f"          untimed warm-up trial, and its window stops after {args.optuna_cap:g} s (>= {args.optuna_min} trials)")
    print()
    head = (f"{'engine':<12} {'sampler':<8} {'storage':<7} {'N':>6} {'median ms/trial':>16} "
            f"{'min..max ms':>17} {'timed':>6} {'x pf nsga2':>11}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = "" if r["ratio_vs_pf_nsga2"] is None else f"{r['ratio_vs_pf_nsga2']:.2f}"
        timed = f"{r['timed']}" + ("*" if r["timed"] < args.window else "")
        span = f"{r['min_ms']:.3f}..{r['max_ms']:.3f}"
        print(f"{r['engine']:<12} {r['sampler']:<8} {r['storage']:<7} {r['N']:>6} {r['median_ms']:>16.3f} "
              f"{span:>17} {timed:>6} {ratio:>11}")
    print()
    if any(r["timed"] < args.window for r in rows):
        print(f"* fewer than the window of {args.window} trials were timed (Optuna time cap; 'timed' is the least "
              "over repeats); the per-trial time is the mean over the trials timed")
    print("ratio = median ms/trial of the row / paretoforge nsga2 with the same storage and N")
    print()
    print("Optuna / paretoforge (same storage and N; ratio of medians):")
    pf = {(r["sampler"], r["storage"], r["N"]): r["median_ms"] for r in rows if r["engine"] == "paretoforge"}
    for r in rows:
        if r["engine"] != "optuna":
            continue
        parts = [f"vs pf {s} {r['median_ms'] / pf[(s, r['storage'], r['N'])]:8.1f}x"
                 for s in PF_OPTIMIZERS if (s, r["storage"], r["N"]) in pf]
        print(f"  optuna {r['sampler']:<5} {r['storage']:<6} N={r['N']:<6} " + "   ".join(parts))
    n_max = max(args.trials)
    target = [r for r in rows if r["engine"] == "paretoforge" and r["storage"] == "sqlite" and r["N"] == n_max]
    if target:
        worst = max(r["median_ms"] for r in target)
        verdict = "met" if worst <= 1.0 else "NOT met"
        print()
        print(f"target: paretoforge with the SQLite store at N={n_max}: worst median {worst:.3f} ms/trial "
              f"(target <= 1 ms{'' if n_max == 10000 else ', stated for N=10000'}): {verdict}")
    if info.get("loadavg_start") is not None:
        print(f"load average (1/5/15 min) at start {' '.join(f'{x:.2f}' for x in info['loadavg_start'])}, "
              f"at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"total wall time {wall:.0f} s")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, nargs="+", default=[1000, 10000], help="study sizes N")
    p.add_argument("--window", type=int, default=200, help="trials timed at each N")
    p.add_argument("--repeats", type=int, default=3, help="fresh studies per measurement")
    p.add_argument("--optuna-cap", type=float, default=20.0,
                   help="seconds after which an Optuna window stops early (default 20)")
    p.add_argument("--optuna-min", type=int, default=10, help="trials an Optuna window times at least")
    p.add_argument("--engines", nargs="+", choices=["paretoforge", "optuna"], default=["paretoforge", "optuna"])
    p.add_argument("--tmpdir", default=None, help="folder for the SQLite files (default: the system temp folder)")
    p.add_argument("--quick", action="store_true", help="smoke test: N=300, window 50, 1 repeat, 2 s cap")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.trials, args.window, args.repeats, args.optuna_cap, args.optuna_min = [300], 50, 1, 2.0, 5
    args.trials = sorted(set(args.trials))
    if args.window < 1 or args.repeats < 1 or args.optuna_min < 1:
        p.error("--window, --repeats and --optuna-min must be >= 1")
    if args.trials[0] <= args.window + 1:
        p.error(f"every N must exceed the window + 1 ({args.window + 1})")
    logging.getLogger("paretoforge").setLevel(logging.ERROR)

    t_start = time.perf_counter()
    info = machine_info()
    rows: list[dict[str, Any]] = []
    if args.tmpdir:
        os.makedirs(args.tmpdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="pf-overhead-", dir=args.tmpdir)
    try:
        if "paretoforge" in args.engines:
            for storage in STORAGES:
                for opt in PF_OPTIMIZERS:
                    per_n: dict[int, list[dict[str, float]]] = {n: [] for n in args.trials}
                    for rep in range(args.repeats):
                        t0 = time.perf_counter()
                        res = measure_paretoforge(opt, storage, args.trials, args.window, rep, workdir)
                        for n, x in res.items():
                            per_n[n].append(x)
                        _progress(f"paretoforge {opt}/{storage} repeat {rep}: "
                                  + ", ".join(f"N={n} {x['per_trial_s'] * 1e3:.3f} ms" for n, x in res.items())
                                  + f" ({time.perf_counter() - t0:.1f}s)")
                    rows += [{"engine": "paretoforge", "sampler": opt, "storage": storage, "N": n, "repeats": xs}
                             for n, xs in per_n.items()]
        if "optuna" in args.engines:
            bases = build_optuna_sqlite_bases(args.trials, args.window, workdir)
            for storage in STORAGES:
                for sampler in OPTUNA_SAMPLERS:
                    for n in args.trials:
                        xs = []
                        for rep in range(args.repeats):
                            t0 = time.perf_counter()
                            x = measure_optuna(sampler, storage, n, args.window, rep, workdir, bases.get(n),
                                               args.optuna_cap, args.optuna_min)
                            xs.append(x)
                            _progress(f"optuna {sampler}/{storage} N={n} repeat {rep}: "
                                      f"{x['per_trial_s'] * 1e3:.3f} ms over {x['timed']} trials "
                                      f"({time.perf_counter() - t0:.1f}s)")
                        rows.append({"engine": "optuna", "sampler": sampler, "storage": storage, "N": n,
                                     "repeats": xs})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    order = {"paretoforge": 0, "optuna": 1}
    rows.sort(key=lambda r: (r["storage"] != "memory", r["N"], order[r["engine"]], r["sampler"]))
    _summarise(rows)
    wall = time.perf_counter() - t_start
    print_report(info, args, rows, wall)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": info, "args": {k: v for k, v in vars(args).items()}, "wall_s": wall,
                       "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
