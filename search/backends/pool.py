"""A local pool of worker processes, one per GPU where there are several."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ...evaluators.base import EvalResult, Evaluator
from .base import Backend, Config, evaluate_safely

__all__ = ["ProcessPoolBackend"]

# per worker process: its name and its own copy of the evaluator, built once after the worker
# has chosen its device, so that models load once per worker and onto the right GPU
_WORKER_NAME = "pool"
_EVALUATOR: Evaluator | None = None


def _init_worker(slots: mp.Queue, evaluator_blob: bytes) -> None:
    global _WORKER_NAME, _EVALUATOR
    device = slots.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
    _WORKER_NAME = f"pool:{os.getpid()}" + (f":gpu{device}" if device is not None else "")
    _EVALUATOR = pickle.loads(evaluator_blob)


def _work(configs: list[Config], fidelity: float) -> list[EvalResult]:
    assert _EVALUATOR is not None
    return evaluate_safely(_EVALUATOR, configs, fidelity, _WORKER_NAME)


class ProcessPoolBackend(Backend):
    """``workers`` spawned processes; with ``devices`` (e.g. ``[0, 1, 2]``) each one sees one GPU
    through ``CUDA_VISIBLE_DEVICES``. ``devices="auto"`` uses every visible GPU, or CPU workers
    when there is none. The evaluator is pickled once and rebuilt in each worker (again only if
    the study hands over a different evaluator). A batch is cut into chunks of ``chunk_size``
    configurations that idle workers take in turn; the default, one chunk per worker, gives
    batch-first evaluators the largest batches, while small chunks balance uneven costs.
    :meth:`submit` (the asynchronous loop) sends chunks of ``chunk_size`` (default 1)."""

    def __init__(self, workers: int | None = None, devices: Sequence[int] | str | None = None,
                 chunk_size: int | None = None) -> None:
        if devices == "auto":
            try:
                import torch

                n = torch.cuda.device_count()
            except Exception:  # noqa: BLE001 - no torch or no driver: CPU workers
                n = 0
            devices = list(range(n)) if n else None
        self.devices = list(devices) if devices is not None else None
        if workers is None:
            workers = len(self.devices) if self.devices else max(1, (os.cpu_count() or 2) // 2)
        if self.devices is not None and len(self.devices) < workers:
            raise ValueError(f"ProcessPoolBackend: {workers} workers but only devices {self.devices}")
        self.workers = int(workers)
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"ProcessPoolBackend: 'chunk_size' must be >= 1, got {chunk_size}")
        self.chunk_size = chunk_size
        self._pool: ProcessPoolExecutor | None = None
        self._evaluator: Evaluator | None = None
        self._checked: tuple[Evaluator, bytes] | None = None
        self._in_flight: dict[Future, list[int]] = {}
        self._next_ticket = 0

    @staticmethod
    def _pickled(evaluator: Evaluator) -> bytes:
        try:
            return pickle.dumps(evaluator)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise ValueError(f"the pool backend sends the evaluator to worker processes, so it must be picklable (a "
                             f"module-level class or function, not a lambda or a local function): {exc}") from None

    def check_evaluator(self, evaluator: Evaluator) -> None:
        self._checked = (evaluator, self._pickled(evaluator))  # kept for the pool's start: pickled once

    def _pool_for(self, evaluator: Evaluator) -> ProcessPoolExecutor:
        if self._pool is not None and self._evaluator is evaluator:
            return self._pool
        self.close()
        ctx = mp.get_context("spawn")
        slots = ctx.Queue()
        for i in range(self.workers):
            slots.put(self.devices[i] if self.devices is not None else None)
        checked, self._checked = self._checked, None
        blob = checked[1] if checked is not None and checked[0] is evaluator else self._pickled(evaluator)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(slots, blob))
        self._evaluator = evaluator
        return self._pool

    def run(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> Iterator[tuple[int, EvalResult]]:
        pool = self._pool_for(evaluator)
        configs = list(configs)
        size = self.chunk_size or max(1, -(-len(configs) // self.workers))
        futures: dict[Future, list[int]] = {}
        for start in range(0, len(configs), size):
            idx = list(range(start, min(start + size, len(configs))))
            futures[pool.submit(_work, [configs[i] for i in idx], fidelity)] = idx
        pending = set(futures)
        broken = False
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                idx = futures[fut]
                try:
                    results = fut.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its configurations
                    broken = broken or isinstance(exc, BrokenProcessPool)
                    results = [EvalResult.failure(f"worker failed: {type(exc).__name__}: {exc}") for _ in idx]
                yield from zip(idx, results)
        if broken:  # a worker died (crash, out of memory): start a fresh pool next time
            self.close()

    def submit(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> list[int]:
        pool = self._pool_for(evaluator)
        configs = list(configs)
        tickets = list(range(self._next_ticket, self._next_ticket + len(configs)))
        self._next_ticket += len(configs)
        size = self.chunk_size or 1
        for start in range(0, len(configs), size):
            chunk = tickets[start:start + size]
            self._in_flight[pool.submit(_work, configs[start:start + size], fidelity)] = chunk
        return tickets

    def wait(self) -> list[tuple[int, EvalResult]]:
        if not self._in_flight:
            return []
        done, _ = wait(set(self._in_flight), return_when=FIRST_COMPLETED)
        out: list[tuple[int, EvalResult]] = []
        broken = False
        for fut in done:
            tickets = self._in_flight.pop(fut)
            try:
                results = fut.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker fails its configurations
                broken = broken or isinstance(exc, BrokenProcessPool)
                results = [EvalResult.failure(f"worker failed: {type(exc).__name__}: {exc}") for _ in tickets]
            out.extend(zip(tickets, results))
        if broken:
            for tickets in self._in_flight.values():  # the pool is gone: so are these
                out.extend((t, EvalResult.failure("worker failed: the process pool broke")) for t in tickets)
            self._in_flight.clear()
            self.close()
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._evaluator = None, None
