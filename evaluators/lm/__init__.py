"""Evaluators for language models: embedding fidelity of sentence encoders, perplexity and
next-token accuracy of causal LMs, latency and peak memory."""

from .configure import ModelConfigurator
from .embedding import EmbeddingFidelityEvaluator, embedding_fidelity, embedding_metrics
from .perplexity import PerplexityEvaluator, lm_metrics, perplexity_evaluator
from .timing import measure_latency, peak_memory_bytes

__all__ = [
    "EmbeddingFidelityEvaluator",
    "ModelConfigurator",
    "PerplexityEvaluator",
    "embedding_fidelity",
    "embedding_metrics",
    "lm_metrics",
    "measure_latency",
    "peak_memory_bytes",
    "perplexity_evaluator",
]
