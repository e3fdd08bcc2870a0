"""Predictor-guided search on real compression spaces of the digits diffusion testbed, side by
side with the other optimizers.

Three tasks (``--task``):

- ``model_schedule`` (OMS-DPM): which zoo model (small / medium / large denoiser) runs each of
  the 10 model calls of DPM-Solver++(2M); objectives digits-FD (1,000 samples, search noise
  seed 0) and summed measured latency. Score: hypervolume at the fixed reference point below,
  divided by the hypervolume of the union of every completed evaluation of the run (all
  optimizers and seeds: the best front this run knows of, a lower bound of the true best).
- ``checkpoint_combination`` (LCSC): coefficients of a linear combination of the 24 saved
  checkpoints of one training run; one objective, digits-FD (2,000 samples, DPM-Solver++(2M),
  10 steps). Score: the lowest FD among the configurations sent so far.
- ``solver_schedule`` (S^3 / USF): the solver decisions of each of the 6 steps (order, prediction
  type, corrector, timestep) of the large denoiser; one objective, digits-FD of the search noise
  (``--samples``, default 2,000, noise seed 0: the NFE-6 YAML's space and baselines, a cheaper
  search objective than its 10,000 x 2). Score: the lowest FD among the configurations sent.

Optimizers (``--optimizers``, six by default; ``--seeds`` seeds from ``--first-seed``):
``guided`` (defaults), our ``nsga2`` with the settings of the task's YAML study (seeded with the
space's baselines), ``random``, Optuna's TPE and GP samplers (``optuna-tpe``, ``optuna-gp``) and
pymoo's NSGA-II (``pymoo-nsga2``, population 20); on request also ``guided-initial``: guided with
the space's baselines sent first (``initial: space``), and ``guided-tr`` / ``guided-initial-tr``:
the two in a trust region (``trust_region: 0.8``), and ``guided-mf``: guided's multi-fidelity
start (``low_fidelity: 0.2, n_low: 30``: 30 random configurations screened with a fifth of the
samples, the best of them promoted as the initial design; their low-fidelity results also feed
the predictors), ``guided-centred`` / ``guided-uncentred``: ``centred_rows`` 0.5 / 0 (the
latter also with a random initial design: guided as it was before both defaults became
``"auto"``, which centres on the model schedule's ordered sequence; the schedule of 10 calls is
enumerated, so no pool is drawn: ``--nfe`` makes it longer), and ``guided-random-start``: the
initial design drawn at random (``initial_design: random``). Every configuration sent counts;
a low-fidelity evaluation counts as its fidelity (a fifth), so the budgets are in full
evaluations' cost, and only full-fidelity results enter the score. A study that stops early (its
optimizer proposes only configurations already evaluated) keeps its last value up to its budget.

The evaluator is deterministic per configuration (fixed noise), so each worker process keeps
a cache of real evaluations (``predictor_experts.CachedEvaluator``) and answers a configuration
it has measured before from it: this saves GPU time and changes no number.

    python benchmarks/guided_diffusion.py --out guided_diffusion.json             # GPU, model schedule
    python benchmarks/guided_diffusion.py --task checkpoint_combination --out c.json
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
from optimizer_labels import six_optimizers  # noqa: E402
from predictor_experts import CachedEvaluator, paired_by_seed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
YAMLS = {"model_schedule": ROOT / "studies" / "diffusion_model_schedule.yaml",
         "checkpoint_combination": ROOT / "studies" / "diffusion_checkpoint_combination.yaml",
         "solver_schedule": ROOT / "studies" / "diffusion_solver_schedule_nfe6.yaml"}
#: label -> (optimizer registry name, settings); ``nsga2`` takes the task's YAML settings instead;
#: on request also ``guided-initial`` (the space's baselines first, like nsga2) and the two in a
#: trust region
LABELS = six_optimizers(20)
LABELS["guided-initial"] = ("guided", {"initial": "space"})
LABELS["guided-initial-tr"] = ("guided", {"initial": "space", "trust_region": 0.8})
LABELS["guided-tr"] = ("guided", {"trust_region": 0.8})
LABELS["guided-mf"] = ("guided", {"low_fidelity": 0.2, "n_low": 30})
LABELS["guided-centred"] = ("guided", {"centred_rows": 0.5})
LABELS["guided-uncentred"] = ("guided", {"centred_rows": 0.0, "initial_design": "random"})
LABELS["guided-random-start"] = ("guided", {"initial_design": "random"})

_STATE: dict[str, Any] = {}


def _spec(args: argparse.Namespace):
    import yaml

    from paretoforge.search.spec import StudySpec

    path = YAMLS[args.task]
    d = yaml.safe_load(path.read_text())
    d["evaluator"]["device"] = args.device
    if args.task == "solver_schedule":
        d["evaluator"].update(n_samples=args.samples, noise_seed=0)
    if args.cpu_smoke:
        d["evaluator"].update(assets="tiny", n_samples=64, threads=1)
        if args.task != "solver_schedule":  # the solver space has no assets of its own
            d["space"].update(assets="tiny")
        d["optimizer"]["population_size"] = 8
        if args.task == "model_schedule":
            d["space"].update(latency="params", nfe=4)
        elif args.task == "solver_schedule":
            d["space"].update(nfe=4)
        else:
            d["space"].update(n_checkpoints=8)
            d["evaluator"].update(nfe=4)
    if getattr(args, "nfe", None) is not None:
        if args.task != "model_schedule":
            raise SystemExit("--nfe is for --task model_schedule")
        d["space"]["nfe"] = args.nfe
    return StudySpec.from_dict(d, source=str(path))


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
    if label == "nsga2":
        settings = dict(spec.optimizer)
        name = settings.pop("name")
    else:
        name, settings = LABELS[label][0], dict(LABELS[label][1])
    opt = create_optimizer(name, space, objectives, seed=seed, **settings)
    t0 = time.perf_counter()
    study = Study(f"{label}-{seed}", space, ev, objectives, optimizer=opt, storage=None, seed=seed, batch_size=1)
    n_low = int(settings.get("n_low", 0))  # low-fidelity screens come on top of the full-fidelity budget
    study.optimize(n_evaluations=budget + n_low)
    trials = sorted(study.trials, key=lambda t: t.number)[:budget + n_low]
    rows = [[t.metrics[o.source] for o in objectives] if t.state == TrialState.COMPLETE else None
            for t in trials]
    configs = [t.config for t in trials]
    fidelities = [float(t.fidelity) for t in trials]
    state = opt.state() if hasattr(opt, "state") else {}
    study.close()
    extra = {"fidelities": fidelities} if any(f != 1.0 for f in fidelities) else {}
    return {"optimizer": label, "seed": seed, "points": rows, "configs": configs, **extra,
            "seconds": time.perf_counter() - t0,
            "state": {k: v for k, v in state.items() if k in ("real_evals", "kendall_tau", "log_space")}}


def full_points(run: dict[str, Any]) -> list[Any]:
    """A run's results that count for its score: every completed full-fidelity one (a
    low-fidelity result, on another scale, is left out like a failed one)."""
    fids = run.get("fidelities") or [1.0] * len(run["points"])
    return [p if f == 1.0 else None for p, f in zip(run["points"], fids)]


def _curves(runs: list[dict[str, Any]], ref: Any, best_hv: float | None) -> list[Any]:
    """Per run: hypervolume / best after each evaluation (two objectives), or the lowest value
    so far (one objective); a failed evaluation adds nothing. A run with low-fidelity
    evaluations is read on the axis of cost: its value after ``c`` is that of its evaluations
    whose fidelities add up to at most ``c``."""
    import numpy as np

    from paretoforge.search.pareto import hypervolume_history

    out = []
    for r in runs:
        F = np.array([p if p is not None else [np.inf] * len(ref) for p in full_points(r)], dtype=float)
        h = np.minimum.accumulate(F[:, 0]) if best_hv is None else hypervolume_history(F, ref) / best_hv
        if r.get("fidelities"):
            spent = np.cumsum(r["fidelities"])
            n = np.searchsorted(spent, np.arange(1, int(np.floor(spent[-1] + 1e-9)) + 1) + 1e-9, side="right")
            empty = np.inf if best_hv is None else 0.0
            h = np.array([h[k - 1] if k else empty for k in n])
        out.append(h)
    return out


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--task", choices=sorted(YAMLS), default="model_schedule")
    ap.add_argument("--optimizers", nargs="+", choices=list(LABELS), default=list(six_optimizers(20)))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--paired", nargs=2, default=None, metavar=("A", "B"),
                    help="also print the mean difference A - B over their common seeds at each budget")
    ap.add_argument("--nfe", type=int, default=None,
                    help="model_schedule: model calls per schedule (the YAML's 10 when not given)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--budgets", nargs="+", type=int, default=[25, 50, 67, 100, 200])
    ap.add_argument("--guided-budget", type=int, default=100, help="evaluations per guided run")
    ap.add_argument("--gp-budget", type=int, default=100,
                    help="evaluations per optuna-gp run (its proposals are the slowest)")
    ap.add_argument("--reference-point", nargs=2, type=float, default=None,
                    help="model schedule: fd, latency_ms (default: 60 and 1.05 x the all-largest schedule's latency)")
    ap.add_argument("--samples", type=int, default=2000,
                    help="solver schedule: samples per FD evaluation (noise seed 0)")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny testbed, 2 seeds, small budgets")
    ap.add_argument("--from-runs", nargs="+", default=None, metavar="JSONL",
                    help="build the tables from the runs these files hold (OUT.runs.jsonl of earlier calls) "
                         "instead of running; the task and reference point must match theirs")
    args = ap.parse_args(argv)
    if args.cpu_smoke:
        args.seeds, args.budgets, args.guided_budget, args.gp_budget, args.device = 2, [8, 16], 12, 12, "cpu"
    budgets = sorted(set(args.budgets))
    from paretoforge.search.pareto import hypervolume

    spec = _spec(args)
    space = spec._space()
    two = len(spec.objectives) == 2
    if two:
        largest = space.schedule_latency({"models": [space.zoo[-1]] * space.nfe})
        ref = np.array(args.reference_point or [1000.0 if args.cpu_smoke else 60.0, 1.05 * largest])
    else:
        ref = np.array([np.inf])
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    import torch

    dev = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    print(f"# {', '.join(args.optimizers)} on the digits {args.task}, {date} UTC; {dev}; "
          f"{platform.platform()}; torch {torch.__version__}", flush=True)
    print(f"space {space}" + (f"; zoo latency ms {space.latency_ms}; reference point (fd, latency_ms) {ref.tolist()}"
                               if two else "; score: lowest FD sent so far"), flush=True)

    def budget_of(o: str) -> int:
        return args.guided_budget if o.startswith("guided") else args.gp_budget if o == "optuna-gp" else max(budgets)

    t0 = time.perf_counter()
    runs = []
    if args.from_runs:
        for f in args.from_runs:
            runs += [r for r in map(json.loads, Path(f).read_text().splitlines()) if r["optimizer"] in args.optimizers]
        print(f"{len(runs)} runs read from {', '.join(args.from_runs)}", flush=True)
    else:
        # the slowest optimizers first, so that they do not finish alone at the end
        slow = {"optuna-tpe": 0, "optuna-gp": 1}
        tasks = sorted(((o, s, budget_of(o)) for o in args.optimizers
                        for s in range(args.first_seed, args.first_seed + args.seeds)),
                       key=lambda t: slow.get(t[0], 2))
        ctx = mp.get_context("spawn")
        # every run is also appended to OUT.runs.jsonl as it ends (--from-runs rebuilds the tables)
        with ctx.Pool(args.processes, initializer=_init, initargs=(args,)) as pool, \
                open(args.out + ".runs.jsonl", "w") as log:
            for r in pool.imap_unordered(run_one, tasks, chunksize=1):
                runs.append(r)
                log.write(json.dumps(r, default=float) + "\n")
                log.flush()
                print(f"  {r['optimizer']} seed {r['seed']}: {len(r['points'])} sent, {r['seconds']:.1f} s", flush=True)
    wall = time.perf_counter() - t0
    allpts = np.array([p for r in runs for p in full_points(r) if p is not None], dtype=float)
    best_hv = None
    if two:
        best_hv = hypervolume(allpts, ref)
        if best_hv <= 0:
            raise SystemExit(f"no evaluation dominates the reference point {ref.tolist()}: pass a larger --reference-point")
    table = {}
    for o in args.optimizers:
        rs = sorted((r for r in runs if r["optimizer"] == o), key=lambda r: r["seed"])
        if not rs:
            continue
        # a study stops early when its optimizer only proposes configurations already evaluated
        # (Optuna's TPE here): nothing more is sent, so its last value holds up to its budget
        hists = [np.concatenate([h, np.full(max(budget_of(o) - len(h), 0), h[-1])])
                 for h in _curves(rs, ref, best_hv)]
        row = {}
        for b in budgets:
            vals = [float(h[b - 1]) for h in hists if len(h) >= b]
            if vals:
                row[b] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))
        table[o] = {"row": row, "hists": [h.tolist() for h in hists], "seeds": [r["seed"] for r in rs],
                    "seconds": statistics.fmean(r["seconds"] for r in rs)}
    if two:
        print(f"\nbest hypervolume (union of {len(allpts)} completed evaluations): {best_hv:.4f}")
    else:
        print(f"\nlowest FD of all {len(allpts)} completed evaluations: {allpts.min():.3f}")
    fmt = "{:.3f} ± {:.3f}" if two else "{:.2f} ± {:.2f}"
    print("| optimizer | " + " | ".join(f"@{b}" for b in budgets) + " | s/run |")
    print("|---|" + "---:|" * (len(budgets) + 1))
    for o, d in table.items():
        cells = [fmt.format(*d["row"][b][:2]) if b in d["row"] else "" for b in budgets]
        print(f"| {o} | " + " | ".join(cells) + f" | {d['seconds']:.1f} |")
    if args.paired:
        a, b = args.paired
        if a not in table or b not in table:
            raise SystemExit(f"--paired {a} {b}: both must be among the optimizers run")
        common, cells = paired_by_seed(*(dict(zip(table[o]["seeds"], table[o]["hists"])) for o in (a, b)),
                                       budgets, digits=4)
        print(f"\n{a} - {b} by seed ({len(common)} seeds; mean ± standard error): {cells}")
    reach: dict[str, Any] = {}
    per_seed: dict[str, Any] = {}
    if "nsga2" in table and max(budgets) in table["nsga2"]["row"]:
        target = table["nsga2"]["row"][max(budgets)][0]
        print(f"\nNSGA-II mean at {max(budgets)}: {target:.4f}")
        for o in (o for o in table if o.startswith("guided")):
            better = (lambda v: v >= target) if two else (lambda v: v <= target)
            g = np.mean(np.array(table[o]["hists"]), axis=0)
            reach[o] = next((i + 1 for i, v in enumerate(g) if better(v)), None)
            per_seed[o] = [next((i + 1 for i, v in enumerate(h) if better(v)), None) for h in table[o]["hists"]]
            r = reach[o]
            seeds = ", ".join("-" if v is None else str(v) for v in per_seed[o])
            print((f"{o}'s mean curve reaches it after {r} evaluations ({max(budgets) / r:.1f}x fewer)" if r
                   else f"{o}'s mean curve does not reach it within its budget") + f"; per seed: [{seeds}]")
    if not args.from_runs:
        print(f"wall time {wall:.0f} s on {args.processes} processes")
    Path(args.out).write_text(json.dumps({"date": date, "device": dev, "task": args.task,
                                          "reference_point": ref.tolist() if two else None,
                                          "best_hv": best_hv, "latency_ms": getattr(space, "latency_ms", None),
                                          "table": {o: {str(b): v for b, v in d["row"].items()} for o, d in table.items()},
                                          "reach": reach, "reach_per_seed": per_seed, "runs": runs,
                                          "argv": sys.argv[1:], "wall_s": wall}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
