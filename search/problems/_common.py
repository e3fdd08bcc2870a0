"""Helpers shared by the benchmark problems: configurations to arrays, arrays to results,
the exact 2-objective front of a table, and a table-lookup evaluator for tabular benchmarks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ...evaluators.base import EvalResult, Evaluator

__all__ = ["TableEvaluator", "front_2d", "real_matrix", "to_results"]

Config = dict[str, Any]


def real_matrix(configs: Sequence[Mapping[str, Any]], names: Sequence[str], low: float = 0.0,
                high: float = 1.0) -> tuple[np.ndarray, dict[int, str]]:
    """Rows ``[cfg[n] for n in names]`` as floats, plus ``{row: why it is not usable}`` for rows
    with a missing key, a non-number, or a value outside ``[low, high]`` (those rows hold 0.5)."""
    try:
        X = np.array([[cfg[n] for n in names] for cfg in configs], dtype=float).reshape(len(configs), len(names))
        errors: dict[int, str] = {}
    except (KeyError, TypeError, ValueError):  # slow path: find the bad rows one by one
        X, errors = np.full((len(configs), len(names)), 0.5), {}
        for i, cfg in enumerate(configs):
            try:
                X[i] = np.array([cfg[n] for n in names], dtype=float)
            except KeyError as exc:
                errors[i] = f"configuration lacks variable {exc}; expected {list(names)}"
            except (TypeError, ValueError) as exc:
                errors[i] = f"configuration has a value that is not a number: {exc}"
    bad = ~np.all(np.isfinite(X) & (X >= low) & (X <= high), axis=1)
    for i in np.flatnonzero(bad):
        if i not in errors:
            j = int(np.flatnonzero(~(np.isfinite(X[i]) & (X[i] >= low) & (X[i] <= high)))[0])
            errors[int(i)] = f"variable '{names[j]}' is {X[i, j]!r}, outside [{low}, {high}]"
        X[i] = 0.5
    return X, errors


def to_results(F: np.ndarray, metrics: Sequence[str], errors: Mapping[int, str]) -> list[EvalResult]:
    """One :class:`EvalResult` per row of ``F`` (metrics named ``metrics``); rows in ``errors`` fail."""
    rows = F.tolist()
    return [EvalResult.failure(errors[i]) if i in errors else EvalResult(dict(zip(metrics, row)))
            for i, row in enumerate(rows)]


def front_2d(F: np.ndarray) -> np.ndarray:
    """Indices of the distinct non-dominated rows of a 2-objective matrix (NaN rows ignored),
    sorted by the first objective. Vectorised: a lexicographic sort and a running minimum."""
    F = np.asarray(F, dtype=float)
    ok = np.flatnonzero(np.all(np.isfinite(F), axis=1))
    order = ok[np.lexsort((F[ok, 1], F[ok, 0]))]
    f2 = F[order, 1]
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(f2)[:-1]])
    return order[f2 < best_before]


def row_indices(configs: Sequence[Mapping[str, Any]], choices: Mapping[str, Sequence[Any]]) -> np.ndarray:
    """Table rows of ``configs``: the mixed-radix number of their choice indices, in
    ``choices``' order (the first variable most significant). Raises KeyError for a value
    that is not a choice."""
    idx = np.zeros(len(configs), dtype=np.int64)
    for name, values in choices.items():
        lut = {v: i for i, v in enumerate(values)}
        idx = idx * len(values) + np.fromiter((lut[c[name]] for c in configs), dtype=np.int64, count=len(configs))
    return idx


class TableEvaluator(Evaluator):
    """Looks configurations up in a table of a tabular benchmark.

    The table (rows of objective values, NaN where the benchmark has no entry) is indexed by
    the mixed-radix number of the configuration's choice indices, in ``choices``' order. It is
    fetched with ``table(dataset)`` (a module-level function or a class method with a
    per-process cache), so the evaluator pickles small and loads the table once per process.
    """

    def __init__(self, table: Callable[[str], np.ndarray], dataset: str,
                 choices: Mapping[str, Sequence[Any]], metrics: Sequence[str], missing: str) -> None:
        self.table, self.dataset, self.metrics = table, dataset, tuple(metrics)
        self.choices = {n: list(c) for n, c in choices.items()}
        self.missing = missing

    def evaluate(self, configs: Sequence[Config], fidelity: float = 1.0) -> list[EvalResult]:
        T = self.table(self.dataset)
        errors: dict[int, str] = {}
        try:  # the whole batch at once; one by one only to name the bad configurations
            idx = row_indices(configs, self.choices)
        except (KeyError, TypeError):
            idx = np.zeros(len(configs), dtype=np.int64)
            for i, cfg in enumerate(configs):
                try:
                    idx[i] = row_indices([cfg], self.choices)[0]
                except (KeyError, TypeError):
                    errors[i] = self._why(cfg)
        F = T[idx]
        for i in np.flatnonzero(np.isnan(F).any(axis=1)):
            if int(i) not in errors:
                shown = {n: configs[i][n] for n in self.choices}
                errors[int(i)] = f"{shown} {self.missing}"
        return to_results(F, self.metrics, errors)

    def _why(self, cfg: Any) -> str:
        if not isinstance(cfg, Mapping):
            return f"a configuration must be a mapping, got {cfg!r}"
        for name, allowed in self.choices.items():
            if name not in cfg:
                return f"configuration lacks variable '{name}'; expected {list(self.choices)}"
            try:
                ok = cfg[name] in allowed
            except TypeError:
                ok = False
            if not ok:
                return f"variable '{name}' is {cfg[name]!r}, not one of {allowed}"
        return f"configuration {cfg!r} cannot be looked up"
