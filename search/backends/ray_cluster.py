"""Evaluations on the workers of a Ray cluster: one actor per GPU (or per CPU slot).

Each actor asks Ray for ``gpus_per_worker`` GPUs (Ray then sets its ``CUDA_VISIBLE_DEVICES``)
and ``cpus_per_worker`` CPUs, builds the evaluator once from the study's copy, and evaluates the
chunks it is handed through :func:`~.base.evaluate_safely`, so one bad configuration fails
alone. A batch is cut into chunks that idle actors take in turn, as in the local process pool;
an actor that dies (a crashed node, a killed process, out of memory) fails only the
configurations it held and is replaced by a fresh one before the next chunk.

``address`` is Ray's: ``None`` connects to the cluster this process already joined or starts a
local one, ``"auto"`` joins the cluster started on this machine with ``ray start``, and
``"ray://host:10001"`` joins a remote one through Ray Client (which needs ``pip install
"ray[client]"``). Ray is an optional dependency (``pip install "paretoforge[ray]"``); it is
imported when the backend is built. The actors build the evaluator from its pickled copy, so its
class must be importable on every node: Ray ships what ``init: {runtime_env: {working_dir: .}}``
names (or set ``PYTHONPATH`` through ``runtime_env``'s ``env_vars``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ...evaluators.base import EvalResult, Evaluator
from .base import Backend, Config, evaluate_safely

__all__ = ["RayBackend"]

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plain(exc: BaseException, last_line: bool = False) -> str:
    """An exception as readable text (Ray colours its tracebacks); with ``last_line``, only the
    last line of a remote traceback: its cause."""
    text = _ANSI.sub("", f"{type(exc).__name__}: {exc}")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if last_line and lines else text


def _authentication_refused(exc: BaseException) -> bool:
    """Whether ``exc`` or one of its causes is Ray's refusal of a missing or wrong token."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _count(key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value) or value < 1:
        raise ValueError(f"RayBackend: '{key}' must be an integer >= 1, got {value!r}")
    return int(value)


def _amount(key: str, value: Any, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"RayBackend: '{key}' must be a finite number >= 0 ({hint}), got {value!r}")
    return float(value)


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
    ``runtime_env``) when this backend is the one that connects; in a process connected to Ray
    already, ``address`` and ``init`` are not used (a warning says so). A Ray cluster this backend
    started is shut down by :meth:`close`; one it joined is left running.

    The actors start when the study hands over its evaluator (:meth:`check_evaluator`, before
    anything is evaluated), and an evaluator they cannot build (e.g. a module the nodes cannot
    import) is an error there. Workers that the cluster's resources cannot hold are refused up
    front; when other actors or jobs hold the resources at the moment, a warning says that the
    actors wait for them. The evaluator is copied when the actors start: changing the object later
    does not reach them (as with the process pool)."""

    def __init__(self, workers: int | None = None, address: str | None = None, gpus_per_worker: float | None = None,
                 cpus_per_worker: float = 1.0, chunk_size: int | None = None,
                 init: Mapping[str, Any] | None = None) -> None:
        workers = _count("workers", workers)
        self.chunk_size = _count("chunk_size", chunk_size)
        gpus = None if gpus_per_worker is None else _amount("gpus_per_worker", gpus_per_worker, "e.g. 1, or 0.5 to share")
        cpus = _amount("cpus_per_worker", cpus_per_worker, "e.g. 1")
        if address is not None and not isinstance(address, str):
            raise ValueError(f"RayBackend: 'address' must be a Ray address such as 'auto' or 'ray://host:10001', got "
                             f"{address!r}")
        if init is not None and not isinstance(init, Mapping):
            raise ValueError(f"RayBackend: 'init' must be a mapping of ray.init keyword arguments, got {init!r}")
        self._ray = _import_ray()
        self.address = address
        self.init = dict(init or {})
        self._started = False
        self._actors: list[Any] = []
        self._evaluator: Evaluator | None = None
        self._blob: bytes | None = None
        self._in_flight: dict[Any, tuple[int, list[int]]] = {}  # future -> (actor slot, tickets)
        self._idle: list[int] = []
        self._queue: list[tuple[list[int], list[Config], float]] = []
        self._outstanding: set[int] = set()  # tickets given out by submit() and not yet returned by wait()
        self._next_ticket = 0
        self._connect()
        try:
            self._size(workers, gpus, cpus)
        except ValueError:
            self.close()  # a cluster started only for this backend goes with it
            raise
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
        free = self._ray.available_resources()
        for what, per, total in (("GPU", self.gpus_per_worker, n_gpus), ("CPU", self.cpus_per_worker, n_cpus)):
            need = self.workers * per
            if need > total + 1e-9:  # such actors would wait for resources forever
                raise ValueError(f"RayBackend: {self.workers} worker(s) with {per:g} {what} each need {need:g} {what} in "
                                 f"all, but the Ray cluster has {total:g}; ask for fewer 'workers' or a smaller "
                                 f"'{what.lower()}s_per_worker', or add nodes")
            if need > float(free.get(what, 0.0)) + 1e-9:
                log.warning("RayBackend: %d worker(s) need %g %s, but only %g of the cluster's %g are free now "
                            "(other actors or jobs hold the rest, e.g. the backend of a study that was not closed): "
                            "its actors wait until they are free", self.workers, need, what,
                            float(free.get(what, 0.0)), total)

    # -- actors ---------------------------------------------------------------------------
    def _connect(self) -> None:
        """Join (or start) the cluster unless this process is connected already."""
        if self._ray.is_initialized():
            if not self._started and (self.address is not None or self.init):
                log.warning("RayBackend: this process is connected to a Ray cluster already; 'address' and 'init' "
                            "are not used")
            return
        try:
            self._ray.init(address=self.address, **{"include_dashboard": False, **self.init})
        except Exception as exc:  # noqa: BLE001 - Ray raises several kinds (ConnectionError, RuntimeError, ...)
            hint = ""
            if self.address == "auto":
                hint = " ('auto' joins a cluster started with 'ray start --head' on this machine; leave 'address' out " \
                       "to start a local one)"
            elif isinstance(self.address, str) and self.address.startswith("ray://"):
                hint = " (a ray:// address needs Ray Client: pip install \"ray[client]\")"
            if _authentication_refused(exc):
                hint += " (the cluster asks for a token: set RAY_AUTH_MODE=token in this process's environment, with " \
                        "the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN; Ray turns token authentication on " \
                        "for 'ray start' where ~/.ray/auth_token exists, and RAY_AUTH_MODE=disabled there turns it off)"
            raise ValueError(f"RayBackend: cannot start or join a Ray cluster with address {self.address!r} and init "
                             f"{self.init!r}: {_plain(exc)}{hint}") from None
        self._started = True

    def _pickled(self, evaluator: Evaluator) -> bytes:
        try:
            return self._ray.cloudpickle.dumps(evaluator)
        except Exception as exc:  # noqa: BLE001 - cloudpickle raises several kinds
            raise ValueError(f"the ray backend sends the evaluator to its actors, so Ray must be able to pickle it: "
                             f"{_plain(exc)}") from None

    def check_evaluator(self, evaluator: Evaluator) -> None:
        """Start the actors with ``evaluator``: an error if Ray cannot pickle it or the actors
        cannot build it (e.g. its module is not importable on the nodes)."""
        self._start(evaluator)

    def _start(self, evaluator: Evaluator) -> None:
        if self._actors and self._evaluator is evaluator:
            return
        self._stop_actors()
        self._connect()  # again after close()
        self._blob = self._pickled(evaluator)
        blob_ref = self._ray.put(self._blob)
        self._actors = [self._actor_cls.remote(blob_ref) for _ in range(self.workers)]
        try:
            self._ray.get([a.name.remote() for a in self._actors])  # each actor has built its evaluator
        except Exception as exc:  # noqa: BLE001 - the actors' construction failed
            self._stop_actors()
            raise ValueError(
                f"the ray backend's actors could not build the evaluator {type(evaluator).__name__}: "
                f"{_plain(exc, last_line=True)}. "
                "If its module is not importable on the Ray nodes, ship it with init: {runtime_env: {working_dir: "
                "<folder>}} or set PYTHONPATH there with init: {runtime_env: {env_vars: {PYTHONPATH: <folder>}}}"
            ) from None
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

    def _collect(self) -> list[tuple[int, EvalResult]]:
        """Results of the chunks done (at least one chunk while any is in flight); idle actors
        take the next queued chunks."""
        if not self._in_flight:
            return []
        done, _ = self._ray.wait(list(self._in_flight), num_returns=1)
        out: list[tuple[int, EvalResult]] = []
        for fut in done:
            slot, tickets = self._in_flight.pop(fut)
            try:
                results = self._ray.get(fut)
            except Exception as exc:  # noqa: BLE001 - a dead actor (or node) fails its configurations
                results = [EvalResult.failure(f"worker failed: {_plain(exc)}") for _ in tickets]
                if isinstance(exc, self._ray.exceptions.RayActorError):
                    self._replace(slot)
            out.extend(zip(tickets, results))
            self._idle.append(slot)
        self._dispatch()
        return out

    def _drop_stale(self) -> None:
        """Forget queued chunks of a batch given up earlier (an interrupted :meth:`run`)."""
        self._queue = [q for q in self._queue if q[0][0] in self._outstanding]

    # -- the backend interface ------------------------------------------------------------
    def run(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> Iterator[tuple[int, EvalResult]]:
        self._start(evaluator)
        self._drop_stale()
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
        self._drop_stale()
        configs = list(configs)
        tickets = list(range(self._next_ticket, self._next_ticket + len(configs)))
        self._next_ticket += len(configs)
        self._outstanding.update(tickets)
        size = self.chunk_size or 1
        for start in range(0, len(configs), size):
            self._queue.append((tickets[start:start + size], configs[start:start + size], fidelity))
        self._dispatch()
        return tickets

    def wait(self) -> list[tuple[int, EvalResult]]:
        while self._in_flight:
            out = [(t, r) for t, r in self._collect() if t in self._outstanding]
            if out:
                self._outstanding.difference_update(t for t, _ in out)
                return out
        return []

    def _stop_actors(self) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors, self._idle, self._in_flight, self._queue = [], [], {}, []
        self._outstanding.clear()
        self._evaluator = None

    def close(self, now: bool = False) -> None:
        self._stop_actors()  # actors are killed: running evaluations end either way
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False
