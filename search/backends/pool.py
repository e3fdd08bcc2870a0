"""A local pool of worker processes, one per GPU where there are several."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from ...evaluators.base import EvalResult, Evaluator
from .base import Backend, Config, evaluate_safely

__all__ = ["ProcessPoolBackend"]

_WORKER_NAME = "pool"


def _init_worker(slots: Any) -> None:
    global _WORKER_NAME
    device = slots.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
    _WORKER_NAME = f"pool:{os.getpid()}" + (f":gpu{device}" if device is not None else "")


def _work(evaluator: Evaluator, configs: list[Config], fidelity: float) -> list[EvalResult]:
    return evaluate_safely(evaluator, configs, fidelity, _WORKER_NAME)


class ProcessPoolBackend(Backend):
    """``workers`` processes (spawned, so CUDA is safe); with ``devices`` (e.g. ``[0, 1, 2]``)
    each process sees one GPU through ``CUDA_VISIBLE_DEVICES``. ``devices="auto"`` uses every
    visible GPU, or CPU workers when there is none. The batch is split evenly over the workers;
    the evaluator is pickled to them."""

    def __init__(self, workers: int | None = None, devices: Sequence[int] | str | None = None) -> None:
        if devices == "auto":
            try:
                import torch

                n = torch.cuda.device_count()
            except Exception:  # noqa: BLE001
                n = 0
            devices = list(range(n)) if n else None
        devs = list(devices) if devices is not None else None
        if workers is None:
            workers = len(devs) if devs else max(1, (os.cpu_count() or 2) // 2)
        if devs is not None and len(devs) < workers:
            raise ValueError(f"ProcessPoolBackend: {workers} workers but only devices {devs}")
        self.workers = int(workers)
        ctx = mp.get_context("spawn")
        slots = ctx.Queue()
        for i in range(self.workers):
            slots.put(devs[i] if devs is not None else None)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(slots,))

    def run(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> Iterator[tuple[int, EvalResult]]:
        configs = list(configs)
        chunks: list[list[int]] = [list(range(i, len(configs), self.workers)) for i in range(self.workers)]
        futures: dict[Future, list[int]] = {}
        for idx in chunks:
            if idx:
                futures[self._pool.submit(_work, evaluator, [configs[i] for i in idx], fidelity)] = idx
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                idx = futures[fut]
                try:
                    results = fut.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its configurations
                    results = [EvalResult.failure(f"worker failed: {type(exc).__name__}: {exc}") for _ in idx]
                yield from zip(idx, results)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
