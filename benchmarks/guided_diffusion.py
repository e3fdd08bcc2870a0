"""Predictor-guided search on a real compression space: the digits model schedule (OMS-DPM).

Which zoo model (small / medium / large denoiser) runs each of the 10 model calls of
DPM-Solver++(2M); objectives: digits-FD (1,000 samples, search noise seed 0) and summed
measured latency. Side by side in one run, seeds 0..S-1: our NSGA-II (the settings of
``studies/diffusion_model_schedule.yaml``), random search and the predictor-guided optimizer
(defaults). Every configuration sent counts. Hypervolume at the fixed reference point below,
divided by the hypervolume of the union of every completed evaluation of the run (all
optimizers and seeds: the best front this run knows of, a lower bound of the true best).

The evaluator is deterministic per configuration (fixed noise), so each worker process keeps
a cache of real evaluations (``predictor_experts.CachedEvaluator``) and answers a configuration
it has measured before from it: this saves GPU time and changes no number.

    python benchmarks/guided_diffusion.py --out guided_diffusion.json             # GPU
    python benchmarks/guided_diffusion.py --out /tmp/g.json --cpu-smoke          # CPU, tiny testbed
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from predictor_experts import CachedEvaluator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
YAML = ROOT / "studies" / "diffusion_model_schedule.yaml"

_STATE: dict[str, Any] = {}


def _spec(args: argparse.Namespace):
    import yaml

    from paretoforge.search.spec import StudySpec

    d = yaml.safe_load(YAML.read_text())
    d["evaluator"]["device"] = args.device
    if args.cpu_smoke:
        d["space"].update(assets="tiny", latency="params", nfe=4)
        d["evaluator"].update(assets="tiny", n_samples=64, threads=1)
        d["optimizer"]["population_size"] = 8
    return StudySpec.from_dict(d, source=str(YAML))


def _init(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    spec = _spec(args)
    space = spec._space()
    _STATE.update(args=args, spec=spec, space=space, evaluator=CachedEvaluator(spec._evaluator(), space))


def run_one(task: tuple[str, int, int]) -> dict[str, Any]:
    from paretoforge.search.objectives import Objective
    from paretoforge.search.optimizers import create_optimizer
    from paretoforge.search.study import Study
    from paretoforge.search.trial import TrialState

    label, seed, budget = task
    spec, space, ev = _STATE["spec"], _STATE["space"], _STATE["evaluator"]
    objectives = [Objective(**o) for o in spec.objectives]
    settings = dict(spec.optimizer) if label == "nsga2" else {"name": label}
    name = settings.pop("name")
    opt = create_optimizer(name, space, objectives, seed=seed, **settings)
    t0 = time.perf_counter()
    study = Study(f"{label}-{seed}", space, ev, objectives, optimizer=opt, storage=None, seed=seed, batch_size=1)
    study.optimize(n_evaluations=budget)
    trials = sorted(study.trials, key=lambda t: t.number)[:budget]
    rows = [[t.metrics[o.source] for o in objectives] if t.state == TrialState.COMPLETE else None
            for t in trials]
    configs = [t.config for t in trials]
    state = opt.state()
    study.close()
    return {"optimizer": label, "seed": seed, "points": rows, "configs": configs,
            "seconds": time.perf_counter() - t0,
            "state": {k: v for k, v in state.items() if k in ("real_evals", "kendall_tau", "log_space")}}


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--budgets", nargs="+", type=int, default=[25, 50, 67, 100, 200])
    ap.add_argument("--guided-budget", type=int, default=100, help="evaluations per guided run")
    ap.add_argument("--reference-point", nargs=2, type=float, default=None,
                    help="fd, latency_ms (default: 60 and 1.05 x the all-largest schedule's latency)")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny testbed, 2 seeds, small budgets")
    args = ap.parse_args(argv)
    if args.cpu_smoke:
        args.seeds, args.budgets, args.guided_budget, args.device = 2, [8, 16], 12, "cpu"
    budgets = sorted(set(args.budgets))
    from paretoforge.search.pareto import hypervolume, hypervolume_history

    spec = _spec(args)
    space = spec._space()
    largest = space.schedule_latency({"models": [space.zoo[-1]] * space.nfe})
    ref = np.array(args.reference_point or [1000.0 if args.cpu_smoke else 60.0, 1.05 * largest])
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    import torch

    dev = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    print(f"# guided vs NSGA-II vs random on the digits model schedule, {date} UTC; {dev}; "
          f"{platform.platform()}; torch {torch.__version__}", flush=True)
    print(f"zoo latency ms {space.latency_ms}; reference point (fd, latency_ms) {ref.tolist()}", flush=True)
    tasks = [(o, s, max(budgets) if o != "guided" else args.guided_budget)
             for o in ("guided", "nsga2", "random") for s in range(args.seeds)]
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    runs = []
    with ctx.Pool(args.processes, initializer=_init, initargs=(args,)) as pool:
        for r in pool.imap_unordered(run_one, tasks, chunksize=1):
            runs.append(r)
            print(f"  {r['optimizer']} seed {r['seed']}: {len(r['points'])} sent, {r['seconds']:.1f} s", flush=True)
    wall = time.perf_counter() - t0
    allpts = np.array([p for r in runs for p in r["points"] if p is not None], dtype=float)
    best_hv = hypervolume(allpts, ref)
    if best_hv <= 0:
        raise SystemExit(f"no evaluation dominates the reference point {ref.tolist()}: pass a larger --reference-point")
    table = {}
    for o in ("guided", "nsga2", "random"):
        rs = sorted((r for r in runs if r["optimizer"] == o), key=lambda r: r["seed"])
        hists = []
        for r in rs:
            F = np.array([p if p is not None else [np.inf, np.inf] for p in r["points"]], dtype=float)
            hists.append(hypervolume_history(F, ref) / best_hv)
        row = {}
        for b in budgets:
            vals = [float(h[min(b, len(h)) - 1]) for h in hists if len(h) >= b]
            if vals:
                row[b] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))
        table[o] = {"row": row, "hists": [h.tolist() for h in hists],
                    "seconds": statistics.fmean(r["seconds"] for r in rs)}
    print(f"\nbest hypervolume (union of {len(allpts)} completed evaluations): {best_hv:.4f}")
    print("| optimizer | " + " | ".join(f"@{b}" for b in budgets) + " | s/run |")
    print("|---|" + "---:|" * (len(budgets) + 1))
    for o, d in table.items():
        cells = [f"{d['row'][b][0]:.3f} ± {d['row'][b][1]:.3f}" if b in d["row"] else "" for b in budgets]
        print(f"| {o} | " + " | ".join(cells) + f" | {d['seconds']:.1f} |")
    target = table["nsga2"]["row"][max(budgets)][0]
    g = np.mean(np.array([h for h in table["guided"]["hists"]]), axis=0)
    reach = next((i + 1 for i, v in enumerate(g) if v >= target), None)
    print(f"\nNSGA-II mean at {max(budgets)}: {target:.4f}; guided's mean curve reaches it after "
          f"{reach} evaluations" + (f" ({max(budgets) / reach:.1f}x fewer)" if reach else " (not within its budget)"))
    per_seed = [next((i + 1 for i, v in enumerate(h) if v >= target), None) for h in table["guided"]["hists"]]
    print(f"per seed, evaluations for guided to reach it: {per_seed}")
    print(f"wall time {wall:.0f} s on {args.processes} processes")
    Path(args.out).write_text(json.dumps({"date": date, "device": dev, "reference_point": ref.tolist(),
                                          "best_hv": best_hv, "latency_ms": space.latency_ms,
                                          "table": {o: {str(b): v for b, v in d["row"].items()} for o, d in table.items()},
                                          "reach": reach, "reach_per_seed": per_seed, "runs": runs,
                                          "argv": sys.argv[1:], "wall_s": wall}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
