"""One worker per GPU: a study whose evaluator runs on CUDA, dispatched by
``ProcessPoolBackend(devices="auto")`` (or, with ``--backend ray``, by ``RayBackend()``: one Ray
actor per GPU of a local Ray cluster). Prints which GPU served each evaluation and the
evaluations per second with 1 worker and with every GPU, side by side in one run.

    python benchmarks/gpu_pool.py --evaluations 64
    python benchmarks/gpu_pool.py --evaluations 64 --backend ray

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
    ap.add_argument("--backend", choices=["pool", "ray"], default="pool")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 0
    n_gpu = torch.cuda.device_count()
    print(f"{n_gpu} x {torch.cuda.get_device_name(0)}; torch {torch.__version__}; backend {args.backend}")
    kind = args.backend
    one, served1 = run(1, args.evaluations, kind=kind)
    many, served = run(None, args.evaluations, kind=kind)
    bal, served_b = run(None, args.evaluations, chunk_size=1, kind=kind)
    asy, served_a = run(None, args.evaluations, chunk_size=1, asynchronous=True, kind=kind)
    print("same seed; 4 configurations per worker per batch (asynchronous: 4 per worker in flight);"
          " median of 30 timed forwards per evaluation")
    print(f"1 worker:                     {one:8.2f} evaluations/s   served by CUDA_VISIBLE_DEVICES {dict(served1)}")
    print(f"{n_gpu} workers, 1 chunk/worker:   {many:8.2f} evaluations/s   served by {dict(served)}"
          f"   speed-up {many / one:.2f}x")
    print(f"{n_gpu} workers, chunk_size 1:     {bal:8.2f} evaluations/s   served by {dict(served_b)}"
          f"   speed-up {bal / one:.2f}x")
    print(f"{n_gpu} workers, asynchronous:     {asy:8.2f} evaluations/s   served by {dict(served_a)}"
          f"   speed-up {asy / one:.2f}x")
    return 0 if len(served) == n_gpu else 1


if __name__ == "__main__":
    sys.exit(main())
