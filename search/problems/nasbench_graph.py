"""NAS-Bench-Graph as a two-objective problem (validation error, latency), from the light
tables of the ``nas-bench-graph`` package (import name ``nas_bench_graph``).

An architecture is a link pattern (one of the 9 ``link_list`` entries, each naming the input of
the 4 layers) and 4 GNN ops. The bench dict is keyed by ``Arch(link, ops).valid_hash()``, an
integer that canonicalises isomorphic architectures (several configurations share one entry);
the space's :meth:`~paretoforge.spaces.space.Space.key` is that hash, so isomorphic
configurations are one point of the space (a study answers the second from its store, and
optimizers that skip seen keys do not propose it).
The only configurations without an entry are those whose 4 ops are all ``"skip"``: evaluating
one gives a failed result. Objectives: ``error = 1 - valid_perf`` and ``latency``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ...spaces.space import Space
from ...spaces.variables import Categorical, ConfigError
from .tabular import TabularProblem

__all__ = ["NASBenchGraph", "available_datasets"]

N_LAYERS = 4


def _package_dir() -> str:
    import nas_bench_graph

    return os.path.dirname(os.path.abspath(nas_bench_graph.__file__))


def available_datasets() -> list[str]:
    """The datasets whose light table ships with the installed package."""
    return sorted(f[: -len(".bench")] for f in os.listdir(os.path.join(_package_dir(), "light"))
                  if f.endswith(".bench"))


def _op_list(dataset: str) -> list[str]:
    from nas_bench_graph.architecture import gnn_list, gnn_list_proteins

    return list(gnn_list_proteins if dataset == "proteins" else gnn_list)


class _ArchSpace(Space):
    """The NAS-Bench-Graph space, whose key identifies isomorphic architectures (the bench's
    ``valid_hash``; configurations it cannot hash keep the default key)."""

    def __init__(self, variables: list[Categorical], hashes: np.ndarray, name: str) -> None:
        super().__init__(variables, name=name)
        self._hashes = hashes
        self._luts = [{c: i for i, c in enumerate(v.choices)} for v in variables]

    def key(self, config: Mapping[str, Any]) -> str:
        idx = 0
        try:
            for v, lut in zip(self.variables, self._luts):
                idx = idx * len(lut) + lut[config[v.name]]
        except (KeyError, TypeError):
            return super().key(config)
        h = int(self._hashes[idx])
        return super().key(config) if h == -1 else f"arch-{h}"


class NASBenchGraph(TabularProblem):
    """NAS-Bench-Graph: ``link`` (0..8, an index into ``link_list``) and ``op0..op3`` (GNN ops;
    5 of them for ``proteins``, 9 otherwise); objectives ``error`` and ``latency``, minimised;
    reference point = nadir of the exact front + 10% of its range."""

    name = "nasbench_graph"
    missing_entry = "has no entry in NAS-Bench-Graph (a cell whose ops are all 'skip' has no GNN layer)"
    _hashes: ClassVar[dict[tuple[str, ...], np.ndarray]] = {}
    _tables: ClassVar[dict[str, np.ndarray]] = {}

    def __init__(self, dataset: str = "cora") -> None:
        allowed = available_datasets()
        if dataset not in allowed:
            raise ConfigError(f"nasbench_graph: dataset {dataset!r} is not available; allowed: {allowed}")
        self.dataset = dataset
        self.ops = _op_list(dataset)
        self._setup(_ArchSpace([Categorical("link", list(range(9)))]
                               + [Categorical(f"op{i}", self.ops) for i in range(N_LAYERS)],
                               self.hashes(self.ops), name=f"nasbench_graph-{dataset}"))

    @classmethod
    def hashes(cls, ops: list[str]) -> np.ndarray:
        """``valid_hash()`` of every (link, op0..op3), row = mixed-radix index (link most
        significant), -1 where hashing fails; computed once per process and op list."""
        key = tuple(ops)
        if key not in cls._hashes:
            from nas_bench_graph.architecture import Arch, link_list

            out = []
            for link in link_list:
                for combo in itertools.product(ops, repeat=N_LAYERS):
                    try:
                        out.append(Arch(list(link), list(combo)).valid_hash())
                    except Exception:  # noqa: BLE001 - a pattern the package cannot canonicalise
                        out.append(-1)
            cls._hashes[key] = np.array(out, dtype=np.int64)
        return cls._hashes[key]

    @classmethod
    def table(cls, dataset: str) -> np.ndarray:
        """``(9 * n_ops**4, 2)`` array of (error, latency), NaN where the bench has no entry."""
        if dataset not in cls._tables:
            from nas_bench_graph import light_read

            bench: dict[int, dict[str, Any]] = light_read(dataset)  # the installed package's own table
            missing = {"valid_perf": np.nan, "latency": np.nan}
            rows = [bench.get(h, missing) for h in cls.hashes(_op_list(dataset)).tolist()]
            cls._tables[dataset] = np.array([(1.0 - float(r["valid_perf"]), float(r["latency"])) for r in rows])
        return cls._tables[dataset]
