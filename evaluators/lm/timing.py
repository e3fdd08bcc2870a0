"""Latency and peak memory of a model call: warm-up, then the median of timed repeats.

On CUDA the time comes from CUDA events and the peak from ``torch.cuda.max_memory_allocated``;
on the CPU from ``time.perf_counter`` (peak memory is not measurable per call on the CPU and is
reported only on CUDA).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["measure_latency", "peak_memory_bytes"]


def measure_latency(fn: Callable[[], Any], device: torch.device | str = "cpu", warmup: int = 2,
                    repeats: int = 5) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    times = []
    if device.type == "cuda":
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end) / 1000.0)
    else:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


def peak_memory_bytes(fn: Callable[[], Any], device: torch.device | str) -> float | None:
    """Peak device memory allocated while ``fn()`` runs (CUDA only; ``None`` elsewhere)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return float(torch.cuda.max_memory_allocated(device))
