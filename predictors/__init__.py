"""Predictors learn quality from evaluations already made, to spend real evaluations well.

Built-in predictors (registered by name in :data:`paretoforge.search.plugins.PREDICTORS`):
``"gp"`` (:class:`GaussianProcess`), ``"mlp_ensemble"`` (:class:`MLPEnsemble`), ``"sequence"``
(:class:`SequencePredictor`, an LSTM over per-layer / per-step decisions) and ``"dele"``
(:class:`DynamicEnsemble`, low-fidelity experts with a gate). The torch-based ones are imported
on first use.
"""

from __future__ import annotations

from typing import Any

from .base import Predictor, kendall_tau, standardize
from .gp import GaussianProcess

__all__ = ["DynamicEnsemble", "GaussianProcess", "MLPEnsemble", "Predictor", "SequencePredictor", "kendall_tau",
           "space_tokens", "standardize"]

_LAZY = {"MLPEnsemble": "mlp_ensemble", "SequencePredictor": "sequence", "space_tokens": "sequence",
         "DynamicEnsemble": "dele"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
