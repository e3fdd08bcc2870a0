"""Held-out FD of the best configuration each optimizer run of ``guided_diffusion.py`` found.

A one-objective run of ``guided_diffusion.py`` (``solver_schedule``, ``checkpoint_combination``)
scores its configurations on one noise set (search noise seed 0), so its best value is biased
low: it is the best of many draws on that noise. This script re-measures each run's best
configuration (``best_config`` of its line in the ``.runs.jsonl`` files) on held-out noise seeds
(default 1, 2, 3; ``digits_fd`` keeps them for finalists) with more samples (default 10,000), and
prints per optimizer the search FD and the held-out FD (mean over the noise seeds), mean ± sd
over runs, plus the held-out difference to ``--baseline`` paired by seed. ``--with-baselines``
also measures the space's own baselines (the configurations the ``initial: space`` runs send
first), each on its own line.

    python benchmarks/guided_diffusion_heldout.py --task solver_schedule --out ho.json \\
        --runs benchmarks/results/guided_diffusion_h200_solver_six.runs.jsonl          # GPU
    python benchmarks/guided_diffusion_heldout.py --cpu-smoke --runs R.jsonl --out /tmp/h.json

Each measurement is appended to ``OUT.jsonl`` as it ends, and measurements already there are
not repeated (an interrupted run resumes).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guided_diffusion import _spec  # noqa: E402


def load_runs(files: list[str], optimizers: list[str] | None) -> list[dict[str, Any]]:
    """The runs of ``files`` that name a best configuration (and one of ``optimizers``, if given)."""
    runs = []
    for f in files:
        for i, line in enumerate(Path(f).read_text().splitlines(), 1):
            r = json.loads(line)
            if optimizers and r["optimizer"] not in optimizers:
                continue
            if r.get("best_config") is None:
                raise SystemExit(f"{f}, line {i}: run {r['optimizer']} seed {r['seed']} has no 'best_config'; "
                                 "pass runs files written with the best configuration (guided_diffusion.py's "
                                 "results files)")
            runs.append(r)
    return runs


def search_value(run: dict[str, Any]) -> float:
    """The lowest search FD a run sent (failed evaluations are ``None``)."""
    return min(p[0] for p in run["points"] if p is not None)


def summarize(rows: list[dict[str, Any]], baseline: str | None) -> dict[str, Any]:
    """Per optimizer: search and held-out FD, mean ± sd over runs, and the held-out difference to
    ``baseline`` paired by seed (mean ± standard error)."""
    out: dict[str, Any] = {}
    by_opt: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        by_opt.setdefault(r["optimizer"], {})[r["seed"]] = r
    base = by_opt.get(baseline or "", {})
    for o, runs in by_opt.items():
        s = [r["search_fd"] for r in runs.values()]
        h = [r["heldout_fd"] for r in runs.values()]
        d: dict[str, Any] = {"runs": len(runs),
                             "search": (statistics.fmean(s), statistics.stdev(s) if len(s) > 1 else 0.0),
                             "heldout": (statistics.fmean(h), statistics.stdev(h) if len(h) > 1 else 0.0)}
        diffs = [runs[k]["heldout_fd"] - base[k]["heldout_fd"] for k in runs if k in base]
        if o != baseline and len(diffs) > 1:
            d["paired"] = (statistics.fmean(diffs), statistics.stdev(diffs) / len(diffs) ** 0.5, len(diffs))
        out[o] = d
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", required=True, metavar="JSONL")
    ap.add_argument("--out", required=True)
    ap.add_argument("--task", choices=["solver_schedule", "checkpoint_combination"], default="solver_schedule")
    ap.add_argument("--optimizers", nargs="+", default=None)
    ap.add_argument("--baseline", default="nsga2", help="optimizer the others are paired with")
    ap.add_argument("--noise-seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--samples", type=int, default=10000, help="samples per held-out FD")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--with-baselines", action="store_true", help="also measure each of the space's baselines")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny testbed on the CPU, 64 samples")
    args = ap.parse_args(argv)
    if 0 in args.noise_seeds:
        raise SystemExit("--noise-seeds: 0 is the search noise, not held out; pass seeds such as 1 2 3")
    if args.cpu_smoke:
        args.device, args.samples = "cpu", 64
    # guided_diffusion's study settings for the task (its own defaults for what it alone reads)
    spec = _spec(argparse.Namespace(task=args.task, device=args.device, samples=args.samples,
                                    cpu_smoke=args.cpu_smoke))
    space, evaluator = spec._space(), spec._evaluator()
    runs = load_runs(args.runs, args.optimizers)
    log = Path(args.out + ".jsonl")
    done: dict[tuple[str, int, int], float] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            m = json.loads(line)
            done[(m["optimizer"], m["seed"], m["noise_seed"])] = m["fd"]

    import torch

    dev = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    print(f"# held-out FD of {len(runs)} runs' best configurations, {args.task}, noise seeds {args.noise_seeds}, "
          f"{args.samples} samples; {date} UTC; {dev}; {platform.platform()}; torch {torch.__version__}", flush=True)
    rows = []
    with log.open("a") as f:
        for r in runs:
            cfg = space.validate(r["best_config"])
            fds = []
            for ns in args.noise_seeds:
                key = (r["optimizer"], r["seed"], ns)
                if key not in done:
                    done[key] = float(evaluator.measure(cfg, args.samples, ns)["fd"])
                    f.write(json.dumps({"optimizer": key[0], "seed": key[1], "noise_seed": ns, "fd": done[key]}) + "\n")
                    f.flush()
                fds.append(done[key])
            rows.append({"optimizer": r["optimizer"], "seed": r["seed"], "search_fd": search_value(r),
                         "heldout_fd": statistics.fmean(fds), "heldout_per_seed": fds})
            print(f"  {r['optimizer']} seed {r['seed']}: search {rows[-1]['search_fd']:.2f}, "
                  f"held-out {rows[-1]['heldout_fd']:.2f}", flush=True)
    base_rows = []
    if args.with_baselines:
        with log.open("a") as f:
            for i, (name, cfg) in enumerate(space.baselines().items()):
                fds = []
                for ns in args.noise_seeds:
                    key = (f"baseline {name}", i, ns)
                    if key not in done:
                        done[key] = float(evaluator.measure(space.validate(cfg), args.samples, ns)["fd"])
                        f.write(json.dumps({"optimizer": key[0], "seed": i, "noise_seed": ns, "fd": done[key]}) + "\n")
                        f.flush()
                    fds.append(done[key])
                base_rows.append({"baseline": name, "heldout_fd": statistics.fmean(fds), "heldout_per_seed": fds})
        print("\n| baseline | held-out FD |\n|---|---:|")
        for b in sorted(base_rows, key=lambda b: b["heldout_fd"]):
            print(f"| {b['baseline']} | {b['heldout_fd']:.2f} |")
    table = summarize(rows, args.baseline)
    print(f"\n| optimizer | runs | search FD | held-out FD | held-out minus {args.baseline}, paired (s.e.) |")
    print("|---|---:|---:|---:|---:|")
    for o, d in sorted(table.items(), key=lambda t: t[1]["heldout"][0]):
        p = d.get("paired")
        cell = f"{p[0]:+.2f} ± {p[1]:.2f} ({p[2]} seeds)" if p else ""
        print(f"| {o} | {d['runs']} | {d['search'][0]:.2f} ± {d['search'][1]:.2f} | "
              f"{d['heldout'][0]:.2f} ± {d['heldout'][1]:.2f} | {cell} |")
    Path(args.out).write_text(json.dumps({"date": date, "device": dev, "task": args.task, "runs": args.runs,
                                          "noise_seeds": args.noise_seeds, "samples": args.samples,
                                          "rows": rows, "table": table,
                                          "baselines": base_rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
