"""Layer selection on all-MiniLM-L6-v2: the exact front, optimizers against it, ShortGPT.

1. Every subset of the 6 blocks (64, with the empty one) is evaluated on ``--sentences``
   sentences of the corpus's *search* split (embedding fidelity: 1 - mean cosine to the full
   model); the exact front of (kept blocks, cosine error) follows.
2. Optimizers (``random``, ``nsga2``, ``optuna``, ``guided``) search the same space with ``--budget``
   evaluations for ``--seeds`` seeds; their evaluations are answered from the table of step 1 (the
   same real measurements), and the hypervolume of their front is divided by the exact front's
   (reference point (6.5, 1.0)).
3. ShortGPT's baseline (keep the k blocks of highest Block Influence, computed on the search
   sentences) against the best searched subset of each depth, both scored on ``--heldout``
   sentences of the *held-out* split.

    python benchmarks/lm_layers.py                        # about 3-4 min on 2 busy CPU cores
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optimizer_labels import six_optimizers  # noqa: E402

#: label -> (optimizer registry name, settings); "optuna" (the label of earlier results) is TPE
OPTIMIZERS = {("optuna" if k == "optuna-tpe" else k): v for k, v in six_optimizers(8).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=64)
    ap.add_argument("--heldout", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--optimizers", nargs="+", choices=list(OPTIMIZERS), default=list(OPTIMIZERS))
    ap.add_argument("--out")
    args = ap.parse_args()

    from paretoforge.evaluators.base import FunctionEvaluator
    from paretoforge.evaluators.lm import EmbeddingFidelityEvaluator
    from paretoforge.search import Objective, Study
    from paretoforge.search.pareto import hypervolume, non_dominated
    from paretoforge.spaces.layers import LayerSelectionSpace, block_influence, shortgpt_keep
    from paretoforge.zoo import corpus_split, get_model

    print(f"# {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, torch {torch.__version__}")
    enc = get_model("minilm")
    space = LayerSelectionSpace(enc, k_min=0)
    parts = corpus_split(0)
    ev = EmbeddingFidelityEvaluator(enc, parts["search"], n_sentences=args.sentences, max_length=args.max_length)
    configs = list(space.enumerate())
    t0 = time.perf_counter()
    res = ev.evaluate(configs)
    t_enum = time.perf_counter() - t0
    failed = [(c, r.error) for c, r in zip(configs, res) if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} evaluations failed, first: {failed[0]}")
    table = {tuple(c["layers"]): r.metrics for c, r in zip(configs, res)}
    F = np.array([[len(k), m["cosine_error"]] for k, m in table.items()])
    ref = np.array([6.5, 1.0])
    hv_exact = hypervolume(F, ref)
    front = sorted((k for k, keep in zip(table, non_dominated(F)) if keep), key=len)
    print(f"enumerated {len(configs)} subsets on {args.sentences} search sentences in {t_enum:.0f} s; "
          f"exact front ({len(front)} points), hypervolume {hv_exact:.4f}:")
    for k in front:
        print(f"  keep {list(k)}: cosine error {table[k]['cosine_error']:.4f}, NN agreement {table[k]['nn_agreement']:.3f}")

    lookup = FunctionEvaluator(lambda c: table[tuple(c["layers"])])
    objs = [Objective("n_layers"), Objective("cosine_error")]
    ratios: dict[str, list[float]] = {}
    for opt in args.optimizers:
        for seed in range(args.seeds):
            name, settings = OPTIMIZERS[opt]
            study = Study(f"{opt}-{seed}", space, lookup, objs, optimizer=name, optimizer_settings=dict(settings),
                          seed=seed)
            study.optimize(n_evaluations=args.budget)
            Fs = np.array([[t.metrics["n_layers"], t.metrics["cosine_error"]] for t in study.completed_trials()])
            ratios.setdefault(opt, []).append(hypervolume(Fs, ref) / hv_exact)
    print(f"\nhypervolume / exact after {args.budget} of {len(configs)} evaluations ({args.seeds} seeds):")
    for opt, r in ratios.items():
        print(f"  {opt:<11} mean {statistics.mean(r):.4f}  min {min(r):.4f}  max {max(r):.4f}")

    sents = list(parts["search"][: args.sentences])
    influence = block_influence(enc, enc.tokenize(sents, args.max_length))
    held = EmbeddingFidelityEvaluator(enc, parts["heldout"], n_sentences=args.heldout, max_length=args.max_length)
    print(f"\nShortGPT Block Influence per block: {[round(x, 4) for x in influence]}")
    print(f"held-out ({args.heldout} sentences) cosine error, best searched subset vs ShortGPT, per depth:")
    rows = []
    for k in range(1, space.n_blocks):
        best = min((kk for kk in table if len(kk) == k), key=lambda kk: table[kk]["cosine_error"])
        base = tuple(shortgpt_keep(influence, k))
        rb, rs = held.evaluate([{"layers": list(best)}, {"layers": list(base)}])
        rows.append({"k": k, "searched": list(best), "searched_heldout": rb.metrics["cosine_error"],
                     "shortgpt": list(base), "shortgpt_heldout": rs.metrics["cosine_error"],
                     "searched_nn": rb.metrics["nn_agreement"], "shortgpt_nn": rs.metrics["nn_agreement"]})
        r = rows[-1]
        print(f"  k={k}: searched {r['searched']} {r['searched_heldout']:.4f} (NN {r['searched_nn']:.3f}) | "
              f"ShortGPT {r['shortgpt']} {r['shortgpt_heldout']:.4f} (NN {r['shortgpt_nn']:.3f}) | "
              f"{'searched >= baseline' if r['searched_heldout'] <= r['shortgpt_heldout'] + 1e-12 else 'BASELINE BETTER'}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"hv_exact": hv_exact, "ratios": ratios, "depths": rows, "influence": influence,
                       "enumeration_seconds": t_enum}, f, indent=1)


if __name__ == "__main__":
    main()
