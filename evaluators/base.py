"""The batch-first evaluator protocol.

An evaluator takes a batch of configurations and a fidelity and returns one
:class:`EvalResult` per configuration: its metrics, or a failure with the error text. GPU
evaluators batch the configurations; cheap ones use :class:`FunctionEvaluator`.
"""

from __future__ import annotations

import math
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvalResult", "Evaluator", "FunctionEvaluator", "check_metrics"]

Config = dict[str, Any]


@dataclass
class EvalResult:
    """The outcome of evaluating one configuration.

    ``metrics`` maps metric names to floats; ``error`` is set when the evaluation failed.
    ``info`` holds JSON-able extras (sample paths, per-item scores) kept with the trial.
    """

    metrics: dict[str, float] | None = None
    error: str | None = None
    duration: float | None = None
    worker: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, error: str, **kwargs: Any) -> EvalResult:
        return cls(metrics=None, error=error, **kwargs)

    @property
    def ok(self) -> bool:
        return self.error is None and self.metrics is not None


def check_metrics(metrics: Mapping[str, Any] | None, required: Sequence[str] = ()) -> str | None:
    """Why these metrics cannot be used (missing, not a number, NaN or infinite), or ``None``."""
    if metrics is None:
        return "the evaluator returned no metrics"
    if not isinstance(metrics, Mapping):
        return f"the evaluator returned {type(metrics).__name__}, expected a mapping of metric name to number"
    for name in required:
        if name not in metrics:
            return f"metric '{name}' is missing from the evaluator's result (it gave {sorted(metrics)})"
    for name, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
            return f"metric '{name}' is {v!r}, not a number"
        try:
            fv = float(v)
        except (TypeError, ValueError):
            return f"metric '{name}' is {v!r}, not a number"
        if math.isnan(fv):
            return f"metric '{name}' is NaN"
        if math.isinf(fv):
            return f"metric '{name}' is infinite"
    return None


class Evaluator(ABC):
    """Measures quality and cost metrics of configurations, a batch at a time."""

    #: metric names this evaluator returns (informative; the study checks the objectives' ones)
    metrics: tuple[str, ...] = ()

    @abstractmethod
    def evaluate(self, configs: Sequence[Config], fidelity: float = 1.0) -> list[EvalResult]:
        """One result per configuration, in order. Raise only for errors of the whole batch."""

    def check_space(self, space: Any) -> None:
        """Called by a study with its search space before anything is evaluated: an evaluator
        whose settings must agree with the space's (e.g. the layers and group size that a
        quantization space's costs count) takes them from it where left open, and raises
        ``ValueError`` naming both settings where they disagree. The default does nothing."""

    def close(self) -> None:
        """Release devices, files and worker state."""


class FunctionEvaluator(Evaluator):
    """Evaluates each configuration with ``fn(config)`` or ``fn(config, fidelity)``.

    An exception or a bad metric fails that configuration only; the rest of the batch goes on.
    """

    def __init__(self, fn: Callable[..., Mapping[str, float]], metrics: Sequence[str] = (),
                 with_fidelity: bool = False) -> None:
        self.fn, self.metrics, self.with_fidelity = fn, tuple(metrics), with_fidelity

    def evaluate(self, configs: Sequence[Config], fidelity: float = 1.0) -> list[EvalResult]:
        out = []
        for cfg in configs:
            t0 = time.perf_counter()
            try:
                m = self.fn(cfg, fidelity) if self.with_fidelity else self.fn(cfg)
                err = check_metrics(m)
                res = EvalResult.failure(err) if err else EvalResult({k: float(v) for k, v in m.items()})
            except Exception as exc:  # noqa: BLE001 - a failing configuration is data, not a crash
                res = EvalResult.failure(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
            res.duration = time.perf_counter() - t0
            out.append(res)
        return out
