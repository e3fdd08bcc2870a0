"""Perplexity and next-token accuracy of a (configured) causal language model on real text.

Rows of ``context + 1`` token ids are scored: ``nll`` (mean next-token negative log-likelihood,
nats), ``perplexity`` = exp(nll), ``accuracy`` (top-1 next-token accuracy) and ``error`` = 1 -
accuracy. Lower fidelity scores fewer rows: ``max(min_rows, round(n_rows * fidelity))``.
Configurations are applied by a function ``apply(model, config) -> model`` (default: the expert
keys of :func:`~paretoforge.spaces.experts.apply_expert_config`).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..base import EvalResult, Evaluator, check_metrics
from .timing import measure_latency

__all__ = ["PerplexityEvaluator", "lm_metrics", "perplexity_evaluator"]


@torch.inference_mode()
def lm_metrics(model: nn.Module, rows: torch.Tensor, batch_size: int = 32) -> dict[str, float]:
    """Next-token metrics of ``model`` on ``rows`` (N x (T+1) ids)."""
    nll, correct, count = 0.0, 0, 0
    for i in range(0, len(rows), batch_size):
        xb = rows[i:i + batch_size]
        out = model(xb[:, :-1])
        logits = out[0] if isinstance(out, (tuple, list)) else out.logits
        tgt = xb[:, 1:]
        nll += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt.reshape(-1), reduction="sum"))
        correct += int((logits.argmax(-1) == tgt).sum())
        count += tgt.numel()
    mean = nll / count
    acc = correct / count
    return {"nll": mean, "perplexity": math.exp(mean), "accuracy": acc, "error": 1.0 - acc}


def _apply_experts(model: nn.Module, config: dict[str, Any]) -> nn.Module:
    """Default configuration of :class:`PerplexityEvaluator`: expert keys (module level: picklable
    for process-pool backends)."""
    from ...spaces.experts import apply_expert_config

    return apply_expert_config(model, config)


class PerplexityEvaluator(Evaluator):
    """Scores configured copies of ``model`` on fixed rows of token ids."""

    metrics = ("nll", "perplexity", "accuracy", "error")

    def __init__(self, model: nn.Module, rows: torch.Tensor, *, n_rows: int = 64, min_rows: int = 8,
                 apply: Callable[[nn.Module, dict[str, Any]], nn.Module] | None = None,
                 measure_time: bool = False, device: str | torch.device = "cpu") -> None:
        if len(rows) < 1:
            raise ValueError("perplexity: no rows of text to score")
        self.device = torch.device(device)
        self.model = model
        self.rows = rows[:n_rows].to(self.device)
        self.n_rows, self.min_rows = len(self.rows), min(min_rows, len(self.rows))
        self.apply = apply if apply is not None else _apply_experts
        self.measure_time = measure_time

    def n_for(self, fidelity: float) -> int:
        return max(self.min_rows, min(self.n_rows, int(round(self.n_rows * fidelity))))

    def evaluate(self, configs: Sequence[dict[str, Any]], fidelity: float = 1.0) -> list[EvalResult]:
        n = self.n_for(fidelity)
        rows = self.rows[:n]
        out = []
        for cfg in configs:
            t0 = time.perf_counter()
            try:
                model = self.apply(self.model, cfg).to(self.device).eval()
                metrics = lm_metrics(model, rows)
                metrics["params"] = float(sum(p.numel() for p in model.parameters()))
                if self.measure_time:
                    with torch.inference_mode():
                        metrics["latency_s"] = measure_latency(lambda m=model: m(rows[:, :-1]), self.device)
                err = check_metrics(metrics)
                res = EvalResult.failure(err) if err else EvalResult(metrics, info={"rows": n})
            except Exception as exc:  # noqa: BLE001 - a failing configuration is data
                res = EvalResult.failure(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
            res.duration = time.perf_counter() - t0
            out.append(res)
        return out


def perplexity_evaluator(model: str = "tiny_moe", split: str = "calib", n_rows: int = 64, min_rows: int = 8,
                         seed: int = 0, measure_time: bool = False, device: str = "cpu",
                         model_options: dict[str, Any] | None = None) -> PerplexityEvaluator:
    """The registered ``perplexity`` evaluator: the zoo's tiny MoE LM on a split of the stdlib
    corpus as bytes (``split``: ``train`` (its training text), ``calib`` (half of the held-out
    sentences; searches use it) or ``test`` (the other half; reported numbers)), configured by
    expert keys."""
    from ...zoo import get_model
    from ...zoo.tiny_moe import LM_SPLITS, lm_rows

    if split not in LM_SPLITS:
        raise ValueError(f"perplexity: key 'split' is {split!r}; allowed: {list(LM_SPLITS)}")
    lm = get_model(model, **(model_options or {}))
    return PerplexityEvaluator(lm, lm_rows(split, lm.cfg.context, seed), n_rows=n_rows, min_rows=min_rows,
                               measure_time=measure_time,
                               device=device)
