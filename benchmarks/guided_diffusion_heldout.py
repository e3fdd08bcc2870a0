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

``--pick K`` (one objective; runs that keep every configuration sent, as ``guided_diffusion.py``'s
own ``.runs.jsonl`` do) asks whether a validation pick helps: each run's K best distinct
configurations by search value are measured on ``--pick-seeds`` (validation, default 4 and 5) and on
the held-out ``--noise-seeds`` (test), and the test FD of the search's best is compared with that
of the best on validation.

``--task model_schedule`` (two objectives, FD and summed latency) re-measures fronts instead:
for each ``--at LABEL=B[,B...]`` (e.g. ``guided=25,67 nsga2=200``), the front of each run of that
optimizer after its first B configurations sent, every member's FD on the held-out seeds (its
latency does not change), and the hypervolume of the held-out front at the task's reference point
(FD 60, 1.05 x the all-largest schedule's latency), against the search front's.

    python benchmarks/guided_diffusion_heldout.py --task solver_schedule --out ho.json \\
        --runs benchmarks/results/guided_diffusion_h200_solver_six.runs.jsonl          # GPU
    python benchmarks/guided_diffusion_heldout.py --cpu-smoke --runs R.jsonl --out /tmp/h.json

Every mode measures a configuration once per noise seed, however many runs share it (keyed by
the space's key): each measurement is appended to ``OUT.jsonl`` as it ends, and measurements
already there are not repeated (an interrupted run resumes).
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
from guided_diffusion import _spec, full_points  # noqa: E402


def load_runs(files: list[str], optimizers: list[str] | None, need: str = "best_config") -> list[dict[str, Any]]:
    """The runs of ``files`` that hold ``need`` (a best configuration, or every configuration sent)
    and belong to one of ``optimizers``, if given."""
    runs = []
    for f in files:
        for i, line in enumerate(Path(f).read_text().splitlines(), 1):
            r = json.loads(line)
            if optimizers and r["optimizer"] not in optimizers:
                continue
            if need == "best_config" and r.get(need) is None and r.get("configs") and r.get("points"):
                # runs files of guided_diffusion.py hold every configuration sent: the best is the one
                # of lowest full-fidelity FD
                full = full_points(r)
                ok = [i for i, p in enumerate(full) if p is not None]
                if ok:
                    r["best_index"] = min(ok, key=lambda i: full[i][0])
                    r["best_config"] = r["configs"][r["best_index"]]
            if r.get(need) is None:
                what = "the best configuration" if need == "best_config" else "every configuration sent"
                raise SystemExit(f"{f}, line {i}: run {r['optimizer']} seed {r['seed']} has no {need!r}; "
                                 f"pass runs files written with {what} (guided_diffusion.py's results files)")
            runs.append(r)
    return runs


def run_info(device: str) -> tuple[str, str, str]:
    """``(device name, UTC date, "DATE UTC; DEVICE; PLATFORM; torch VERSION")`` for a results header."""
    import torch

    dev = torch.cuda.get_device_name() if torch.cuda.is_available() and device != "cpu" else "cpu"
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    return dev, date, f"{date} UTC; {dev}; {platform.platform()}; torch {torch.__version__}"


def search_value(run: dict[str, Any]) -> float:
    """The lowest full-fidelity search FD a run sent (failed and low-fidelity evaluations left out)."""
    return min(p[0] for p in full_points(run) if p is not None)


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


def parse_at(items: list[str]) -> dict[str, list[int]]:
    """``["guided=25,67", "nsga2=200"]`` -> ``{"guided": [25, 67], "nsga2": [200]}``."""
    out: dict[str, list[int]] = {}
    for item in items:
        label, _, budgets = item.partition("=")
        try:
            out[label] = [int(b) for b in budgets.split(",")]
        except ValueError:
            budgets = ""
        if not label or not budgets or any(b < 1 for b in out.get(label, [])):
            raise SystemExit(f"--at: {item!r} is not LABEL=B[,B...] with budgets >= 1 (e.g. guided=25,67)")
    return out


def front_rows(runs: list[dict[str, Any]], at: dict[str, list[int]], ref: Any,
               measure: Any) -> list[dict[str, Any]]:
    """Per run and budget of ``at``: the search front after the first B configurations sent, its
    members' held-out FD (``measure(config) -> fd``) and both hypervolumes at ``ref``."""
    import numpy as np

    from paretoforge.search.pareto import hypervolume, non_dominated

    rows = []
    for r in runs:
        for b in at.get(r["optimizer"], []):
            sent = [(p, c) for p, c in zip(r["points"][:b], r["configs"][:b]) if p is not None]
            F = np.array([p for p, _ in sent], dtype=float)
            members = [sent[i] for i in np.flatnonzero(non_dominated(F))]
            H = np.array([[measure(c), p[1]] for p, c in members], dtype=float)
            rows.append({"optimizer": f"{r['optimizer']}@{b}", "seed": r["seed"], "front": [c for _, c in members],
                         "search_points": [list(p) for p, _ in members], "heldout_points": H.tolist(),
                         "search_hv": hypervolume(F, ref), "heldout_hv": hypervolume(H, ref)})
    return rows


def pick_rows(runs: list[dict[str, Any]], k: int, key: Any, val: Any, test: Any,
              sent_max: int | None = None) -> list[dict[str, Any]]:
    """Per run: its ``k`` best distinct configurations by search value (``key(config)`` tells them
    apart) among its first ``sent_max`` configurations sent (all if None), their validation and
    test FD (``val(config)``, ``test(config)``), and the test FD of the search's best and of the
    validation's best among them. Low-fidelity results (another scale) are never among them."""
    rows = []
    for r in runs:
        if sent_max is not None and r.get("fidelities"):
            raise SystemExit(f"--pick-sent counts configurations sent, and run {r['optimizer']} seed {r['seed']} "
                             "has low-fidelity evaluations: leave --pick-sent out for it")
        points = full_points(r) if sent_max is None else r["points"][:sent_max]
        sent = sorted(((p[0], i) for i, p in enumerate(points) if p is not None))
        top, keys = [], set()
        for v, i in sent:
            kk = key(r["configs"][i])
            if kk not in keys:
                keys.add(kk)
                top.append((v, r["configs"][i]))
            if len(top) == k:
                break
        v_fd = [val(c) for _, c in top]
        t_fd = [test(c) for _, c in top]
        best_v = min(range(len(top)), key=v_fd.__getitem__)
        label = r["optimizer"] if sent_max is None else f"{r['optimizer']}@{sent_max}"
        rows.append({"optimizer": label, "seed": r["seed"], "search": [v for v, _ in top], "validation": v_fd,
                     "test": t_fd, "picked": best_v, "test_search_best": t_fd[0], "test_validated_best": t_fd[best_v]})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", required=True, metavar="JSONL")
    ap.add_argument("--out", required=True)
    ap.add_argument("--task", choices=["solver_schedule", "checkpoint_combination", "model_schedule"],
                    default="solver_schedule")
    ap.add_argument("--at", nargs="+", default=["guided=25,67", "nsga2=200"], metavar="LABEL=B[,B]",
                    help="model_schedule: the fronts to re-measure, after B configurations sent")
    ap.add_argument("--optimizers", nargs="+", default=None)
    ap.add_argument("--baseline", default=None,
                    help="optimizer the others are paired with (default nsga2; model_schedule: "
                         "nsga2 at its largest --at budget)")
    ap.add_argument("--noise-seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--samples", type=int, default=10000, help="samples per held-out FD")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--pick", type=int, default=0, metavar="K",
                    help="one objective: compare the search's best with the validation's best of each run's K best")
    ap.add_argument("--pick-seeds", nargs="+", type=int, default=[4, 5], help="validation noise seeds of --pick")
    ap.add_argument("--pick-sent", type=int, default=None, metavar="B",
                    help="--pick among each run's first B configurations sent (default: all; rows labelled OPT@B)")
    ap.add_argument("--with-baselines", action="store_true", help="also measure each of the space's baselines")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny testbed on the CPU, 64 samples")
    args = ap.parse_args(argv)
    if 0 in args.noise_seeds:
        raise SystemExit("--noise-seeds: 0 is the search noise, not held out; pass seeds such as 1 2 3")
    if args.cpu_smoke:
        args.device, args.samples = "cpu", 64
    if args.baseline is None:
        at = parse_at(args.at) if args.task == "model_schedule" else {}
        args.baseline = f"nsga2@{max(at['nsga2'])}" if "nsga2" in at else "nsga2"
    # guided_diffusion's study settings for the task (its own defaults for what it alone reads)
    spec = _spec(argparse.Namespace(task=args.task, device=args.device, samples=args.samples,
                                    cpu_smoke=args.cpu_smoke))
    space, evaluator = spec._space(), spec._evaluator()
    if args.task == "model_schedule":
        return _fronts_main(args, space, evaluator)
    if args.pick:
        return _pick_main(args, space, evaluator)
    runs = load_runs(args.runs, args.optimizers)
    fd = ConfigFD(Path(args.out + ".jsonl"), space, evaluator, args.samples)
    dev, date, info = run_info(args.device)
    print(f"# held-out FD of {len(runs)} runs' best configurations, {args.task}, noise seeds {args.noise_seeds}, "
          f"{args.samples} samples; {info}", flush=True)
    rows = []
    for r in runs:
        fds = fd.per_seed(r["best_config"], args.noise_seeds)
        rows.append({"optimizer": r["optimizer"], "seed": r["seed"], "search_fd": search_value(r),
                     "heldout_fd": statistics.fmean(fds), "heldout_per_seed": fds})
        print(f"  {r['optimizer']} seed {r['seed']}: search {rows[-1]['search_fd']:.2f}, "
              f"held-out {rows[-1]['heldout_fd']:.2f}", flush=True)
    base_rows = []
    if args.with_baselines:
        for name, cfg in space.baselines().items():
            fds = fd.per_seed(cfg, args.noise_seeds)
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


class ConfigFD:
    """Held-out FD of configurations, mean over noise seeds, each (configuration key, seed)
    measured once: read back from ``log`` (JSON lines) and appended to it as measured."""

    def __init__(self, log: Path, space: Any, evaluator: Any, samples: int) -> None:
        self.log, self.space, self.evaluator, self.samples = log, space, evaluator, samples
        self.done: dict[tuple[str, int], float] = {}
        if log.exists():
            for line in log.read_text().splitlines():
                m = json.loads(line)
                self.done[(m["config"], m["noise_seed"])] = m["fd"]

    def per_seed(self, cfg: dict[str, Any], seeds: list[int]) -> list[float]:
        """FD of ``cfg`` on each of ``seeds``, measured where not logged yet."""
        key = self.space.key(cfg)
        for ns in seeds:
            if (key, ns) not in self.done:
                self.done[(key, ns)] = float(self.evaluator.measure(self.space.validate(cfg), self.samples, ns)["fd"])
                with self.log.open("a") as f:
                    f.write(json.dumps({"config": key, "noise_seed": ns, "fd": self.done[(key, ns)]}) + "\n")
        return [self.done[(key, ns)] for ns in seeds]

    def __call__(self, cfg: dict[str, Any], seeds: list[int]) -> float:
        return statistics.fmean(self.per_seed(cfg, seeds))


def _pick_main(args: argparse.Namespace, space: Any, evaluator: Any) -> int:
    if args.pick < 2 or set(args.pick_seeds) & set(args.noise_seeds) or 0 in args.pick_seeds:
        raise SystemExit("--pick K needs K >= 2 and --pick-seeds apart from --noise-seeds and from 0 (the search noise)")
    if args.pick_sent is not None and args.pick_sent < 1:
        raise SystemExit(f"--pick-sent must be a positive number of configurations, got {args.pick_sent}")
    runs = load_runs(args.runs, args.optimizers, need="configs")
    fd = ConfigFD(Path(args.out + ".jsonl"), space, evaluator, args.samples)
    dev, date, info = run_info(args.device)
    print(f"# validation pick among each run's {args.pick} best, {len(runs)} runs, {args.task}, validation seeds "
          f"{args.pick_seeds}, test seeds {args.noise_seeds}, {args.samples} samples; {info}", flush=True)
    rows = pick_rows(runs, args.pick, space.key, lambda c: fd(c, args.pick_seeds), lambda c: fd(c, args.noise_seeds),
                     args.pick_sent)
    table: dict[str, Any] = {}
    print(f"\n| optimizer | runs | test FD, search's best | test FD, validation's best of {args.pick} | "
          "difference, paired (s.e.) | runs where the pick differs |")
    print("|---|---:|---:|---:|---:|---:|")
    for o in dict.fromkeys(r["optimizer"] for r in rows):
        rs = [r for r in rows if r["optimizer"] == o]
        a = [r["test_search_best"] for r in rs]
        b = [r["test_validated_best"] for r in rs]
        d = [y - x for x, y in zip(a, b)]
        se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else 0.0
        table[o] = {"runs": len(rs), "search_best": statistics.fmean(a), "validated_best": statistics.fmean(b),
                    "paired": (statistics.fmean(d), se), "differs": sum(r["picked"] != 0 for r in rs)}
        print(f"| {o} | {len(rs)} | {table[o]['search_best']:.2f} | {table[o]['validated_best']:.2f} | "
              f"{statistics.fmean(d):+.2f} ± {se:.2f} | {table[o]['differs']} |")
    Path(args.out).write_text(json.dumps({"date": date, "device": dev, "task": args.task, "runs": args.runs,
                                          "pick": args.pick, "pick_seeds": args.pick_seeds, "pick_sent": args.pick_sent,
                                          "noise_seeds": args.noise_seeds, "samples": args.samples,
                                          "rows": rows, "table": table}, indent=1, default=float))
    return 0


def _fronts_main(args: argparse.Namespace, space: Any, evaluator: Any) -> int:
    import numpy as np

    at = parse_at(args.at)
    runs = load_runs(args.runs, list(at), need="configs")
    largest = space.schedule_latency({"models": [space.zoo[-1]] * space.nfe})
    ref = np.array([1000.0 if args.cpu_smoke else 60.0, 1.05 * largest])
    fd = ConfigFD(Path(args.out + ".jsonl"), space, evaluator, args.samples)
    dev, date, info = run_info(args.device)
    print(f"# held-out fronts of {len(runs)} runs, model_schedule, at {at}, noise seeds {args.noise_seeds}, "
          f"{args.samples} samples, reference point {ref.tolist()}; {info}", flush=True)
    rows = front_rows(runs, at, ref, lambda c: fd(c, args.noise_seeds))
    base = {r["seed"]: r for r in rows if r["optimizer"] == args.baseline}
    table: dict[str, Any] = {}
    print(f"\n| optimizer@budget | runs | front size | search hypervolume | held-out hypervolume | "
          f"held-out minus {args.baseline}, paired (s.e.) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label in dict.fromkeys(r["optimizer"] for r in rows):
        rs = [r for r in rows if r["optimizer"] == label]
        s = [r["search_hv"] for r in rs]
        h = [r["heldout_hv"] for r in rs]
        d: dict[str, Any] = {"runs": len(rs), "front": statistics.fmean(len(r["front"]) for r in rs),
                             "search": (statistics.fmean(s), statistics.stdev(s) if len(s) > 1 else 0.0),
                             "heldout": (statistics.fmean(h), statistics.stdev(h) if len(h) > 1 else 0.0)}
        diffs = [r["heldout_hv"] - base[r["seed"]]["heldout_hv"] for r in rs if r["seed"] in base]
        if label != args.baseline and len(diffs) > 1:
            d["paired"] = (statistics.fmean(diffs), statistics.stdev(diffs) / len(diffs) ** 0.5, len(diffs))
        table[label] = d
        p = d.get("paired")
        print(f"| {label} | {d['runs']} | {d['front']:.1f} | {d['search'][0]:.1f} ± {d['search'][1]:.1f} | "
              f"{d['heldout'][0]:.1f} ± {d['heldout'][1]:.1f} | "
              + (f"{p[0]:+.1f} ± {p[1]:.1f} ({p[2]} seeds)" if p else "") + " |")
    Path(args.out).write_text(json.dumps({"date": date, "device": dev, "task": args.task, "runs": args.runs,
                                          "at": at, "reference_point": ref.tolist(), "noise_seeds": args.noise_seeds,
                                          "samples": args.samples, "rows": rows, "table": table}, indent=1,
                                         default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
