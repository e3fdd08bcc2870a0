"""Six optimizers side by side on the bit-width allocation of all-MiniLM-L6-v2 (a real
compression space: 36 linear layers, 2 / 3 / 4 / 8 bits each, per-group min-max quantization).

Objectives: average bits per weight and cosine error (1 - mean cosine to full precision) on 48
sentences of the corpus's search split. Every configuration sent counts; none starts from the
MILP family (``lm_bitwidth.py`` measures that seeding). Score: hypervolume at the reference point
(8.5, 1.0), divided by that of the union of every evaluation of the run (all optimizers and seeds:
the best front this run knows of). Each configuration is evaluated once per process and answered
from a cache afterwards (the evaluator is deterministic), which changes no number.

    python benchmarks/lm_bitwidth_optimizers.py --seeds 5 --evals 48 --out bits.json   # about 15 min on 2 cores
    python benchmarks/lm_bitwidth_optimizers.py --seeds 1 --evals 12                   # quick look
    python benchmarks/lm_bitwidth_optimizers.py --milp --optimizers nsga2-milp guided-milp  # MILP-seeded
    python benchmarks/lm_bitwidth_optimizers.py --merge a.json b.json --rename guided=guided-uncentred \
        --paired guided-centred guided-uncentred                                       # one table of several runs

``--merge`` reads the runs of several output files (a label and seed found twice must hold the
same results), normalises every run by the union of all their evaluations, and prints one table;
``--rename OLD=NEW`` relabels runs (e.g. ``guided`` runs recorded before its defaults changed),
``--rename K:OLD=NEW`` only those of the K-th file (from 1);
``--paired A B`` adds the mean difference A - B over their common seeds, with its standard error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optimizer_labels import six_optimizers  # noqa: E402
from predictor_experts import CachedEvaluator, paired_by_seed, summarise  # noqa: E402
from quality import machine_info  # noqa: E402

#: label -> (optimizer registry name, settings); on request also "guided-centred": half the
#: pool's random rows centred, "guided-tr": the pool in a trust region, "guided-tr-centred": both,
#: "guided-uncentred": guided before its centring defaults (no centred rows, a random initial
#: design) and "guided-random-start": today's defaults with a random initial design. On this space
#: guided's defaults centre both; runs of "guided" or "guided-centred" stored before 2026-12-04
#: had a random initial design (and "guided" no centred rows).
OPTIMIZERS = six_optimizers(16)
OPTIMIZERS["nsga2"][1]["initial"] = []  # no MILP seeds
OPTIMIZERS["guided-centred"] = ("guided", {"centred_rows": 0.5})
OPTIMIZERS["guided-uncentred"] = ("guided", {"centred_rows": 0.0, "initial_design": "random"})
OPTIMIZERS["guided-random-start"] = ("guided", {"initial_design": "random"})
OPTIMIZERS["guided-tr"] = ("guided", {"trust_region": 0.8})
OPTIMIZERS["guided-tr-centred"] = ("guided", {"trust_region": 0.8, "centred_rows": 0.5})
#: with ``--milp``: the MILP family of the quickstart's space first (``initial: space``)
OPTIMIZERS["nsga2-milp"] = ("nsga2", {"population_size": 16, "initial": "space"})
OPTIMIZERS["guided-milp"] = ("guided", {"initial": "space"})
REF = np.array([8.5, 1.0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--evals", type=int, default=48, help="evaluations per run")
    ap.add_argument("--budgets", type=int, nargs="+", default=[12, 24, 48])
    ap.add_argument("--optimizers", nargs="+", choices=list(OPTIMIZERS),
                    default=[o for o in OPTIMIZERS if not o.startswith("guided-") and not o.endswith("-milp")])
    ap.add_argument("--out", default=None)
    ap.add_argument("--milp", action="store_true",
                    help="the quickstart's space, with the MILP-optimal family for the -milp labels")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON", help="one table of these output files")
    ap.add_argument("--rename", nargs="*", default=[], metavar="[K:]OLD=NEW",
                    help="with --merge: relabel runs (of the K-th file only, from 1)")
    ap.add_argument("--paired", nargs=2, default=None, metavar=("A", "B"), help="with --merge: A - B by seed")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.rename, args.budgets, args.paired)
    from paretoforge.evaluators.lm import EmbeddingFidelityEvaluator
    from paretoforge.search import Objective, Study
    from paretoforge.search.optimizers import create_optimizer
    from paretoforge.search.pareto import hypervolume
    from paretoforge.search.trial import TrialState
    from paretoforge.spaces.quantization import BitWidthSpace
    from paretoforge.zoo import corpus_split, get_model

    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    info = machine_info()
    print(f"# six optimizers on MiniLM bit-widths, {date} UTC; " + ", ".join(f"{k}={v}" for k, v in info.items())
          + f"; load average {os.getloadavg()}", flush=True)
    enc = get_model("minilm")
    if args.milp:  # the quickstart's space: MixDQ sensitivities and the MILP-optimal family
        from paretoforge.spaces.quantization.bitwidth import bitwidth_space

        t1 = time.perf_counter()
        space = bitwidth_space("minilm", bits=[2, 3, 4, 8], group_size=64, seed_milp=True)
        print(f"MILP family: {len(space.initial_configs)} allocations ({time.perf_counter() - t1:.0f} s)", flush=True)
    else:
        space = BitWidthSpace(enc, bits=[2, 3, 4, 8], group_size=64)
    if any(o.endswith("-milp") for o in args.optimizers) and not args.milp:
        raise SystemExit("the -milp labels need --milp (a space with the MILP family)")
    inner = EmbeddingFidelityEvaluator(enc, corpus_split(0)["search"], n_sentences=48, max_length=48, group_size=64)
    ev = CachedEvaluator(inner, space)
    objs = [Objective("avg_bits"), Objective("cosine_error")]
    budgets = sorted(b for b in set(args.budgets) if b <= args.evals)
    runs = []
    t0 = time.perf_counter()
    for o in args.optimizers:
        name, settings = OPTIMIZERS[o]
        for s in range(args.first_seed, args.first_seed + args.seeds):
            opt = create_optimizer(name, space, objs, seed=s, **settings)
            t1 = time.perf_counter()
            study = Study(f"bits-{o}-{s}", space, ev, objs, optimizer=opt, storage=None, seed=s, batch_size=1)
            study.optimize(n_evaluations=args.evals)
            trials = sorted(study.trials, key=lambda t: t.number)[: args.evals]
            F = np.array([[t.metrics["avg_bits"], t.metrics["cosine_error"]] if t.state == TrialState.COMPLETE
                          else [np.inf, np.inf] for t in trials])
            runs.append({"optimizer": o, "seed": s, "F": F.tolist(), "seconds": time.perf_counter() - t1})
            study.close()
            print(f"  {o} seed {s}: {len(F)} sent, {runs[-1]['seconds']:.1f} s; real evaluations so far {ev.real} "
                  f"({ev.seconds:.0f} s)", flush=True)
    allF = np.vstack([np.asarray(r["F"]) for r in runs])
    best = hypervolume(allF[np.all(np.isfinite(allF), axis=1)], REF)
    summary, table = summarise(runs, args.optimizers, budgets, REF, best, fill_to=args.evals)
    print(f"\n{table}\n\nbest hypervolume (union of all runs): {best:.4f}; {ev.real} distinct configurations "
          f"evaluated ({ev.seconds:.0f} s); total {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"date": date, "machine": info, "argv": sys.argv[1:], "ref": REF.tolist(), "best_hv": best,
                       "summary": summary, "table": table, "runs": runs}, fh)
    return 0


def merge(paths: list[str], renames: list[str], budgets: list[int], paired: list[str] | None) -> int:
    """One table of the runs of several output files, normalised by the union of all their
    evaluations; ``renames``: ``OLD=NEW`` for every file, ``K:OLD=NEW`` for the K-th (from 1);
    with ``paired``, the mean difference of two labels by seed."""
    from paretoforge.search.pareto import hypervolume

    per_file: list[dict[str, str]] = [{} for _ in paths]
    for spec in renames:
        scope, _, pair = spec.rpartition(":")
        old, sep, new = pair.partition("=")
        if not sep or (scope and not (scope.isdigit() and 1 <= int(scope) <= len(paths))):
            raise SystemExit(f"--rename {spec!r}: give OLD=NEW, or K:OLD=NEW with K from 1 to {len(paths)}")
        for k in ([int(scope) - 1] if scope else range(len(paths))):
            per_file[k][old] = new
    runs: dict[tuple[str, int], dict] = {}
    for path, rename in zip(paths, per_file):
        with open(path) as fh:
            for r in json.load(fh)["runs"]:
                r = dict(r, optimizer=rename.get(r["optimizer"], r["optimizer"]))
                key = (r["optimizer"], int(r["seed"]))
                if key in runs and runs[key]["F"] != r["F"]:
                    raise ValueError(f"{path}: {key[0]} seed {key[1]} differs from the same run in an earlier file")
                runs[key] = r
    allF = np.vstack([np.asarray(r["F"], dtype=float) for r in runs.values()])
    best = hypervolume(allF[np.all(np.isfinite(allF), axis=1)], REF)
    labels = list(dict.fromkeys(k[0] for k in runs))
    seeds = {o: sorted(s for lab, s in runs if lab == o) for o in labels}
    summary, table = summarise(list(runs.values()), labels, budgets, REF, best, fill_to=max(budgets))
    print(table + "\n\nseeds: " + "; ".join(f"{o} {s[0]}..{s[-1]} ({len(s)})" for o, s in seeds.items())
          + f"\nbest hypervolume (union of the files' runs): {best:.4f}")
    if paired:
        a, b = paired
        if a not in seeds or b not in seeds:
            raise SystemExit(f"--paired {a} {b}: the files' labels are {labels}")
        common, cells = paired_by_seed(*({s: runs[(o, s)]["hv"] for s in seeds[o]} for o in (a, b)), budgets)
        print(f"{a} - {b}, seeds {common[0]}..{common[-1]} ({len(common)}): {cells} (mean ± standard error)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
