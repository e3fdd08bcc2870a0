"""Mixed precision vs uniform bit-widths on all-MiniLM-L6-v2, judged on held-out text.

1. MixDQ-style per-layer sensitivity (1 - mean cosine to full precision, one layer quantized at a
   time) on ``--calib`` sentences of the corpus's *search* split;
2. ``scipy.optimize.milp`` allocation for every average-bits budget of ``--budgets`` (a Pareto
   family from the lowest budget to 8 bits);
3. every allocation and every uniform bit-width evaluated on ``--heldout`` sentences of the
   *held-out* split (mean cosine to full precision, nearest-neighbour agreement);
4. optionally (``--search N``): NSGA-II with N evaluations on the search split, seeded by the
   MILP family vs. unseeded (same seed), hypervolume of (avg bits, cosine error) at reference
   point (8.5, 1.0).

    python benchmarks/lm_bitwidth.py                 # about 10 min on 2 busy CPU cores
    python benchmarks/lm_bitwidth.py --search 0 --heldout 64   # quicker
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, nargs="+", default=[2, 3, 4, 8])
    ap.add_argument("--group-size", type=int, default=64)
    ap.add_argument("--calib", type=int, default=32, help="sentences for the sensitivities (search split)")
    ap.add_argument("--heldout", type=int, default=256, help="held-out sentences for the final numbers")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--budgets", type=float, nargs="+", default=[2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0])
    ap.add_argument("--search", type=int, default=48, help="NSGA-II evaluations, seeded vs unseeded (0: skip)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--sensitivity", help="a .npy file: load the sensitivities from it if it exists, else save them there")
    args = ap.parse_args()

    from paretoforge.evaluators.lm import EmbeddingFidelityEvaluator
    from paretoforge.spaces.quantization import BitWidthSpace
    from paretoforge.spaces.quantization.mixdq import layer_sensitivity, milp_family
    from paretoforge.zoo import corpus_split, get_model

    print(f"# {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    enc = get_model("minilm")
    space = BitWidthSpace(enc, bits=args.bits, group_size=args.group_size)
    t0 = time.perf_counter()
    if args.sensitivity and os.path.exists(args.sensitivity):
        sens = np.load(args.sensitivity)
        print(f"sensitivities loaded from {args.sensitivity}")
    else:
        sens = layer_sensitivity(space, split="search", n_sentences=args.calib, max_length=args.max_length)
        if args.sensitivity:
            np.save(args.sensitivity, sens)
    t_sens = time.perf_counter() - t0
    t0 = time.perf_counter()
    family = milp_family(space, sens, args.budgets)
    t_milp = time.perf_counter() - t0
    print(f"sensitivity: {sens.size} forward passes on {args.calib} search sentences in {t_sens:.1f} s; "
          f"MILP for {len(args.budgets)} budgets in {t_milp:.2f} s")

    held = EmbeddingFidelityEvaluator(enc, corpus_split(0)["heldout"], n_sentences=args.heldout,
                                      max_length=args.max_length, group_size=args.group_size)
    rows = []
    for label, cfgs in (("uniform", [space.uniform(b) for b in args.bits]), ("mixed (MILP)", family)):
        for cfg, res in zip(cfgs, held.evaluate(cfgs)):
            rows.append({"kind": label, "avg_bits": space.avg_bits(cfg), "size_bytes": space.size_bytes(cfg),
                         "cosine": res.metrics["cosine"], "nn_agreement": res.metrics["nn_agreement"],
                         "bits": cfg["bits"]})
    rows.sort(key=lambda r: (r["avg_bits"], r["kind"]))
    print(f"\nheld-out fidelity ({args.heldout} sentences, max_length {args.max_length}, group size {args.group_size})")
    print(f"{'kind':<13} {'avg bits':>8} {'size MB':>8} {'cosine':>8} {'NN agree':>8}")
    for r in rows:
        print(f"{r['kind']:<13} {r['avg_bits']:8.3f} {r['size_bytes'] / 1e6:8.2f} {r['cosine']:8.4f} "
              f"{r['nn_agreement']:8.4f}")
    verdict = {}
    for b in (3, 4):
        uni = next((r for r in rows if r["kind"] == "uniform" and abs(r["avg_bits"] - b) < 1e-9), None)
        mix = [r for r in rows if r["kind"] != "uniform" and r["avg_bits"] <= b + 1e-9]
        if uni and mix:
            best = max(mix, key=lambda r: r["cosine"])
            verdict[b] = {"uniform_cosine": uni["cosine"], "mixed_cosine": best["cosine"],
                          "mixed_avg_bits": best["avg_bits"], "uniform_nn": uni["nn_agreement"],
                          "mixed_nn": best["nn_agreement"]}
            print(f"at <= {b} bits/weight: mixed cosine {best['cosine']:.4f} (avg {best['avg_bits']:.3f} bits, "
                  f"NN {best['nn_agreement']:.3f}) vs uniform {uni['cosine']:.4f} (NN {uni['nn_agreement']:.3f}): "
                  f"{'mixed wins' if best['cosine'] > uni['cosine'] else 'uniform wins'}")

    search = {}
    if args.search:
        from paretoforge.search import Objective, Study
        from paretoforge.search.pareto import hypervolume

        ev = EmbeddingFidelityEvaluator(enc, corpus_split(0)["search"], n_sentences=48, max_length=48,
                                        group_size=args.group_size)
        objs = [Objective("avg_bits"), Objective("cosine_error")]
        for label, init in (("nsga2 unseeded", []), ("nsga2 + MILP seeds", family)):
            study = Study(label, space, ev, objs, optimizer="nsga2",
                          optimizer_settings={"population_size": 16, "initial": init}, seed=0)
            t0 = time.perf_counter()
            study.optimize(n_evaluations=args.search)
            F = np.array([[t.metrics["avg_bits"], t.metrics["cosine_error"]] for t in study.completed_trials()])
            hv = float(hypervolume(F, np.array([8.5, 1.0])))
            search[label] = {"hypervolume": hv, "seconds": time.perf_counter() - t0}
            print(f"{label}: {args.search} evaluations, hypervolume {hv:.4f} in {search[label]['seconds']:.0f} s")
            if init:  # the seeded search's best points at <= 3 and <= 4 bits, judged on held-out text
                for b in (3, 4):
                    cands = [t for t in study.completed_trials() if t.metrics["avg_bits"] <= b + 1e-9]
                    if not cands:
                        continue
                    best = min(cands, key=lambda t: t.metrics["cosine_error"])
                    m = held.evaluate([best.config])[0].metrics
                    uni = verdict.get(b, {})
                    search[f"best_at_{b}"] = {"avg_bits": best.metrics["avg_bits"], "heldout": m,
                                              "bits": best.config["bits"]}
                    print(f"  searched best at <= {b} bits (avg {best.metrics['avg_bits']:.3f}): held-out cosine "
                          f"{m['cosine']:.4f}, NN {m['nn_agreement']:.3f} "
                          f"(uniform {uni.get('uniform_cosine', float('nan')):.4f}, "
                          f"NN {uni.get('uniform_nn', float('nan')):.3f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "verdict": verdict, "search": search, "sensitivity_seconds": t_sens}, f, indent=1)


if __name__ == "__main__":
    main()
