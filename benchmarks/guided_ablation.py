"""Guided search under several settings on the same seeds: paired differences of hypervolume.

Each variant is a dict of guided settings (``{}`` is the defaults); the first variant is the
baseline. Every (variant, seed) is one study of :mod:`predictor_quality` (batch size 1, in-memory
store, every configuration sent counts). Printed per variant: the mean normalised hypervolume
after each budget, the paired difference to the baseline with its standard error, and the share
of runs at or above ``--target`` at the last budget. With ``--out`` every finished run is also
appended to ``<out>.jsonl`` as it ends (what a killed run already did is kept), and the summary
is written to ``<out>``.

    python benchmarks/guided_ablation.py --problem nasbench_graph --seeds 0:60 \\
        --variants '{"defaults": {}, "prefilter 6000": {"prefilter": 6000}}' --processes 16
    python benchmarks/guided_ablation.py --variants variants.json --seeds 60:120 --out ablation.json
    python benchmarks/guided_ablation.py --problem nasbench201 --optimizer guided-zc --seeds 0:50 \\
        --variants '{"off": {"observation_noise": false}, "on": {"observation_noise": true}}'
    python benchmarks/guided_ablation.py --problem nasbench201 --seeds 0:20 \\
        --variants '{"one at a time": {}, "batches of 4": {"batch_size": 4}}'

A variant's ``batch_size`` is the study's (configurations proposed together, as for that many
workers), not a guided setting; ``asynchronous: true`` runs the study's asynchronous loop with
``batch_size`` simulated workers of uneven speed (:mod:`simulated_workers`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import machine_info  # noqa: E402

_LOG: str | None = None


def run_variant(task: tuple) -> tuple[str, int, list[float], float]:
    """One study: ``(variant name, settings, problem, seed, budgets[, optimizer label])`` ->
    hypervolume per budget; the label is one of :data:`predictor_quality.OPTIMIZERS` (default
    ``guided``; ``guided-zc`` adds the problem's zero-cost proxy)."""
    import predictor_quality as q
    import torch

    torch.set_num_threads(1)
    name, settings, problem_label, seed, budgets = task[:5]
    label = task[5] if len(task) > 5 else "guided"
    settings = dict(settings)
    batch_size = int(settings.pop("batch_size", 1))  # the study's, not a guided setting
    asynchronous = bool(settings.pop("asynchronous", False))  # the study's too
    backend = None
    if asynchronous:
        from simulated_workers import SimulatedWorkers

        backend = SimulatedWorkers(batch_size, seed=seed)
    problem, _, study = q.make_study(problem_label, label, seed, settings, batch_size=batch_size, backend=backend)
    t0 = time.perf_counter()
    study.optimize(timeout=None, n_evaluations=max(budgets), asynchronous=asynchronous)
    seconds = time.perf_counter() - t0
    hist = q.sent_history(study, problem)[: max(budgets)]
    study.close()
    hv = [hist[min(b, len(hist)) - 1] if hist else 0.0 for b in budgets]
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(json.dumps({"variant": name, "seed": seed, "hv": hv, "seconds": seconds}) + "\n")
    return name, seed, hv, seconds


def _init(log: str | None) -> None:
    global _LOG
    _LOG = log


def summarize(results: list[tuple[str, int, list[float], float]], names: list[str], budgets: list[int],
              target: float) -> dict[str, Any]:
    """Per variant: mean hypervolume, paired difference to ``names[0]`` (on the seeds both have)
    with its standard error, the share of runs >= ``target`` at the last budget, s per run."""
    by = {n: {s: (hv, sec) for m, s, hv, sec in results if m == n} for n in names}
    out: dict[str, Any] = {}
    for n in names:
        seeds = sorted(set(by[n]) & set(by[names[0]]))
        H = np.array([by[n][s][0] for s in seeds])
        B = np.array([by[names[0]][s][0] for s in seeds])
        d = H - B
        se = d.std(0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.zeros(len(budgets))
        out[n] = {"seeds": len(seeds), "mean": H.mean(0).tolist(), "paired": d.mean(0).tolist(), "paired_se": se.tolist(),
                  "share_at_target": float((H[:, -1] >= target).mean()),
                  "s_per_run": float(np.mean([by[n][s][1] for s in seeds]))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="nasbench_graph")
    ap.add_argument("--optimizer", default="guided", choices=["guided", "guided-zc", "guided-ref"],
                    help="guided-zc: with the problem's zero-cost proxy; guided-ref: with its reference point")
    ap.add_argument("--variants", required=True, help="JSON object {name: settings}, or a file holding one")
    ap.add_argument("--seeds", default="0:10", help="a range a:b")
    ap.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--target", type=float, default=0.98)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    text = open(args.variants).read() if os.path.isfile(args.variants) else args.variants
    try:
        variants = json.loads(text)
    except json.JSONDecodeError as exc:
        ap.error(f"--variants: not a JSON object of settings ({exc}); e.g. '{{\"defaults\": {{}}}}'")
    if not isinstance(variants, dict) or not variants or not all(isinstance(v, dict) for v in variants.values()):
        ap.error("--variants: give a JSON object {name: {setting: value}}; the first is the baseline")
    a, b = (int(x) for x in args.seeds.split(":"))
    names = list(variants)
    tasks = [(n, variants[n], args.problem, s, args.budgets, args.optimizer) for s in range(a, b) for n in names]
    log = f"{args.out}.jsonl" if args.out else None
    print(f"# {args.optimizer} ablation on {args.problem}, seeds {a}..{b - 1}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {machine_info()}")
    t0 = time.perf_counter()
    if args.processes > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(args.processes, initializer=_init, initargs=(log,)) as pool:
            results = pool.map(run_variant, tasks, chunksize=1)
    else:
        _init(log)
        results = [run_variant(t) for t in tasks]
    summary = summarize(results, names, args.budgets, args.target)
    print(f"{time.perf_counter() - t0:.0f} s\n")
    print("| variant | " + " | ".join(f"@{x}" for x in args.budgets) + " | paired @" + str(args.budgets[-1])
          + f" (standard error) | runs >= {args.target} |")
    print("|---|" + "---:|" * (len(args.budgets) + 2))
    for n in names:
        s = summary[n]
        print(f"| {n} | " + " | ".join(f"{m:.4f}" for m in s["mean"])
              + f" | {s['paired'][-1]:+.4f} ± {s['paired_se'][-1]:.4f} | {s['share_at_target']:.0%} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"problem": args.problem, "optimizer": args.optimizer, "seeds": [a, b], "budgets": args.budgets,
                       "variants": variants,
                       "summary": summary, "machine": machine_info()}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
