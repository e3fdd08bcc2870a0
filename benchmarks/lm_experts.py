"""EEP expert pruning (+ merging) of the shipped tiny MoE LM, against random and least-routed.

The model (2 MoE layers x 8 experts, top-2, byte-level, ``zoo/assets/tiny_moe.safetensors``) is
scored by next-byte perplexity and accuracy. It was trained on the corpus's search split; searches
score configurations on ``--search-rows`` rows of ``calib`` (one half of the held-out sentences)
and every reported number is on ``--heldout-rows`` rows of ``test`` (the other half).

1. Half the experts (``--keep`` 4 of 8 per layer):
   - random pruning: mean (and best) over ``--random`` random keep sets;
   - least-routed: drop the experts that receive the fewest tokens on the calib rows;
   - EEP stage 1: a GA (paretoforge NSGA-II, one objective) over the keep sets, ``--stage1`` evaluations
     (with ``--exact``: also every one of the C(8,4)^2 = 4900 keep sets, to show the GA's regret);
   - EEP stage 2: merge matrices + router remap seeded by the best stage-1 keep sets, ``--stage2`` evaluations.
2. A front over kept experts (1..8 per layer): NSGA-II over (experts kept, perplexity), ``--front`` evaluations.

    python benchmarks/lm_experts.py                  # about 5-10 min on 2 busy CPU cores
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import statistics
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=int, default=4)
    ap.add_argument("--search-rows", type=int, default=48)
    ap.add_argument("--heldout-rows", type=int, default=256)
    ap.add_argument("--random", type=int, default=20)
    ap.add_argument("--stage1", type=int, default=160)
    ap.add_argument("--stage2", type=int, default=160)
    ap.add_argument("--front", type=int, default=160)
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from paretoforge.evaluators.lm import perplexity_evaluator
    from paretoforge.search import Objective, Study
    from paretoforge.spaces.experts import (
        ExpertMergeSpace,
        ExpertPruningSpace,
        least_routed_keep,
        random_keep,
        routing_counts,
    )

    print(f"# {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    search = perplexity_evaluator(split="calib", n_rows=args.search_rows)
    held = perplexity_evaluator(split="test", n_rows=args.heldout_rows)
    lm = search.model
    L, E = lm.cfg.n_layers, lm.cfg.n_experts
    space = ExpertPruningSpace(lm, keep=args.keep)
    out: dict = {}

    def h(cfgs):
        return [r.metrics for r in held.evaluate(cfgs)]

    full = h([{}])[0]
    print(f"full model: test perplexity {full['perplexity']:.4f}, accuracy {full['accuracy']:.4f}")
    rng = np.random.default_rng(0)
    rand = h([random_keep([E] * L, args.keep, rng) for _ in range(args.random)])
    counts = routing_counts(lm, [search.rows[:, :-1]])
    lr_cfg = least_routed_keep(counts, args.keep)
    least = h([lr_cfg])[0]
    print(f"routing counts on the calib rows: {[c.astype(int).tolist() for c in counts]}")

    obj = [Objective("perplexity")]
    t0 = time.perf_counter()
    s1 = Study("eep-stage1", space, search, obj, optimizer="nsga2", optimizer_settings={"population_size": 16}, seed=0)
    s1.optimize(n_evaluations=args.stage1)
    t1 = time.perf_counter() - t0
    ranked = sorted(s1.completed_trials(), key=lambda t: t.metrics["perplexity"])
    best1 = ranked[0].config
    stage1 = h([best1])[0]
    exact = None
    if args.exact:
        t0 = time.perf_counter()
        allc = list(space.enumerate())
        res = search.evaluate(allc)
        best_i = int(np.argmin([r.metrics["perplexity"] for r in res]))
        exact = {"config": allc[best_i], "search_perplexity": res[best_i].metrics["perplexity"],
                 "ga_search_perplexity": ranked[0].metrics["perplexity"],
                 "ga_rank": 1 + sum(r.metrics["perplexity"] < ranked[0].metrics["perplexity"] for r in res),
                 "heldout": h([allc[best_i]])[0], "seconds": time.perf_counter() - t0, "n": len(allc)}
    merge_space = ExpertMergeSpace(lm, keep=args.keep, initial=[t.config for t in ranked[:8]])
    t0 = time.perf_counter()
    s2 = Study("eep-stage2", merge_space, search, obj, optimizer="nsga2", optimizer_settings={"population_size": 16},
               seed=0)
    s2.optimize(n_evaluations=args.stage2)
    t2 = time.perf_counter() - t0
    best2 = min(s2.completed_trials(), key=lambda t: t.metrics["perplexity"])
    stage2 = h([best2.config])[0]

    print(f"\nkeep {args.keep} of {E} experts per layer; test perplexity (accuracy), {args.heldout_rows} rows:")
    rp = [m["perplexity"] for m in rand]
    print(f"  full model             {full['perplexity']:.4f} ({full['accuracy']:.4f})")
    print(f"  random (mean of {args.random:>2})     {statistics.mean(rp):.4f} (best {min(rp):.4f}, worst {max(rp):.4f})")
    print(f"  least-routed           {least['perplexity']:.4f} ({least['accuracy']:.4f})  keep {lr_cfg}")
    print(f"  EEP stage 1 (prune)    {stage1['perplexity']:.4f} ({stage1['accuracy']:.4f})  keep {best1}  "
          f"[{args.stage1} evals, {t1:.0f} s]")
    if exact:
        print(f"  exhaustive stage 1     {exact['heldout']['perplexity']:.4f}  keep {exact['config']} "
              f"[{exact['n']} evals, {exact['seconds']:.0f} s]; "
              f"GA's pick ranks {exact['ga_rank']} of {exact['n']} on calib")
    print(f"  EEP stage 2 (merge)    {stage2['perplexity']:.4f} ({stage2['accuracy']:.4f})  "
          f"[{args.stage2} evals, {t2:.0f} s]")
    gap = {k: v - full["perplexity"] for k, v in
           {"random_mean": statistics.mean(rp), "least_routed": least["perplexity"], "eep_stage1": stage1["perplexity"],
            "eep_stage2": stage2["perplexity"]}.items()}
    print("  perplexity gap to full: " + ", ".join(f"{k} {v:+.4f}" for k, v in gap.items()))
    out.update(full=full, random=rand, least_routed=least, least_routed_config=lr_cfg, stage1=stage1,
               stage1_config=best1, stage2=stage2, stage2_config=best2.config, exact=exact, gap=gap)

    if args.front:
        fspace = ExpertPruningSpace(lm, k_min=1, k_max=E)
        t0 = time.perf_counter()
        sf = Study("eep-front", fspace, search, [Objective("experts_kept"), Objective("perplexity")], optimizer="nsga2",
                   optimizer_settings={"population_size": 16}, seed=0)
        sf.optimize(n_evaluations=args.front)
        front = sorted(sf.pareto_trials(), key=lambda t: t.metrics["experts_kept"])
        hm = h([t.config for t in front])
        print(f"\nfront over kept experts ({args.front} evaluations, {time.perf_counter() - t0:.0f} s); test split:")
        print(f"  {'experts':>7} {'params':>8} {'perplexity':>10} {'accuracy':>8}  keep sets")
        for t, m in zip(front, hm):
            print(f"  {int(t.metrics['experts_kept']):>7} {int(m['params']):>8} {m['perplexity']:>10.4f} "
                  f"{m['accuracy']:>8.4f}  {[t.config[f'keep_{li}'] for li in range(L)]}")
        out["front"] = [{"config": t.config, "heldout": m} for t, m in zip(front, hm)]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
