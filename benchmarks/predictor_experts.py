"""Predictor-guided search on a real compression space: expert pruning of the tiny MoE LM.

Space: :class:`~paretoforge.spaces.experts.ExpertPruningSpace` of the zoo's ``tiny_moe`` (2 MoE
layers x 8 experts, a keep set of 1..8 experts per layer: 255^2 = 65,025 configurations).
Objectives: ``experts_kept`` (a space cost, 2..16) and next-byte ``perplexity`` on ``--rows``
rows of the ``calib`` split (a real forward pass of the pruned model), both minimised.

Every optimizer runs one study per seed (batch size 1, in-memory store). Real evaluations are
cached by configuration key *in this process only* (nothing is stored on disk), so that seeds
and optimizers that send the same configuration reuse one real forward pass; the evaluation
itself is deterministic, so the cache changes no result. Every configuration sent counts.

Hypervolume uses the fixed reference point ``--ref`` (default experts_kept 17, perplexity 100)
and is divided by the *best hypervolume*: that of the union front of all results of this run
(every optimizer and seed). The target of issue 5: guided reaches NSGA-II's 200-evaluation
hypervolume with at most a third of the evaluations (67).

    python benchmarks/predictor_experts.py --seeds 10            # guided 100, nsga2/random 200
    python benchmarks/predictor_experts.py --seeds 2 --quick     # smoke test
    python benchmarks/predictor_experts.py --seeds 10 --guided-evals 200 \\
        --optimizers guided nsga2 random optuna-tpe optuna-gp pymoo-nsga2   # all side by side
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optimizer_labels import six_optimizers  # noqa: E402
from quality import machine_info  # noqa: E402

#: label -> (optimizer registry name, optimizer_settings)
OPTIMIZERS = six_optimizers(20)


class CachedEvaluator:
    """Wraps an evaluator: one real evaluation per (configuration key, fidelity), reused afterwards."""

    def __init__(self, inner: Any, space: Any) -> None:
        self.inner, self.space = inner, space
        self.cache: dict[str, Any] = {}
        self.real = 0
        self.seconds = 0.0

    def evaluate(self, configs: Sequence[dict[str, Any]], fidelity: float = 1.0) -> list[Any]:
        import copy

        keys = [(self.space.key(c), float(fidelity)) for c in configs]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            t0 = time.perf_counter()
            res = self.inner.evaluate([configs[i] for i in todo], fidelity)
            self.seconds += time.perf_counter() - t0
            self.real += len(todo)
            for i, r in zip(todo, res):
                self.cache[keys[i]] = r
        return [copy.deepcopy(self.cache[k]) for k in keys]

    def close(self) -> None:
        pass


def run_study(space: Any, evaluator: Any, objectives: list, opt_label: str, seed: int, n: int) -> dict[str, Any]:
    from paretoforge.search.optimizers import create_optimizer
    from paretoforge.search.study import Study
    from paretoforge.search.trial import TrialState

    name, settings = OPTIMIZERS[opt_label]
    opt = create_optimizer(name, space, objectives, seed=seed, **settings)
    t0 = time.perf_counter()
    study = Study(f"experts-{opt_label}-{seed}", space, evaluator, objectives, optimizer=opt, storage=None,
                  seed=seed, batch_size=1)
    study.optimize(timeout=None, n_evaluations=n)
    seconds = time.perf_counter() - t0
    trials = sorted(study.trials, key=lambda t: t.number)[:n]
    F = np.full((len(trials), len(objectives)), np.inf)
    for i, t in enumerate(trials):
        if t.state == TrialState.COMPLETE:
            F[i] = [o.sign * t.metrics[o.source] for o in objectives]
    state = opt.state() if hasattr(opt, "state") else {}
    study.close()
    return {"optimizer": opt_label, "seed": seed, "F": F.tolist(), "seconds": seconds,
            "state": {k: v for k, v in state.items() if k in ("real_evals", "kendall_tau", "log_space")}}


def summarise(runs: list[dict[str, Any]], labels: Sequence[str], budgets: Sequence[int], ref: np.ndarray,
              best: float, fill_to: int | None = None) -> tuple[dict[str, dict[str, Any]], str]:
    """Per label: mean and sd over its runs of the hypervolume / ``best`` of the configurations
    sent (``run["F"]``, minimised) after each budget, and the mean seconds per run; also a
    markdown table. Each run gets its curve as ``run["hv"]``. With ``fill_to``, a run that
    stopped early keeps its last value up to that many evaluations; otherwise a budget beyond
    the shortest run is left out."""
    from paretoforge.search.pareto import hypervolume_history

    summary: dict[str, dict[str, Any]] = {}
    for o in labels:
        rs = [r for r in runs if r["optimizer"] == o]
        row: dict[str, Any] = {"n_seeds": len(rs), "seconds_mean": statistics.fmean(r["seconds"] for r in rs)}
        for r in rs:
            h = hypervolume_history(np.asarray(r["F"]), ref) / best
            if fill_to is not None:
                h = np.concatenate([h, np.full(max(fill_to - len(h), 0), h[-1])])
            r["hv"] = h.tolist()
        for b in budgets:
            if b > min(len(r["hv"]) for r in rs):
                continue
            vals = [r["hv"][b - 1] for r in rs]
            row[f"mean@{b}"] = statistics.fmean(vals)
            row[f"sd@{b}"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        summary[o] = row
    lines = ["| optimizer | " + " | ".join(f"@{b}" for b in budgets) + " | s/run |", "|---|" + "---:|" * (len(budgets) + 1)]
    for o, row in summary.items():
        cells = [f"{row[f'mean@{b}']:.3f} ± {row[f'sd@{b}']:.3f}" if f"mean@{b}" in row else "" for b in budgets]
        lines.append(f"| {o} | " + " | ".join(cells) + f" | {row['seconds_mean']:.1f} |")
    return summary, "\n".join(lines)


def paired_by_seed(a: dict[int, Sequence[float]], b: dict[int, Sequence[float]], budgets: Sequence[int],
                   digits: int = 3) -> tuple[list[int], str]:
    """Curves ``a`` and ``b`` by seed: the seeds both have, and per budget ``k`` the mean ± standard
    error over them of ``a[s][k - 1] - b[s][k - 1]`` as ``"@k +m ± se / ..."`` (a seed whose curve
    is shorter than ``k`` is left out there; a budget with fewer than two seeds is left out)."""
    common = sorted(set(a) & set(b))
    cells = []
    for k in budgets:
        d = [a[s][k - 1] - b[s][k - 1] for s in common if len(a[s]) >= k and len(b[s]) >= k]
        if len(d) > 1:
            cells.append(f"@{k} {statistics.fmean(d):+.{digits}f} ± {statistics.stdev(d) / len(d) ** 0.5:.{digits}f}")
    return common, " / ".join(cells)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--optimizers", nargs="+", choices=list(OPTIMIZERS), default=["guided", "nsga2", "random"])
    ap.add_argument("--guided-evals", type=int, default=100, help="evaluations per guided run")
    ap.add_argument("--evals", type=int, default=200, help="evaluations per run of the other optimizers")
    ap.add_argument("--gp-evals", type=int, default=100,
                    help="evaluations per run of optuna-gp (its proposals are the slowest)")
    ap.add_argument("--budgets", nargs="+", type=int, default=[25, 50, 67, 100, 200])
    ap.add_argument("--rows", type=int, default=48, help="calib rows scored per configuration")
    ap.add_argument("--ref", nargs=2, type=float, default=[17.0, 100.0], metavar=("EXPERTS", "PPL"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="guided and optuna-gp 30, the others 60 evaluations")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.guided_evals, args.evals, args.gp_evals, args.budgets = 30, 60, 30, [10, 20, 30, 60]
    import torch

    torch.set_num_threads(args.threads)
    from paretoforge.evaluators.lm import perplexity_evaluator
    from paretoforge.search import Objective
    from paretoforge.search.pareto import hypervolume, non_dominated
    from paretoforge.spaces.experts import ExpertPruningSpace

    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    info = machine_info()
    print(f"# paretoforge predictor-guided search on expert pruning (tiny MoE LM), {date} UTC")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()) + f", load average {os.getloadavg()}")
    inner = perplexity_evaluator(split="calib", n_rows=args.rows)
    space = ExpertPruningSpace(inner.model, k_min=1, k_max=max(inner.model.cfg.n_experts, 1))
    ev = CachedEvaluator(inner, space)
    objectives = [Objective("experts_kept"), Objective("perplexity")]
    ref = np.asarray(args.ref, dtype=float)
    print(f"space: {space.cardinality} keep sets; objectives experts_kept, perplexity ({args.rows} calib rows); "
          f"reference point {ref.tolist()}; seeds 0..{args.seeds - 1}", flush=True)
    runs = []
    t0 = time.perf_counter()
    for o in args.optimizers:
        n = args.guided_evals if o == "guided" else args.gp_evals if o == "optuna-gp" else args.evals
        for s in range(args.seeds):
            r = run_study(space, ev, objectives, o, s, n)
            runs.append(r)
            print(f"  {o} seed {s}: {r['seconds']:.1f} s, {len(r['F'])} sent, real evaluations so far {ev.real} "
                  f"({ev.seconds:.0f} s), {r['state']}", file=sys.stderr, flush=True)
    allF = np.vstack([np.asarray(r["F"]) for r in runs])
    allF = allF[np.all(np.isfinite(allF), axis=1)]
    union = allF[non_dominated(allF)]
    best = hypervolume(union, ref)
    budgets = sorted(set(args.budgets))
    summary, table = summarise(runs, args.optimizers, budgets, ref, best)
    print()
    print(table)
    print(f"\nbest hypervolume (union front of all {len(runs)} runs, {len(union)} points): {best:.4f}; "
          f"{ev.real} distinct configurations evaluated for real ({ev.seconds:.0f} s), "
          f"total {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()}")
    target = None
    if "guided" in summary and "nsga2" in summary and f"mean@{args.evals}" in summary["nsga2"]:
        goal = summary["nsga2"][f"mean@{args.evals}"]
        g = np.array([r["hv"] for r in runs if r["optimizer"] == "guided"]).mean(0)
        reach = int(np.argmax(g >= goal)) + 1 if np.any(g >= goal) else None
        target = {"nsga2_hv": goal, "guided_evals_to_reach": reach}
        print(f"nsga2 mean hypervolume after {args.evals}: {goal:.4f}; guided's mean reaches it after "
              f"{reach if reach else 'more than ' + str(len(g))} evaluations "
              f"({'met' if reach and reach <= args.evals / 3 else 'not met'}: target <= {args.evals / 3:.0f})")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"date": date, "machine": info, "command": " ".join(sys.argv), "ref": ref.tolist(),
                       "best_hv": best, "summary": summary, "table": table, "target": target, "runs": runs}, fh)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
