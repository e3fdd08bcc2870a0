"""Evaluators for language models: embedding fidelity of sentence encoders, perplexity and
next-token accuracy of causal LMs, latency and peak memory."""

from .configure import ModelConfigurator
from .embedding import EmbeddingFidelityEvaluator, embedding_fidelity, embedding_metrics
from .timing import measure_latency, peak_memory_bytes

__all__ = [
    "EmbeddingFidelityEvaluator",
    "ModelConfigurator",
    "embedding_fidelity",
    "embedding_metrics",
    "measure_latency",
    "peak_memory_bytes",
]
