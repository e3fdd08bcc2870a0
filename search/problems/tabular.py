"""Tabular benchmarks: every configuration's objectives are a row of a precomputed table."""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from ...spaces.space import Space
from ..objectives import Objective
from ..pareto import infer_reference_point
from ._common import TableEvaluator, front_2d
from .base import Problem

__all__ = ["TabularProblem"]


class TabularProblem(Problem):
    """A problem over categorical variables whose table row is the mixed-radix number of the
    choice indices (first variable most significant). The exact front comes from enumerating the
    table; the reference point is the front's nadir + 10% of its range. Subclasses give the space
    and :meth:`table`, and call :meth:`_setup`."""

    metric_names: ClassVar[tuple[str, ...]] = ("error", "latency")
    #: completes "configuration ... " in the error of a configuration without a table entry
    missing_entry: ClassVar[str] = "has no entry in the table"
    dataset: str

    @classmethod
    @abstractmethod
    def table(cls, dataset: str) -> np.ndarray:
        """``(n configurations, n metrics)`` array, NaN where the benchmark has no entry;
        cached per process."""

    def _setup(self, space: Space) -> None:
        t0 = time.perf_counter()
        self._space = space
        table = self.table(self.dataset)
        self._front_idx = front_2d(table)
        self._front = table[self._front_idx]
        self._ref = infer_reference_point(self._front, margin=0.1)
        self.setup_seconds = time.perf_counter() - t0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dataset={self.dataset!r})"

    @property
    def space(self) -> Space:
        return self._space

    @property
    def objectives(self) -> list[Objective]:
        """Minimised and ``noisy``: a table's accuracies come from training runs with their
        seeds and its latencies from timings, so each entry is one draw around its
        architecture's value."""
        return [Objective(m, "minimize", noisy=True) for m in self.metric_names]

    def _choices(self) -> dict[str, list[Any]]:
        return {v.name: list(v.choices) for v in self._space}  # type: ignore[attr-defined]

    def evaluator(self) -> TableEvaluator:
        return TableEvaluator(type(self).table, self.dataset, self._choices(), self.metric_names,
                              f"{self.missing_entry} ('{self.dataset}')")

    @property
    def reference_point(self) -> np.ndarray:
        return self._ref.copy()

    def pareto_front(self) -> np.ndarray:
        """The exact front: distinct non-dominated objective rows, sorted by the first."""
        return self._front.copy()

    def pareto_configs(self) -> list[dict[str, Any]]:
        """One configuration per front point, in :meth:`pareto_front`'s order."""
        choices = self._choices()
        out = []
        for k in self._front_idx.tolist():
            cfg: dict[str, Any] = {}
            for name, opts in reversed(choices.items()):
                k, d = divmod(k, len(opts))
                cfg[name] = opts[d]
            out.append({n: cfg[n] for n in choices})
        return out
