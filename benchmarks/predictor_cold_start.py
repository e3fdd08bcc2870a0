"""Predictor cold start on NAS-Bench-201 (CIFAR-10): how well each predictor ranks unseen cells'
error after 10, 20 and 50 real evaluations, with and without the zero-cost proxies.

Predictors: DELE's dynamic ensemble with one expert per proxy (synflow, naswot) pretrained on
``--pretrain`` cells' proxy values (no evaluation), then fine-tuned with its gate on the real
scores; the same ensemble without pretraining; the GP; the GP with log-synflow as an extra input.
Metric: Kendall's tau between the predicted and the true ``log(error)`` of ``--test`` held-out
cells, mean over seeds. Each seed draws its own random training and test cells.

    python benchmarks/predictor_cold_start.py --seeds 5
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import machine_info  # noqa: E402

LABELS = ("dele + proxies", "dele", "gp", "gp + synflow")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--train", nargs="+", type=int, default=[10, 20, 50])
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--pretrain", type=int, default=3000, help="cells whose proxy values pretrain the experts")
    args = ap.parse_args(argv)

    import torch

    from paretoforge.predictors.base import kendall_tau
    from paretoforge.predictors.dele import DynamicEnsemble
    from paretoforge.predictors.gp import GaussianProcess
    from paretoforge.search.problems import get_problem
    from paretoforge.search.problems.nasbench201_proxies import proxy_features

    torch.set_num_threads(1)
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    print(f"# predictor cold start, NAS-Bench-201 cifar10, {date} UTC")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine_info().items()), flush=True)
    problem = get_problem("nasbench201", dataset="cifar10")
    cfgs = list(problem.space.enumerate())
    X = problem.space.encode_many(cfgs)
    err = problem.table("cifar10")[:, 0]
    ok = np.flatnonzero(np.isfinite(err))
    y = np.log(np.where(np.isfinite(err), err, 1.0))
    Z = proxy_features(cfgs)  # standardised log-synflow, naswot: higher is better
    Xf = np.hstack([X, Z[:, :1]])
    t0 = time.perf_counter()
    rows: dict[int, list[tuple[float, ...]]] = {}
    for s in range(args.seeds):
        rng = np.random.default_rng(s)
        pre = rng.choice(len(cfgs), args.pretrain, replace=False)
        for n in args.train:
            tr = rng.choice(ok, n, replace=False)
            te = rng.choice(np.setdiff1d(ok, tr), args.test, replace=False)
            taus = []
            dele = DynamicEnsemble(seed=s).pretrain([(X[pre], -Z[pre, k]) for k in range(Z.shape[1])])
            taus.append(kendall_tau(dele.fit(X[tr], y[tr]).predict(X[te])[0], y[te]))
            taus.append(kendall_tau(DynamicEnsemble(seed=s).fit(X[tr], y[tr]).predict(X[te])[0], y[te]))
            for data in (X, Xf):
                gp = GaussianProcess(seed=s)
                gp.bind(problem.space)
                taus.append(kendall_tau(gp.fit(data[tr], y[tr]).predict(data[te])[0], y[te]))
            rows.setdefault(n, []).append(tuple(taus))
    print(f"\nKendall's tau of log(error) on {args.test} held-out cells, mean ± sd over {args.seeds} seeds "
          f"({time.perf_counter() - t0:.0f} s)\n")
    print("| real evaluations | " + " | ".join(LABELS) + " |")
    print("|---:|" + "---:|" * len(LABELS))
    for n in args.train:
        v = np.array(rows[n])
        print(f"| {n} | " + " | ".join(f"{m:.3f} ± {d:.3f}" for m, d in zip(v.mean(0), v.std(0))) + " |")
    print("\nthe proxies alone (no real evaluation): synflow "
          f"{kendall_tau(-Z[ok, 0], y[ok]):.3f}, naswot {kendall_tau(-Z[ok, 1], y[ok]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
