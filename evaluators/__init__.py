"""Evaluators measure quality and cost of configurations (batch-first protocol)."""

from .base import EvalResult, Evaluator, FunctionEvaluator, check_metrics

__all__ = ["EvalResult", "Evaluator", "FunctionEvaluator", "check_metrics"]
