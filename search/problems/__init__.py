"""Benchmark problems with their reference point and best hypervolume.

``get_problem("zdt1", n_var=10)`` builds one by name through the lazy problem registry
(:data:`paretoforge.search.plugins.PROBLEMS`, which third parties extend by entry points).
"""

from __future__ import annotations

from typing import Any

from ..plugins import PROBLEMS as _REGISTRY
from ..registry import UnknownNameError
from .base import Problem

__all__ = ["Problem", "UnknownProblemError", "get_problem"]

UnknownProblemError = UnknownNameError


def __getattr__(name: str) -> Any:
    # lazy class access: paretoforge.search.problems.ZDT1 etc. without importing every table loader
    for entry in ("zdt1", "zdt2", "zdt3", "dtlz2", "nasbench201", "nasbench_graph"):
        cls = _REGISTRY.get(entry)
        if cls.__name__ == name:
            return cls
    if name == "PROBLEMS":
        return _REGISTRY.names()
    raise AttributeError(name)


def get_problem(name: str, **kwargs: Any) -> Problem:
    """Build the problem registered as ``name`` (case-insensitive) with ``kwargs``."""
    return _REGISTRY.get(str(name).lower())(**kwargs)
