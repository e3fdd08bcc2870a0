"""One worker per GPU: a study whose evaluator runs on CUDA, dispatched by
``ProcessPoolBackend(devices="auto")`` (or, with ``--backend ray``, by ``RayBackend()``: one Ray
actor per GPU of a local Ray cluster). Prints which GPU served each evaluation and the
evaluations per second with 1 worker and with every GPU, side by side in one run.

    python benchmarks/gpu_pool.py --evaluations 64
    python benchmarks/gpu_pool.py --evaluations 64 --backend ray
    python benchmarks/gpu_pool.py --evaluations 32 --backend pool ray   # side by side

Needs CUDA (skips with a message otherwise). The evaluator is real GPU work: it builds a random
MLP of the configured width and depth on its device and times a forward pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter

from paretoforge.evaluators import EvalResult, Evaluator
from paretoforge.search import Objective, Study
from paretoforge.search.backends import Backend, ProcessPoolBackend
from paretoforge.spaces import Integer, Ordinal, Space


class MLPLatency(Evaluator):
    """Builds an MLP (``depth`` layers of ``width``) on this worker's GPU and measures the
    median forward latency with CUDA events; error = a proxy falling with capacity."""

    def __init__(self, batch: int = 16384, repeats: int = 30) -> None:
        self.batch, self.repeats = batch, repeats

    def evaluate(self, configs, fidelity=1.0):
        import os

        import torch

        out = []
        dev = torch.device("cuda")
        for c in configs:
            g = torch.Generator(device=dev).manual_seed(0)
            layers = [torch.randn(c["width"], c["width"], device=dev, generator=g) / c["width"] ** 0.5
                      for _ in range(c["depth"])]
            x = torch.randn(self.batch, c["width"], device=dev, generator=g)
            for _ in range(3):  # warm-up
                y = x
                for w in layers:
                    y = torch.relu(y @ w)
            times = []
            for _ in range(self.repeats):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                y = x
                for w in layers:
                    y = torch.relu(y @ w)
                e.record()
                torch.cuda.synchronize()
                times.append(s.elapsed_time(e))
            out.append(EvalResult({"latency_ms": statistics.median(times), "error": 1.0 / (c["width"] * c["depth"])},
                                  info={"gpu": torch.cuda.get_device_name(0),
                                        "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
                                        "pid": os.getpid()}))
        return out


def make_backend(kind: str, workers: int | None, chunk_size: int | None) -> Backend:
    """``workers`` GPUs (None: all) through the process pool or Ray actors."""
    if kind == "ray":
        from paretoforge.search.backends import RayBackend

        return RayBackend(workers=workers, gpus_per_worker=1, chunk_size=chunk_size, init={"log_to_driver": False})
    devices = "auto" if workers is None else list(range(workers))
    return ProcessPoolBackend(workers=workers, devices=devices, chunk_size=chunk_size)


def run(workers: int | None, n: int, chunk_size: int | None = None, asynchronous: bool = False,
        kind: str = "pool") -> tuple[float, Counter]:
    space = Space([Ordinal("width", [256, 512, 1024, 2048, 4096]), Integer("depth", 1, 16)])
    backend = make_backend(kind, workers, chunk_size)
    study = Study("gpu-pool", space, MLPLatency(), [Objective("error"), Objective("latency_ms")], optimizer="random",
                  storage=None, backend=backend, seed=0, batch_size=backend.workers * 4)
    study.optimize(n_evaluations=backend.workers * 4)  # warm-up: start workers, CUDA contexts
    t0 = time.perf_counter()
    study.optimize(n_evaluations=backend.workers * 4 + n, asynchronous=asynchronous)
    dt = time.perf_counter() - t0
    served = Counter(t.info.get("cuda_visible") for t in study.trials)
    study.close()
    return n / dt, served


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--evaluations", type=int, default=64)
    ap.add_argument("--backend", nargs="+", choices=["pool", "ray"], default=["pool"],
                    help="one or both, run one after the other in this process (side by side)")
    ap.add_argument("--one-worker", action="store_true", help="only the 1-worker row (one GPU: all rows are the same)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each row; the medians are printed")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 0
    n_gpu = torch.cuda.device_count()
    print(f"{n_gpu} x {torch.cuda.get_device_name(0)}; torch {torch.__version__}; backends {args.backend}")
    print("same seed; 4 configurations per worker per batch (asynchronous: 4 per worker in flight);"
          " median of 30 timed forwards per evaluation")
    rows = [("1 worker", dict(workers=1))]
    if not args.one_worker:
        rows += [(f"{n_gpu} workers, 1 chunk/worker", dict(workers=None)),
                 (f"{n_gpu} workers, chunk_size 1", dict(workers=None, chunk_size=1)),
                 (f"{n_gpu} workers, asynchronous", dict(workers=None, chunk_size=1, asynchronous=True))]
    rates: dict[tuple[str, str], float] = {}
    samples: dict[tuple[str, str], list[float]] = {}
    ok = True
    for _ in range(args.repeats):  # the backends take turns, so that a drift of the machine hits both
        for kind in args.backend:
            for label, kw in rows:
                kw = dict(kw)
                rate, served = run(kw.pop("workers"), args.evaluations, kind=kind, **kw)
                samples.setdefault((kind, label), []).append(rate)
                ok = ok and (label == rows[0][0] or len(served) == n_gpu)
                print(f"  {kind:>4}  {label:<30} {rate:8.2f} evaluations/s   served by CUDA_VISIBLE_DEVICES "
                      f"{dict(served)}", flush=True)
    print(f"median of {args.repeats} run(s):")
    for kind in args.backend:
        for label, _ in rows:
            rates[(kind, label)] = statistics.median(samples[(kind, label)])
            speed = rates[(kind, label)] / rates[(kind, rows[0][0])]
            print(f"{kind:>4}  {label:<30} {rates[(kind, label)]:8.2f} evaluations/s   speed-up {speed:.2f}x")
    if len(args.backend) == 2:
        for label, _ in rows:
            a, b = (rates[(k, label)] for k in args.backend)
            print(f"{args.backend[1]} / {args.backend[0]}, {label}: {b / a:.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
