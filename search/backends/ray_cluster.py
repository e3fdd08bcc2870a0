"""Evaluations on the workers of a Ray cluster: one actor per GPU (or per CPU slot).

Each actor asks Ray for ``gpus_per_worker`` GPUs (Ray then sets its ``CUDA_VISIBLE_DEVICES``)
and ``cpus_per_worker`` CPUs, builds the evaluator once from the study's copy, and evaluates the
chunks it is handed through :func:`~.base.evaluate_safely`, so one bad configuration fails
alone. A batch is cut into chunks that idle actors take in turn, as in the local process pool;
an actor that dies (a crashed node, a killed process, out of memory) fails only the
configurations it held and is replaced by a fresh one before the next chunk.

``address`` is Ray's: ``None`` connects to the cluster this process already joined or starts a
local one, ``"auto"`` joins the cluster started on this machine with ``ray start``, and
``"ray://host:10001"`` joins a remote one through Ray Client. Ray is an optional dependency
(``pip install "paretoforge[ray]"``); it is imported when the backend is built.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from ...evaluators.base import EvalResult, Evaluator
from .base import Backend, Config, evaluate_safely

__all__ = ["RayBackend"]


class _Worker:
    """The body of one Ray actor: its own evaluator, built once."""

    def __init__(self, evaluator_blob: bytes) -> None:
        from ray import cloudpickle

        self._evaluator: Evaluator = cloudpickle.loads(evaluator_blob)
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        self._name = f"ray:{socket.gethostname()}:{os.getpid()}" + (f":gpu{gpus}" if gpus else "")

    def evaluate(self, configs: list[Config], fidelity: float) -> list[EvalResult]:
        return evaluate_safely(self._evaluator, configs, fidelity, self._name)

    def name(self) -> str:
        return self._name


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("the 'ray' backend needs Ray: pip install \"paretoforge[ray]\" (or pip install \"ray[tune]\")"
                          ) from None
    return ray


class RayBackend(Backend):
    """``workers`` Ray actors, each holding ``gpus_per_worker`` GPUs and ``cpus_per_worker``
    CPUs. By default one worker per GPU of the cluster, or, on a cluster without GPUs, one per
    ``cpus_per_worker`` CPUs. ``chunk_size`` as for the process pool: the default cuts a batch
    into one chunk per worker (the largest batches for batch-first evaluators); :meth:`submit`
    (the asynchronous loop) sends chunks of ``chunk_size`` (default 1). ``init`` holds extra
    keyword arguments for ``ray.init`` (e.g. ``{num_cpus: 4}`` for a local cluster, or a
    ``runtime_env``) when this backend is the one that connects. A Ray cluster this backend
    started is shut down by :meth:`close`; one it joined is left running. Workers that the
    cluster's resources cannot hold are refused up front (an actor Ray cannot place waits
    forever); resources that other jobs hold at the moment are not checked."""

    def __init__(self, workers: int | None = None, address: str | None = None, gpus_per_worker: float | None = None,
                 cpus_per_worker: float = 1.0, chunk_size: int | None = None,
                 init: dict[str, Any] | None = None) -> None:
        if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
            raise ValueError(f"RayBackend: 'workers' must be an integer >= 1, got {workers!r}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1):
            raise ValueError(f"RayBackend: 'chunk_size' must be an integer >= 1, got {chunk_size!r}")
        if gpus_per_worker is not None and not gpus_per_worker >= 0:
            raise ValueError(f"RayBackend: 'gpus_per_worker' must be >= 0, got {gpus_per_worker!r}")
        if not cpus_per_worker >= 0:
            raise ValueError(f"RayBackend: 'cpus_per_worker' must be >= 0, got {cpus_per_worker!r}")
        self._ray = _import_ray()
        self.address = address
        self.init = dict(init or {})
        self._started = False
        self._actors: list[Any] = []
        self._evaluator: Evaluator | None = None
        self._blob: bytes | None = None
        self._checked: tuple[Evaluator, bytes] | None = None
        self._in_flight: dict[Any, tuple[int, list[int]]] = {}  # future -> (actor slot, tickets)
        self._idle: list[int] = []
        self._queue: list[tuple[list[int], list[Config], float]] = []
        self._next_ticket = 0
        self._connect()
        try:
            self._size(workers, gpus_per_worker, cpus_per_worker)
        except ValueError:
            self.close()  # a cluster started only for this backend goes with it
            raise
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self._actor_cls = self._ray.remote(num_gpus=self.gpus_per_worker, num_cpus=self.cpus_per_worker,
                                           max_restarts=0)(_Worker)

    def _size(self, workers: int | None, gpus_per_worker: float | None, cpus_per_worker: float) -> None:
        """Workers and their resources from the cluster's: refused if the cluster cannot hold them."""
        resources = self._ray.cluster_resources()
        n_gpus, n_cpus = float(resources.get("GPU", 0.0)), float(resources.get("CPU", 1.0))
        if gpus_per_worker is None:
            gpus_per_worker = 1.0 if n_gpus >= 1 else 0.0
        self.gpus_per_worker = float(gpus_per_worker)
        self.cpus_per_worker = float(cpus_per_worker)
        if workers is None:
            if self.gpus_per_worker > 0:
                workers = int(n_gpus // self.gpus_per_worker)
            else:
                workers = int(n_cpus // self.cpus_per_worker) if self.cpus_per_worker > 0 else int(n_cpus)
            workers = max(1, workers)
        self.workers = int(workers)
        for what, per, total in (("GPU", self.gpus_per_worker, n_gpus), ("CPU", self.cpus_per_worker, n_cpus)):
            if self.workers * per > total + 1e-9:  # such actors would wait for resources forever
                raise ValueError(f"RayBackend: {self.workers} workers x {per:g} {what} need {self.workers * per:g} "
                                 f"{what}s, but the Ray cluster has {total:g}; ask for fewer 'workers' or less "
                                 f"'{what.lower()}s_per_worker', or add nodes")

    # -- actors ---------------------------------------------------------------------------
    def _connect(self) -> None:
        """Join (or start) the cluster unless this process is connected already."""
        if not self._ray.is_initialized():
            self._ray.init(address=self.address, **{"include_dashboard": False, **self.init})
            self._started = True

    def _pickled(self, evaluator: Evaluator) -> bytes:
        try:
            return self._ray.cloudpickle.dumps(evaluator)
        except Exception as exc:  # noqa: BLE001 - cloudpickle raises several kinds
            raise ValueError(f"the ray backend sends the evaluator to its actors, so Ray must be able to pickle it: "
                             f"{type(exc).__name__}: {exc}") from None

    def check_evaluator(self, evaluator: Evaluator) -> None:
        self._checked = (evaluator, self._pickled(evaluator))

    def _start(self, evaluator: Evaluator) -> None:
        if self._actors and self._evaluator is evaluator:
            return
        self._stop_actors()
        self._connect()  # again after close()
        checked, self._checked = self._checked, None
        self._blob = checked[1] if checked is not None and checked[0] is evaluator else self._pickled(evaluator)
        blob_ref = self._ray.put(self._blob)
        self._actors = [self._actor_cls.remote(blob_ref) for _ in range(self.workers)]
        self._idle = list(range(self.workers))
        self._evaluator = evaluator

    def _replace(self, slot: int) -> None:
        """A fresh actor in ``slot`` after its actor died."""
        try:
            self._ray.kill(self._actors[slot], no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self._actors[slot] = self._actor_cls.remote(self._ray.put(self._blob))

    def _dispatch(self) -> None:
        while self._idle and self._queue:
            slot = self._idle.pop(0)
            tickets, configs, fidelity = self._queue.pop(0)
            fut = self._actors[slot].evaluate.remote(configs, fidelity)
            self._in_flight[fut] = (slot, tickets)

    def _collect(self, timeout: float | None = None) -> list[tuple[int, EvalResult]]:
        """Results of the chunks done (at least one while any is in flight); idle actors take
        the next queued chunks."""
        if not self._in_flight:
            return []
        done, _ = self._ray.wait(list(self._in_flight), num_returns=1, timeout=timeout)
        out: list[tuple[int, EvalResult]] = []
        for fut in done:
            slot, tickets = self._in_flight.pop(fut)
            try:
                results = self._ray.get(fut)
            except Exception as exc:  # noqa: BLE001 - a dead actor (or node) fails its configurations
                results = [EvalResult.failure(f"worker failed: {type(exc).__name__}: {exc}") for _ in tickets]
                if isinstance(exc, self._ray.exceptions.RayActorError):
                    self._replace(slot)
            out.extend(zip(tickets, results))
            self._idle.append(slot)
        self._dispatch()
        return out

    # -- the backend interface ------------------------------------------------------------
    def run(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> Iterator[tuple[int, EvalResult]]:
        self._start(evaluator)
        configs = list(configs)
        size = self.chunk_size or max(1, -(-len(configs) // self.workers))
        base = self._next_ticket
        self._next_ticket += len(configs)
        for start in range(0, len(configs), size):
            idx = list(range(start, min(start + size, len(configs))))
            self._queue.append(([base + i for i in idx], [configs[i] for i in idx], fidelity))
        self._dispatch()
        left = len(configs)
        while left:
            for ticket, res in self._collect():
                if base <= ticket < base + len(configs):  # not a leftover of a batch given up earlier
                    yield ticket - base, res
                    left -= 1

    def submit(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> list[int]:
        self._start(evaluator)
        configs = list(configs)
        tickets = list(range(self._next_ticket, self._next_ticket + len(configs)))
        self._next_ticket += len(configs)
        size = self.chunk_size or 1
        for start in range(0, len(configs), size):
            self._queue.append((tickets[start:start + size], configs[start:start + size], fidelity))
        self._dispatch()
        return tickets

    def wait(self) -> list[tuple[int, EvalResult]]:
        return self._collect()

    def _stop_actors(self) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors, self._idle, self._in_flight, self._queue = [], [], {}, []
        self._evaluator = None

    def close(self) -> None:
        self._stop_actors()
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False
