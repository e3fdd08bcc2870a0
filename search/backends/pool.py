"""A local pool of worker processes, one per GPU where there are several."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import time
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
_INIT_ERROR: str | None = None  # why this worker could not build the evaluator (reported, not raised)


def _exit_with_parent() -> None:
    """A worker ends when the study's process dies (e.g. ``kill -9``), instead of living on as an
    orphan that holds its GPU's memory: Linux's parent-death signal, else a watching thread."""
    try:
        import ctypes
        import signal

        if ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM) == 0:  # PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        pass
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _init_worker(slots: mp.Queue, evaluator_blob: bytes) -> None:
    global _WORKER_NAME, _EVALUATOR, _INIT_ERROR
    _exit_with_parent()
    device = slots.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
    _WORKER_NAME = f"pool:{os.getpid()}" + (f":gpu{device}" if device is not None else "")
    try:
        _EVALUATOR = pickle.loads(evaluator_blob)
    except Exception as exc:  # noqa: BLE001 - e.g. a class the worker cannot import: reported by every task
        _INIT_ERROR = f"the pool's worker could not build the evaluator: {type(exc).__name__}: {exc}"


def _ready() -> str | None:
    """Run in a worker: why it cannot evaluate, or None."""
    return _INIT_ERROR


def _work(configs: list[Config], fidelity: float) -> list[EvalResult]:
    if _INIT_ERROR is not None or _EVALUATOR is None:
        return [EvalResult.failure(_INIT_ERROR or "the pool's worker has no evaluator", worker=_WORKER_NAME)
                for _ in configs]
    return evaluate_safely(_EVALUATOR, configs, fidelity, _WORKER_NAME)


_FRESH = ("The workers are fresh processes (spawned) that import the main module and rebuild the evaluator from its "
          "pickle: its class must be importable there (a module on the path, not a script read from standard input "
          "or a notebook cell)")


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
        elif isinstance(devices, str):  # "0,1" as CUDA_VISIBLE_DEVICES writes it
            try:
                devices = [int(d) for d in devices.split(",") if d.strip()]
            except ValueError:
                raise ValueError(f"ProcessPoolBackend: 'devices' is {devices!r}; give 'auto', a list of GPU indices "
                                 "such as [0, 1], or '0,1'") from None
        if devices is not None and (isinstance(devices, (bytes, bool)) or not isinstance(devices, Sequence) or any(
                isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in devices)):
            raise ValueError(f"ProcessPoolBackend: 'devices' is {devices!r}; give 'auto', a list of GPU indices such "
                             "as [0, 1], or '0,1'")
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
        # in flight: future -> (tickets, configurations, fidelity); suspects: configurations that were
        # in flight when a worker died, run again one at a time so that only the one that kills a
        # worker fails
        self._in_flight: dict[Future, tuple[list[int], list[Config], float]] = {}
        self._suspects: list[tuple[int, Config, float]] = []
        self._last_evaluator: Evaluator | None = None  # the evaluator of the suspects' evaluations
        self._next_ticket = 0

    @staticmethod
    def _pickled(evaluator: Evaluator) -> bytes:
        try:
            return pickle.dumps(evaluator)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise ValueError(f"the pool backend sends the evaluator to worker processes, so it must be picklable (a "
                             f"module-level class or function, not a lambda or a local function): {exc}") from None

    def check_evaluator(self, evaluator: Evaluator) -> None:
        """The evaluator pickles, and a worker (a fresh process) rebuilds it: the pool starts here,
        so that an evaluator the workers cannot import is an error before anything runs."""
        self._checked = (evaluator, self._pickled(evaluator))  # kept for the pool's start: pickled once
        pool = self._pool_for(evaluator)
        try:
            err = pool.submit(_ready).result()
        except BrokenProcessPool as exc:
            self._drop_pool(now=True)
            raise ValueError(f"the pool's worker processes died while starting ({exc}). {_FRESH}") from None
        if err:
            self.close()
            raise ValueError(f"{err}. {_FRESH}")

    def _pool_for(self, evaluator: Evaluator) -> ProcessPoolExecutor:
        if self._pool is not None and self._evaluator is evaluator and not getattr(self._pool, "_broken", False):
            return self._pool
        self._drop_pool(now=bool(self._pool is not None and getattr(self._pool, "_broken", False)))
        ctx = mp.get_context("spawn")
        slots = ctx.Queue()
        for i in range(self.workers):
            slots.put(self.devices[i] if self.devices is not None else None)
        checked, self._checked = self._checked, None
        blob = checked[1] if checked is not None and checked[0] is evaluator else self._pickled(evaluator)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(slots, blob))
        self._evaluator = self._last_evaluator = evaluator
        return self._pool

    def _alone(self, evaluator: Evaluator, config: Config, fidelity: float) -> EvalResult:
        """Evaluate one configuration alone in the pool (after a worker died): if the worker dies
        again, this configuration is the one that kills it, and it fails without another try."""
        try:
            return self._pool_for(evaluator).submit(_work, [config], fidelity).result()[0]
        except BrokenProcessPool as exc:
            self._drop_pool(now=True)
            return EvalResult.failure(f"worker failed: its process died while evaluating this configuration alone "
                                      f"(a crash, or out of memory: {exc}); it is not tried again", worker="pool")

    def run(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> Iterator[tuple[int, EvalResult]]:
        pool = self._pool_for(evaluator)
        configs = list(configs)
        size = self.chunk_size or max(1, -(-len(configs) // self.workers))
        futures: dict[Future, list[int]] = {}
        suspects: list[int] = []  # in flight when a worker died: the pool broke for all of them
        for start in range(0, len(configs), size):
            idx = list(range(start, min(start + size, len(configs))))
            try:
                futures[pool.submit(_work, [configs[i] for i in idx], fidelity)] = idx
            except BrokenProcessPool:  # a worker died before this chunk went out
                suspects.extend(idx)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                idx = futures[fut]
                try:
                    results = fut.result()
                except BrokenProcessPool:
                    suspects.extend(idx)
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be sent back
                    results = [EvalResult.failure(f"worker failed: {type(exc).__name__}: {exc}", worker="pool")
                               for _ in idx]
                yield from zip(idx, results)
        for i in sorted(suspects):  # one at a time on a fresh pool: only the culprit fails
            yield i, self._alone(evaluator, configs[i], fidelity)

    def submit(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> list[int]:
        pool = self._pool_for(evaluator)
        configs = list(configs)
        tickets = list(range(self._next_ticket, self._next_ticket + len(configs)))
        self._next_ticket += len(configs)
        size = self.chunk_size or 1
        for start in range(0, len(configs), size):
            chunk, cfgs = tickets[start:start + size], configs[start:start + size]
            try:
                self._in_flight[pool.submit(_work, cfgs, fidelity)] = (chunk, cfgs, fidelity)
            except BrokenProcessPool:  # a worker died between two calls: run these again later, alone
                self._suspects.extend((t, c, fidelity) for t, c in zip(chunk, cfgs))
        return tickets

    def wait(self) -> list[tuple[int, EvalResult]]:
        out: list[tuple[int, EvalResult]] = []
        if self._in_flight:
            done, _ = wait(set(self._in_flight), return_when=FIRST_COMPLETED)
            broke = False
            for fut in done:
                tickets, cfgs, fid = self._in_flight.pop(fut)
                try:
                    results = fut.result()
                except BrokenProcessPool:
                    broke = True
                    self._suspects.extend((t, c, fid) for t, c in zip(tickets, cfgs))
                    continue
                except Exception as exc:  # noqa: BLE001
                    results = [EvalResult.failure(f"worker failed: {type(exc).__name__}: {exc}", worker="pool")
                               for _ in tickets]
                out.extend(zip(tickets, results))
            if broke:  # the pool broke for every evaluation in flight: the finished ones count, the rest run again
                for fut, (tickets, cfgs, fid) in list(self._in_flight.items()):
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        out.extend(zip(tickets, fut.result()))
                    else:
                        self._suspects.extend((t, c, fid) for t, c in zip(tickets, cfgs))
                self._in_flight.clear()
                self._drop_pool(now=True)
        if not out and self._suspects and self._last_evaluator is not None:
            ticket, cfg, fid = self._suspects.pop(0)
            out.append((ticket, self._alone(self._last_evaluator, cfg, fid)))
        return out

    def _drop_pool(self, now: bool = False) -> None:
        """Shut the pool down: waiting for its running tasks, or (``now``: an interrupt, a broken
        pool) cancelling them and ending its processes."""
        pool, self._pool, self._evaluator = self._pool, None, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=not now, cancel_futures=True)
        if now:
            for proc in processes:
                if proc.is_alive():
                    proc.terminate()

    def close(self, now: bool = False) -> None:
        """Stop the workers: after their running evaluations, or at once with ``now``."""
        self._drop_pool(now=now)
