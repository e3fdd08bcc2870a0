"""The backend interface: how a batch of configurations reaches the evaluator(s)."""

from __future__ import annotations

import os
import socket
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from ...evaluators.base import EvalResult, Evaluator

__all__ = ["Backend", "evaluate_safely"]

Config = dict[str, Any]


def evaluate_safely(evaluator: Evaluator, configs: Sequence[Config], fidelity: float,
                    worker: str | None = None) -> list[EvalResult]:
    """Run ``evaluator`` on a batch and always return one result per configuration.

    If the whole batch raises, each configuration is retried alone so that one bad
    configuration fails alone. A wrong number of results fails the batch with a clear error."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    t0 = time.perf_counter()
    try:
        results = list(evaluator.evaluate(list(configs), fidelity))
        if len(results) != len(configs):
            raise RuntimeError(
                f"{type(evaluator).__name__}.evaluate returned {len(results)} results for {len(configs)} configurations"
            )
    except Exception as exc:  # noqa: BLE001
        if len(configs) == 1:
            results = [EvalResult.failure(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")]
        else:
            results = [r for c in configs for r in evaluate_safely(evaluator, [c], fidelity, worker)]
    per = (time.perf_counter() - t0) / max(len(configs), 1)
    for r in results:
        if not isinstance(r, EvalResult):
            raise TypeError(f"{type(evaluator).__name__}.evaluate must return EvalResult objects, got {type(r).__name__}")
        r.worker = r.worker or worker
        r.duration = r.duration if r.duration is not None else per
    return results


class Backend(ABC):
    """Dispatches evaluation batches. ``workers`` is how many evaluations run at once; the
    study proposes that many configurations (times its batch size) per round.

    Two ways in: :meth:`run` evaluates a batch and yields results as they arrive (the
    batch-synchronous study loop); :meth:`submit` and :meth:`wait` keep evaluations in flight
    while the optimizer proposes more (the asynchronous loop). The default ``submit`` evaluates
    at once through :meth:`run`; backends with workers override both."""

    workers: int = 1

    def check_evaluator(self, evaluator: Evaluator) -> None:
        """Raise ``ValueError`` if this backend cannot run ``evaluator`` (a study calls it before
        its first evaluation); the default accepts any."""

    @abstractmethod
    def run(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> Iterator[tuple[int, EvalResult]]:
        """Yield ``(index into configs, result)`` as results arrive."""

    def submit(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> list[int]:
        """Start evaluating ``configs``; returns one ticket per configuration."""
        start: int = getattr(self, "_next_ticket", 0)
        self._next_ticket = start + len(configs)
        ready: list[tuple[int, EvalResult]] = getattr(self, "_ready", [])
        ready.extend((start + i, r) for i, r in self.run(evaluator, configs, fidelity))
        self._ready = ready
        return list(range(start, start + len(configs)))

    def wait(self) -> list[tuple[int, EvalResult]]:
        """``(ticket, result)`` pairs that are done: at least one while any is pending."""
        ready: list[tuple[int, EvalResult]] = getattr(self, "_ready", [])
        self._ready = []
        return ready

    def close(self, now: bool = False) -> None:
        """Stop workers: after their running evaluations, or (``now``, e.g. on an interrupt) at once."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
