"""A backend that simulates ``workers`` workers of uneven speed in one process, for benchmarks of
the asynchronous loop: each configuration gets a seeded random duration (log-normal), and
:meth:`SimulatedWorkers.wait` hands back the evaluation that would finish first on a simulated
clock. Results are computed by the evaluator in this process; only their order is simulated, so
a run is deterministic and costs no waiting."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

import numpy as np

from paretoforge.evaluators.base import EvalResult, Evaluator
from paretoforge.search.backends import Backend, evaluate_safely

__all__ = ["SimulatedWorkers"]


class SimulatedWorkers(Backend):
    """``workers`` simulated workers; durations ``exp(sigma * N(0, 1))`` from ``seed``."""

    def __init__(self, workers: int, seed: int = 0, sigma: float = 0.5) -> None:
        self.workers = int(workers)
        self.rng = np.random.default_rng([seed, 7])
        self.sigma = float(sigma)
        self.clock = 0.0
        self._heap: list[tuple[float, int, dict, float, Evaluator]] = []
        self._next_ticket = 0

    def run(self, evaluator: Evaluator, configs: Sequence[dict], fidelity: float) -> Iterator[tuple[int, EvalResult]]:
        yield from enumerate(evaluate_safely(evaluator, configs, fidelity, "simulated"))

    def submit(self, evaluator: Evaluator, configs: Sequence[dict], fidelity: float) -> list[int]:
        tickets = []
        for c in configs:
            t = self._next_ticket
            self._next_ticket += 1
            heapq.heappush(self._heap, (self.clock + float(np.exp(self.sigma * self.rng.normal())), t, c, fidelity,
                                        evaluator))
            tickets.append(t)
        return tickets

    def wait(self) -> list[tuple[int, EvalResult]]:
        if not self._heap:
            return []
        finish, t, c, fidelity, evaluator = heapq.heappop(self._heap)
        self.clock = finish
        return [(t, evaluate_safely(evaluator, [c], fidelity, "simulated")[0])]
