"""Evaluate in the study's own process."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from ...evaluators.base import EvalResult, Evaluator
from .base import Backend, Config, evaluate_safely

__all__ = ["InProcessBackend"]


class InProcessBackend(Backend):
    """The whole batch goes to one ``evaluate`` call in this process."""

    workers = 1

    def __init__(self) -> None:
        self._worker = f"inprocess:{os.getpid()}"

    def run(self, evaluator: Evaluator, configs: Sequence[Config], fidelity: float) -> Iterator[tuple[int, EvalResult]]:
        yield from enumerate(evaluate_safely(evaluator, configs, fidelity, self._worker))
