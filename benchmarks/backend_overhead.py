"""What a backend costs per evaluation: the in-process loop, the local process pool and Ray actors,
side by side in one run, with the same random-search study (batch size = workers).

Two evaluators: ``noop`` (returns at once: the figure is the backend's own dispatch cost per
evaluation) and ``busy`` (``--busy-ms`` of pure-Python CPU work per configuration: what workers
on separate cores gain over the in-process loop). Each (backend, evaluator) is run ``--repeats``
times on a fresh study after a warm-up batch that starts the workers; printed: the median wall
time per evaluation and its ratio to the in-process loop.

    python benchmarks/backend_overhead.py --evaluations 200 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from paretoforge.evaluators import EvalResult, Evaluator
from paretoforge.search import Study
from paretoforge.search.backends import Backend, InProcessBackend, ProcessPoolBackend
from paretoforge.spaces import Real, Space


class Busy(Evaluator):
    """``ms`` milliseconds of CPU work per configuration (0: none)."""

    def __init__(self, ms: float = 0.0) -> None:
        self.ms = ms

    def evaluate(self, configs, fidelity=1.0):
        out = []
        for c in configs:
            end = time.perf_counter() + self.ms / 1000.0
            acc = 0.0
            while time.perf_counter() < end:
                acc += 1.0
            out.append(EvalResult({"f1": c["x"], "f2": (1.0 - c["x"]) ** 2}))
        return out


def make(kind: str, workers: int) -> Backend:
    if kind == "inprocess":
        return InProcessBackend()
    if kind == "pool":
        return ProcessPoolBackend(workers=workers)
    from paretoforge.search.backends import RayBackend

    return RayBackend(workers=workers, init={"num_cpus": workers, "log_to_driver": False})


def per_evaluation(kind: str, workers: int, ms: float, n: int) -> float:
    """Seconds per evaluation over ``n`` evaluations after a warm-up batch."""
    backend = make(kind, workers)
    batch = workers  # the same batches for every backend
    study = Study("overhead", Space([Real("x", 0.0, 1.0)]), Busy(ms), ["f1", "f2"], optimizer="random",
                  storage=None, backend=backend, seed=0, batch_size=batch)
    try:
        study.optimize(n_evaluations=batch)  # warm-up: workers start, the evaluator reaches them
        t0 = time.perf_counter()
        study.optimize(n_evaluations=batch + n)
        return (time.perf_counter() - t0) / n
    finally:
        study.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--evaluations", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--busy-ms", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--backends", nargs="+", default=["inprocess", "pool", "ray"])
    args = ap.parse_args()
    import os
    import platform

    print(f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.evaluations} evaluations, batch size {args.workers}, {args.workers} workers (pool, ray); "
          f"median of {args.repeats} runs")
    rows = {}
    for label, ms in (("noop", 0.0), (f"busy {args.busy_ms:g} ms", args.busy_ms)):
        for kind in args.backends:
            times = [per_evaluation(kind, args.workers, ms, args.evaluations) for _ in range(args.repeats)]
            rows[(label, kind)] = statistics.median(times)
        base = rows.get((label, "inprocess"))
        for kind in args.backends:
            t = rows[(label, kind)]
            ratio = f"{t / base:6.2f}x the in-process time" if base else ""
            print(f"{label:>12}  {kind:>9}: {t * 1000:8.3f} ms per evaluation  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
